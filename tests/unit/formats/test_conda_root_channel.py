"""conda channels at the site root (`/OWNER`, `/OWNER/label/L`, `/t/TOKEN/OWNER`): the very answers of `/conda/`.

Every document, shard and package file fetched at the root is compared with the same request under `/conda/`,
status, headers and bytes, for anonymous callers, the owner (header and `/t/TOKEN/` forms) and an unrelated
user; and the root leaves every path that is not a channel's to the pages and the app's own routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from packyard.formats.conda import routes as conda_routes
from packyard.formats.front import Front
from tests.builders import build_conda
from tests.unit.api.helpers import auth, login, upload

HTML = {"Accept": "text/html"}
DOCUMENTS = sorted(conda_routes._DOCUMENTS)


@pytest.fixture
def world(client: TestClient, make_user: Any, tmp_path: Path) -> dict[str, Any]:
    """alice: public `pub` (noarch, main and dev), public `native` (linux-64, .tar.bz2), private `hush`; bob."""
    make_user("alice")
    make_user("bob")
    alice = login(client, "alice", "password-123")
    bob = login(client, "bob", "password-123")
    files: dict[str, Path] = {}

    def put(name: str, version: str, subdir: str, fmt: str, labels: list[str] | None = None) -> None:
        folder = tmp_path / f"{name}-{version}-{subdir}"
        folder.mkdir()
        path = build_conda(folder, name=name, version=version, subdir=subdir, fmt=fmt)
        response = upload(
            client, alice, "alice", name, version, path, f"{subdir}/{path.name}", "conda", labels=labels
        )
        assert response.status_code == 200, response.text
        files[f"{name}-{version}"] = path

    put("pub", "1.0", "noarch", "conda")
    put("pub", "2.0", "noarch", "conda", labels=["dev"])
    put("native", "1.0", "linux-64", "tar.bz2", labels=["main", "dev"])
    put("hush", "0.1", "noarch", "conda")
    private = client.patch("/api/package/alice/hush", headers=auth(alice), json={"access": "private"})
    assert private.status_code == 200, private.text
    return {"alice": alice, "bob": bob, "files": files}


def _count_routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests that reach the conda route from now on."""
    calls: list[str] = []
    answer = conda_routes._answer

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append("route")
        return answer(*args, **kw)

    monkeypatch.setattr(conda_routes, "_answer", counting)
    return calls


def _same(root: Any, conda: Any) -> None:
    assert root.status_code == conda.status_code, (root.request.url, root.text)
    assert dict(root.headers) == dict(conda.headers), root.request.url
    assert root.content == conda.content, root.request.url


def _channel_paths(channel: str, files: list[Path], subdirs: list[str]) -> list[str]:
    """Every path a client fetches from `channel` (below /conda/ or the root): documents, shards, files."""
    paths = [f"{channel}/channeldata.json"]
    for subdir in subdirs:
        paths += [f"{channel}/{subdir}/{doc}" for doc in DOCUMENTS]
    paths += [f"{channel}/{'linux-64' if p.name.endswith('.tar.bz2') else 'noarch'}/{p.name}" for p in files]
    return paths


def _shard_paths(client: TestClient, channel: str, headers: dict[str, str]) -> list[str]:
    import msgpack
    import zstandard

    response = client.get(f"/conda/{channel}/noarch/repodata_shards.msgpack.zst", headers=headers)
    assert response.status_code == 200, response.text
    index = msgpack.unpackb(
        zstandard.ZstdDecompressor().decompress(response.content, max_output_size=1 << 24)
    )
    return [f"{channel}/noarch/shards/{sha.hex()}.msgpack.zst" for sha in index["shards"].values()]


@pytest.mark.parametrize("label", ["", "/label/main", "/label/dev"])
def test_every_document_at_the_root_is_the_conda_answer(
    client: TestClient, world: dict[str, Any], label: str
) -> None:
    files = list(world["files"].values())
    channel = f"alice{label}"
    paths = _channel_paths(channel, files, ["noarch", "linux-64"]) + _shard_paths(client, channel, {})
    answered = 0
    for path in paths:
        for method in ("GET", "HEAD"):
            conda = client.request(method, f"/conda/{path}")
            root = client.request(method, f"/{path}")
            _same(root, conda)
            answered += conda.status_code == 200
    assert answered >= 2 * (len(DOCUMENTS) * 2 + 1)  # every document of both subdirs, and channeldata.json
    repodata = client.get(f"/{channel}/noarch/repodata.json").json()
    found = sorted((r["name"], r["version"]) for r in repodata["packages.conda"].values())
    assert found == [("pub", "2.0" if label == "/label/dev" else "1.0")]
    assert "hush" not in client.get(f"/{channel}/channeldata.json").text  # private: not for anonymous callers


