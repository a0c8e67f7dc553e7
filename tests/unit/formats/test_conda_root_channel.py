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


def _pin(client: TestClient) -> tuple[int, str]:
    answer = client.get("/api/serial").json()
    return int(answer["serial"]), str(answer["at"])


@pytest.mark.parametrize("label", ["", "/label/main", "/label/dev"])
def test_every_snapshot_document_at_the_root_is_the_conda_answer(
    client: TestClient, world: dict[str, Any], label: str, tmp_path: Path
) -> None:
    """`/OWNER[/label/L]/snapshot/N/...` (N a serial or a time) answers as `/conda/OWNER[/label/L]/snapshot/N/...`
    does, headers (the immutable Cache-Control, X-Packyard-Serial) and bytes, and keeps its answer after a newer
    upload changes the live channel."""
    serial, at = _pin(client)
    path = build_conda(tmp_path, name="pub", version="3.0", subdir="noarch", fmt="conda")
    labels = ["main", "dev"]
    later = upload(
        client, world["alice"], "alice", "pub", "3.0", path, f"noarch/{path.name}", "conda", labels
    )
    assert later.status_code == 200, later.text
    files = list(world["files"].values())
    for point in (str(serial), at):
        channel = f"alice{label}/snapshot/{point}"
        answered = 0
        for doc in _channel_paths(channel, files, ["noarch", "linux-64"]):
            for method in ("GET", "HEAD"):
                conda = client.request(method, f"/conda/{doc}")
                root = client.request(method, f"/{doc}")
                _same(root, conda)
                answered += conda.status_code == 200
        assert answered >= 2 * (len(DOCUMENTS) - 1) * 2  # every document of both subdirs (shards are not)
        repodata = client.get(f"/{channel}/noarch/repodata.json")
        assert repodata.headers["X-Packyard-Serial"] == str(serial)
        found = sorted((r["name"], r["version"]) for r in repodata.json()["packages.conda"].values())
        assert found == [("pub", "2.0" if label == "/label/dev" else "1.0")]  # not 3.0: uploaded after N
    assert (
        "immutable"
        in client.get(f"/alice{label}/snapshot/{serial}/noarch/repodata.json").headers["Cache-Control"]
    )
    live = client.get(f"/alice{label}/noarch/repodata.json").json()
    assert ("pub", "3.0") in [(r["name"], r["version"]) for r in live["packages.conda"].values()]


def test_private_snapshots_at_the_root_ask_as_the_conda_ones(
    client: TestClient, world: dict[str, Any]
) -> None:
    alice, bob, hush = world["alice"], world["bob"], world["files"]["hush-0.1"].name
    serial, _ = _pin(client)
    paths = [f"alice/snapshot/{serial}/noarch/{hush}", f"alice/snapshot/{serial}/noarch/repodata.json"]
    for path in paths:
        by_path = client.get(f"/t/{alice}/{path}")
        assert by_path.status_code == 200, by_path.text
        _same(by_path, client.get(f"/conda/t/{alice}/{path}"))
        _same(client.get(f"/{path}", headers=auth(alice)), client.get(f"/conda/{path}", headers=auth(alice)))
        for headers in ({}, auth(bob)):
            _same(client.get(f"/{path}", headers=headers), client.get(f"/conda/{path}", headers=headers))
    assert hush in client.get(f"/t/{alice}/{paths[1]}").text
    assert hush not in client.get(f"/{paths[1]}").text and hush not in client.get(f"/t/{bob}/{paths[1]}").text
    assert client.get(f"/{paths[0]}").status_code == 401
    # Bad points answer as under /conda/: a serial not reached yet (404), a time in the future (400).
    for point in (str(serial + 1000), "2999-01-01"):
        bad = f"alice/snapshot/{point}/noarch/repodata.json"
        _same(client.get(f"/{bad}"), client.get(f"/conda/{bad}"))
        assert client.get(f"/{bad}").status_code in (400, 404)


def test_snapshot_paths_at_the_root_leave_the_pages_alone(
    client: TestClient, world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package named `snapshot` keeps its pages; a third segment that is no point (`files`, `settings`,
    `badges`) is a page's; and `/OWNER/label/files/snapshot/N/channeldata.json` stays the Files tab download of
    package `label`'s version `snapshot`, file `N/channeldata.json`: the snapshot of a label named `files` is
    served under /conda/ only."""
    alice = world["alice"]
    path = build_conda(tmp_path, name="snapshot", version="1.0", subdir="noarch", fmt="conda")
    assert (
        upload(client, alice, "alice", "snapshot", "1.0", path, f"noarch/{path.name}", "conda").status_code
        == 200
    )
    plain = tmp_path / "channeldata.json"
    plain.write_bytes(b'{"not": "a channel"}')
    stored = upload(
        client, alice, "alice", "label", "snapshot", plain, "12/channeldata.json", "file", ["files"]
    )
    assert stored.status_code == 200, stored.text
    serial, _ = _pin(client)
    calls = _count_routed(monkeypatch)
    page = client.get("/alice/snapshot", headers=HTML)
    assert page.status_code == 200 and "<h1>snapshot</h1>" in page.text
    for tab in ("files", "badges", "settings"):
        shown = client.get(f"/t/{alice}/alice/snapshot/{tab}", headers=HTML)
        assert shown.status_code == 200 and "text/html" in shown.headers["content-type"], tab
    assert client.get(f"/alice/snapshot/files/1.0/noarch/{path.name}").content == path.read_bytes()
    download = client.get("/alice/label/files/snapshot/12/channeldata.json")
    assert download.status_code == 200 and download.content == plain.read_bytes()
    # Not a point: left to the pages (their 404), never to the conda route.
    assert client.get("/alice/snapshot/latest/noarch/repodata.json").status_code == 404
    assert calls == []
    # The root answers the snapshot itself, and the label `files` keeps it under /conda/.
    assert client.get(f"/alice/snapshot/{serial}/noarch/repodata.json").status_code == 200
    assert calls == ["route"]
    files_label = client.get(f"/conda/alice/label/files/snapshot/{serial}/channeldata.json")
    assert files_label.status_code == 200, files_label.text
