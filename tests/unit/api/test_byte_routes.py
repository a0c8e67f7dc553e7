"""Every byte-serving route, for a public and a private package, GET and HEAD: one cache policy (issue #11).

A private package's bytes must never be sent `public`: a shared proxy cache in front of the server would keep
them and hand them to anyone. Each answer carries a strong ETag and its Content-Length; stored bytes answer a
Range request with 206; `If-None-Match` gives 304. With PACKYARD_ACCEL_REDIRECT set, the front proxy sends the
bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core.db import Database
from tests.unit.api.helpers import auth, login
from tests.unit.core.test_concurrent_downloads import PASSWORD, _publish

PACKAGES = ["dlconda", "dl-wheel", "dlR", "dlnb", "dlenv", "dlfile", "dlproj"]
LATEST = ("/notebooks/", "/envs/")
"""URLs that mean the newest upload of a name: never `immutable`."""


def document(path: str) -> bool:
    """Index documents, rendered from memory: the same policy, short-lived; no Range."""
    return path.endswith(("/repodata.json", "/PACKAGES")) or "/simple/" in path


@pytest.fixture
def walk(client: TestClient, make_user: Any, tmp_path: Path) -> dict[str, tuple[dict[str, str], list[str]]]:
    """{access: (headers that may read, URLs)} for one owner whose packages are public and one whose are private."""
    out = {}
    for access in ("public", "private"):
        owner = f"{access[:4]}owner"
        make_user(owner, PASSWORD)
        (tmp_path / access).mkdir()
        paths = _publish(client, owner, tmp_path / access)
        token = login(client, owner, PASSWORD)  # after _publish's, which a login with the same note replaces
        if access == "private":
            for name in PACKAGES:
                response = client.patch(
                    f"/api/package/{owner}/{name}", headers=auth(token), json={"access": access}
                )
                assert response.status_code == 200, response.text
        headers = auth(token) if access == "private" else {}
        shards = client.get(f"/conda/{owner}/noarch/repodata_shards.msgpack.zst", headers=headers)
        assert shards.status_code == 200, shards.text
        index = msgpack.unpackb(
            zstandard.ZstdDecompressor().decompress(shards.content, max_output_size=1 << 24)
        )
        paths += [
            f"/conda/{owner}/noarch/shards/{index['shards']['dlconda'].hex()}.msgpack.zst",
            f"/conda/{owner}/noarch/repodata.json",
            f"/pypi/{owner}/simple/dl-wheel/",
            f"/cran/{owner}/src/contrib/PACKAGES",
        ]
        out[access] = (headers, paths)
    return out


@pytest.mark.parametrize("access", ["public", "private"])
def test_every_byte_route_sends_the_cache_policy_of_its_access(walk, client: TestClient, access: str) -> None:
    headers, paths = walk[access]
    wrong = {}
    for path in paths:
        got = client.get(path, headers=headers)
        head = client.head(path, headers=headers)
        assert got.status_code == 200, (path, got.text)
        policy = got.headers["cache-control"]
        problems = [] if head.status_code == 200 else [f"HEAD {head.status_code}"]
        if access == "private":
            if "public" in policy or not policy.startswith("private"):
                problems.append(f"Cache-Control {policy}")
            if "authorization" not in got.headers.get("vary", "").lower():
                problems.append("no Vary: Authorization")
        elif not policy.startswith("public, max-age="):
            problems.append(f"Cache-Control {policy}")
        latest = path.startswith(LATEST) or document(path)
        if ("immutable" in policy) == latest:
            problems.append(f"immutable wrong in {policy}")
        if not got.headers.get("etag", "").startswith('"'):
            problems.append("no strong ETag")
        if got.headers.get("content-length") != str(len(got.content)):
            problems.append(
                f"Content-Length {got.headers.get('content-length')} for {len(got.content)} bytes"
            )
        for name in ("cache-control", "etag", "content-length", "vary"):
            if head.headers.get(name) != got.headers.get(name):
                problems.append(f"HEAD {name} {head.headers.get(name)} != GET {got.headers.get(name)}")
        if head.content:
            problems.append("HEAD sent a body")
        again = client.get(path, headers={**headers, "If-None-Match": got.headers.get("etag", '"-"')})
        if again.status_code != 304 or again.headers.get("cache-control") != policy:
            problems.append(f"If-None-Match: {again.status_code} {again.headers.get('cache-control')}")
        stored = not document(path) and "/shards/" not in path
        if stored:
            part = client.get(path, headers={**headers, "Range": "bytes=0-9"})
            want = got.content[:10]
            if (part.status_code, part.content, part.headers.get("content-length")) != (
                206,
                want,
                str(len(want)),
            ):
                problems.append(f"Range: {part.status_code} {part.headers.get('content-range')}")
            page = path.startswith("/notebooks/") and "?download" not in path
            named = not (page or path.endswith(".metadata") or path.startswith("/envs/"))
            if named != got.headers.get("content-disposition", "").startswith("attachment"):
                problems.append(f"Content-Disposition {got.headers.get('content-disposition')}")
            if "last-modified" not in got.headers:
                problems.append("no Last-Modified")
        if problems:
            wrong[path] = problems
    assert wrong == {}


def test_private_bytes_are_refused_without_credentials(walk, client: TestClient) -> None:
    _, paths = walk["private"]
    # The indexes ask anonymous callers for credentials; elsewhere a private name answers as a missing one.
    indexes = ("/conda/", "/pypi/", "/cran/", "/api/repo/")
    want = {path: 401 if path.startswith(indexes) else 404 for path in paths}
    assert {path: client.get(path).status_code for path in paths} == want


@pytest.fixture
def proxied(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"accel_redirect": "/_blobs/"}), db=db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_accel_redirect_hands_the_bytes_to_the_front_proxy(
    proxied: TestClient, make_user: Any, settings: Settings, tmp_path: Path
) -> None:
    make_user("proxied", PASSWORD)
    paths = _publish(proxied, "proxied", tmp_path)
    download = "/api/download/proxied/dlfile/1/data.csv"
    assert download in paths
    response = proxied.get(download)
    assert response.status_code == 200 and response.content == b""
    internal = response.headers["x-accel-redirect"]
    assert internal.startswith("/_blobs/") and "//" not in internal
    assert (settings.blob_root / internal.removeprefix("/_blobs/")).read_bytes() == b"a,b\n1,2\n"
    # What nginx passes on from the upstream answer: the type, the name, the cache policy.
    assert response.headers["content-disposition"] == 'attachment; filename="data.csv"'
    assert response.headers["cache-control"].startswith("public, max-age=31536000")
    assert response.headers["etag"].startswith('"')
    # Documents held in memory are still sent by the server.
    metadata = next(p for p in paths if p.endswith(".metadata"))
    assert "x-accel-redirect" in proxied.get(metadata).headers  # stored in the blob store as well
    assert "x-accel-redirect" not in proxied.get("/pypi/proxied/simple/dl-wheel/").headers