def test_private_channels_at_the_root_with_a_token_in_the_path(
    client: TestClient, world: dict[str, Any]
) -> None:
    alice, bob, files = world["alice"], world["bob"], world["files"]
    hush = files["hush-0.1"].name
    owner_paths = [f"alice/noarch/{doc}" for doc in DOCUMENTS] + [
        "alice/channeldata.json",
        f"alice/noarch/{hush}",
    ]
    owner_paths += _shard_paths(client, "alice", auth(alice))
    owner_paths += [f"alice/label/main/noarch/{hush}", "alice/label/main/noarch/repodata.json"]
    owner_paths += [f"alice/label/dev/{doc}" for doc in ("channeldata.json", "noarch/repodata.json")]
    for path in owner_paths:
        by_path = client.get(f"/t/{alice}/{path}")
        _same(by_path, client.get(f"/conda/t/{alice}/{path}"))
        _same(client.get(f"/{path}", headers=auth(alice)), client.get(f"/conda/{path}", headers=auth(alice)))
        assert by_path.status_code == 200, path
    with_token = client.get(f"/t/{alice}/alice/noarch/repodata.json").json()
    assert hush in with_token["packages.conda"]
    # Someone who may not see the private package: the same answers as /conda/, and no trace of it.
    for headers, prefix in (({}, ""), (auth(bob), ""), ({}, f"/t/{bob}")):
        file_root = client.get(f"{prefix}/alice/noarch/{hush}", headers=headers)
        conda_prefix = f"/conda/t/{bob}" if prefix else "/conda"
        _same(file_root, client.get(f"{conda_prefix}/alice/noarch/{hush}", headers=headers))
        assert file_root.status_code in (401, 404), file_root.text  # the protocols' rule: docs/security.md
        repodata = client.get(f"{prefix}/alice/noarch/repodata.json", headers=headers)
        assert repodata.status_code == 200 and hush not in repodata.text
        assert "hush" not in client.get(f"{prefix}/alice/channeldata.json", headers=headers).text


def test_unknown_owners_and_labels_are_the_conda_404(client: TestClient, world: dict[str, Any]) -> None:
    for path in (
        "nobody/noarch/repodata.json",
        "alice/label/nope/noarch/repodata.json",
        "alice/noarch/x.conda",
    ):
        root = client.get(f"/{path}")
        assert root.status_code == (401 if path.endswith(".conda") else 404)  # a file name: as if private
        _same(root, client.get(f"/conda/{path}"))


def test_the_root_leaves_pages_and_reserved_prefixes_alone(
    client: TestClient, world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package named like a subdir keeps its page; only a known document or a package file after a subdir
    is the channel's. Reserved first segments keep the app's own answers."""
    alice = world["alice"]
    for name in ("noarch", "linux-64"):
        folder = tmp_path / name
        folder.mkdir()
        path = build_conda(folder, name=name, version="1.0", subdir="noarch")
        assert (
            upload(client, alice, "alice", name, "1.0", path, f"noarch/{path.name}", "conda").status_code
            == 200
        )
    for name in ("noarch", "linux-64"):
        page = client.get(f"/alice/{name}", headers=HTML)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert f"<h1>{name}</h1>" in page.text
    document = client.get("/alice/noarch/repodata.json").json()
    records = [*document["packages"].values(), *document["packages.conda"].values()]
    assert sorted(r["name"] for r in records) == ["linux-64", "noarch", "pub"]
    assert client.get("/alice/noarch/repodata.jlap").json() == {
        "error": "not found"
    }  # not a document conda needs
    beside = client.get("/alice/linux-64/files/repodata.json")  # package linux-64's Files tab, not a channel
    assert beside.status_code == 404 and "packages" not in beside.json()
    calls = _count_routed(monkeypatch)
    for reserved in ("api", "static", "pypi", "cran", "search", "Conda", "LOGIN"):
        assert client.get(f"/{reserved}/noarch/repodata.json").status_code == 404, reserved
    assert calls == []  # none of them reached the conda route: each kept its own 404
    assert (
        client.post("/alice/noarch/repodata.json").status_code == 405
    )  # GET and HEAD only, as under /conda/


def test_the_front_sends_public_files_at_the_root(
    client: TestClient, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An anonymous GET of a public package file at the root never reaches the route, and gives its answer."""
    calls = _count_routed(monkeypatch)
    pub = world["files"]["pub-1.0"]
    front = client.get(f"/alice/noarch/{pub.name}")
    assert front.status_code == 200 and front.content == pub.read_bytes() and calls == []
    dev = world["files"]["pub-2.0"]
    assert client.get(f"/alice/label/dev/noarch/{dev.name}").status_code == 200 and calls == []
    hush = world["files"]["hush-0.1"]
    assert client.get(f"/alice/noarch/{hush.name}").status_code == 401 and calls == ["route"]

    async def never(*args: Any) -> bool:
        return False

    monkeypatch.setattr(Front, "_file", never)
    _same(front, client.get(f"/alice/noarch/{pub.name}"))
    assert conda_routes.public_file("/static/noarch/x.conda") is None
    assert conda_routes.public_file("/alice/noarch/files") is None
