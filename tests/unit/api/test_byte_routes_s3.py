"""Serving bytes from an S3 store (a real SeaweedFS, tests/seaweed.py): streamed, or a 302 to a presigned URL.

The walk of every byte route (test_byte_routes.py) runs here again with `PACKYARD_BLOB_URL=s3://...`: the same
cache policy, ETags, Content-Length, 304s, HEAD and Range answers as from local files. Then what only a store
without local files does: Range passed to the store (206, 416, several ranges -> the whole file, If-Range), HEAD
without fetching, and with `PACKYARD_BLOB_REDIRECT=1` a 302 to a presigned URL after the permission check,
counted as a download, never for a page a browser shows, and a 503 (never a 500) when the bucket is unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.app import create_app
from packyard.config import Settings, build_store
from packyard.core.db import Database
from packyard.core.models import File
from tests.conftest import ADMIN_PASSWORD
from tests.seaweed import SeaweedS3
from tests.unit.api.helpers import auth, login
from tests.unit.api.test_byte_routes import (  # noqa: F401 - collected here again, on S3
    test_every_byte_route_sends_the_cache_policy_of_its_access,
    walk,
)
from tests.unit.core.test_concurrent_downloads import PASSWORD, _publish, _repo_upload


@pytest.fixture
def settings(tmp_path: Path, seaweed: SeaweedS3, s3_env: dict[str, str]) -> Settings:
    return Settings(
        data=tmp_path / "data",
        admin_password=ADMIN_PASSWORD,
        base_url="http://testserver",
        blob_url=f"s3://{seaweed.new_bucket()}/pkgs",
    )


def test_the_app_stores_in_the_bucket(
    client: TestClient, make_user: Any, settings: Settings, seaweed
) -> None:
    make_user("owner", PASSWORD)
    token = login(client, "owner", PASSWORD)
    _repo_upload(client, token, "owner", "file", "data.csv", b"a,b\n1,2\n", name="f", version="1")
    bucket = settings.blob_url.removeprefix("s3://").split("/")[0]
    keys = [o["Key"] for o in seaweed.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("pkgs/")
    sha = keys[0].rsplit("/", 1)[1]
    assert keys[0] == f"pkgs/{sha[:2]}/{sha[2:4]}/{sha}"
    assert not list((settings.data / "blobs").glob("??/??/*"))  # nothing kept locally
    assert list((settings.data / "blobs" / "tmp").iterdir()) == []  # the temp file is gone


BIG = bytes(range(256)) * 4096 + b"tail"
"""1 MiB and a bit: larger than serve.INLINE, so it streams in pieces."""


@pytest.fixture
def files(client: TestClient, make_user: Any) -> dict[str, str]:
    make_user("owner", PASSWORD)
    token = login(client, "owner", PASSWORD)
    _repo_upload(client, token, "owner", "file", "big.bin", BIG, name="big", version="1")
    _repo_upload(client, token, "owner", "file", "small.txt", b"0123456789", name="small", version="1")
    return {"big": "/api/download/owner/big/1/big.bin", "small": "/api/download/owner/small/1/small.txt"}


@pytest.mark.parametrize("which", ["big", "small"])
def test_ranges_are_passed_to_the_store(client: TestClient, files: dict[str, str], which: str) -> None:
    path = files[which]
    data = client.get(path).content
    size = len(data)
    assert data == (BIG if which == "big" else b"0123456789")
    for wanted, first, last in [
        ("bytes=0-3", 0, 3),
        ("bytes=3-6", 3, 6),
        ("bytes=5-", 5, size - 1),
        ("bytes=-4", size - 4, size - 1),
        (f"bytes=2-{size + 100}", 2, size - 1),
    ]:
        got = client.get(path, headers={"Range": wanted})
        assert got.status_code == 206, (wanted, got.text)
        assert got.content == data[first : last + 1]
        assert got.headers["content-length"] == str(last + 1 - first)
        assert got.headers["content-range"] == f"bytes {first}-{last}/{size}"

    beyond = client.get(path, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert client.get(path, headers={"Range": "lines=1-2"}).status_code == 400  # as FileResponse answers
    several = client.get(path, headers={"Range": "bytes=0-1,4-5"})
    assert several.status_code == 200 and several.content == data  # one range, or the whole file
    etag = client.head(path).headers["etag"]
    assert client.get(path, headers={"Range": "bytes=0-1", "If-Range": etag}).status_code == 206
    stale = client.get(path, headers={"Range": "bytes=0-1", "If-Range": '"something-else"'})
    assert stale.status_code == 200 and stale.content == data

    head = client.head(path, headers={"Range": "bytes=1-2"})
    assert head.status_code == 206 and head.headers["content-length"] == "2" and head.content == b""


def test_head_does_not_fetch(client: TestClient, files: dict[str, str], settings: Settings) -> None:
    opened = []
    store = client.app.state.services.store
    real_open = store.open
    store.open = lambda *a, **kw: opened.append(a) or real_open(*a, **kw)
    head = client.head(files["big"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(BIG))
    assert head.headers["accept-ranges"] == "bytes" and opened == []
    assert client.get(files["big"]).content == BIG and len(opened) == 1


def test_an_unreachable_bucket_is_a_503(settings: Settings, db: Database, files: dict[str, str]) -> None:
    down = settings.model_copy(update={"blob_url": "s3://no-such-bucket-here/x"})
    with TestClient(create_app(down, db=db), raise_server_exceptions=False) as client:
        response = client.get(files["small"])
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "the blob store is unavailable; try again later"}


# --- PACKYARD_BLOB_REDIRECT=1 ------------------------------------------------------------------------------------


@pytest.fixture
def redirecting(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"blob_redirect": True, "blob_redirect_minutes": 3}), db=db)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as test_client:
        yield test_client


def downloads(db: Database, basename: str) -> int:
    with db.read() as session:
        return session.scalar(select(File.ndownloads).where(File.basename == basename)) or 0


def test_redirect_to_a_presigned_url(redirecting: TestClient, make_user: Any, db: Database, tmp_path) -> None:
    make_user("owner", PASSWORD)
    paths = _publish(redirecting, "owner", tmp_path)
    for path in paths:
        plain = path.startswith(("/envs/",)) or path.endswith(".metadata") or path == "/notebooks/owner/dlnb"
        got = redirecting.get(path)
        if plain:  # pages and documents a browser shows, and unnamed side documents: sent by the server
            assert got.status_code == 200, (path, got.status_code)
            continue
        assert got.status_code == 302, (path, got.status_code, got.text)
        location = got.headers["location"]
        assert got.headers["cache-control"] == "private, no-store"
        query = parse_qs(urlsplit(location).query)
        assert query["X-Amz-Expires"] == ["180"]
        fetched = httpx.get(location)  # no credentials: the URL's signature is the permission
        assert fetched.status_code == 200
        served = redirecting.get(path, headers={"X-Test": "1"}, follow_redirects=False)
        assert served.status_code == 302
        name = path.rsplit("/", 1)[-1].removesuffix("?download")
        if "notebooks" not in path:
            assert fetched.headers["content-disposition"] == f'attachment; filename="{name}"', path
        # the 304 is still answered by the server, and HEAD never redirects
        etag = redirecting.head(path).headers["etag"]
        assert redirecting.head(path).status_code == 200
        assert redirecting.get(path, headers={"If-None-Match": etag}).status_code == 304

    conda = "/conda/owner/noarch/dlconda-1.0-0.tar.bz2"
    assert conda in paths
    basename = "noarch/dlconda-1.0-0.tar.bz2"
    redirecting.app.state.services.downloads.flush()
    before = downloads(db, basename)
    assert redirecting.get(conda).status_code == 302  # the front's anonymous fast path redirects too
    assert redirecting.get(conda, headers={"If-None-Match": etag}).status_code in (302, 304)
    redirecting.app.state.services.downloads.flush()
    assert downloads(db, basename) >= before + 1  # a redirect counts as a download


def test_a_private_file_is_redirected_only_for_a_reader(redirecting: TestClient, make_user: Any) -> None:
    make_user("owner", PASSWORD)
    make_user("other", PASSWORD)
    token = login(redirecting, "owner", PASSWORD)
    _repo_upload(redirecting, token, "owner", "file", "secret.csv", b"x,y\n", name="secret", version="1")
    assert (
        redirecting.patch("/api/package/owner/secret", headers=auth(token), json={"access": "private"})
    ).status_code == 200
    path = "/api/download/owner/secret/1/secret.csv"
    assert redirecting.get(path).status_code == 404
    assert "location" not in redirecting.get(path).headers
    other = login(redirecting, "other", PASSWORD)
    assert redirecting.get(path, headers=auth(other)).status_code == 404
    allowed = redirecting.get(path, headers=auth(token))
    assert allowed.status_code == 302 and allowed.headers["vary"] == "Authorization"
    assert httpx.get(allowed.headers["location"]).content == b"x,y\n"


def test_presigned_urls_expire(settings: Settings) -> None:
    store = build_store(settings)
    ref = store.put_bytes(b"short-lived")
    signed = time.monotonic()
    url = store.presigned_url(ref.sha256, 3, content_type="text/plain", content_disposition="attachment")
    assert url is not None and httpx.get(url).content == b"short-lived"
    time.sleep(max(0.0, signed + 4.5 - time.monotonic()))  # X-Amz-Date is in whole seconds
    expired = httpx.get(url)
    assert expired.status_code == 403 and b"short-lived" not in expired.content
