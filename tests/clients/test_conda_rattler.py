"""Conda channels end to end: upload with the real anaconda-client, solve and install with py-rattler."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
import rattler

from tests.builders import build_conda
from tests.clients.anaconda import Anaconda
from tests.conftest import LiveServer
from tests.unit.api.helpers import upload

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("conda")]
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> str:
    login = f"conda{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    return login


@pytest.fixture(scope="module")
def client(live_server: LiveServer, owner: str, tmp_path_factory: pytest.TempPathFactory) -> Anaconda:
    return (
        Anaconda(tmp_path_factory.mktemp("conda-client"), live_server.api).configure().login(owner, PASSWORD)
    )


def token_of(client: Anaconda) -> str:
    return next((client.home / "binstar").rglob("*.token")).read_text().strip()


def build(
    tmp: Path, name: str, version: str, subdir: str, fmt: str, depends=(), payload: bytes | None = None
):
    folder = tmp / f"{name}-{version}-{subdir}-{fmt}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"share/{name}/{version}.txt": payload or f"{name} {version} {subdir}\n".encode()}
    noarch = "generic" if subdir == "noarch" else None
    return build_conda(
        folder,
        name=name,
        version=version,
        subdir=subdir,
        fmt=fmt,
        depends=depends,
        files=files,
        noarch=noarch,
    )


def publish(
    client: httpx.Client, token: str, login: str, tmp: Path, name: str, version: str, labels: list[str]
) -> None:
    """A noarch .conda of `name` `version` (share/NAME/VERSION.txt: "NAME VERSION noarch") uploaded through
    stage and commit, as anaconda-client does, under `labels`."""
    path = build(tmp, name, version, "noarch", "conda")
    committed = upload(
        client, token, login, name, version, path, f"noarch/{path.name}", "conda", labels=labels
    )
    assert committed.status_code == 200, committed.text


def solve_and_install(
    channel: str,
    specs: list[str],
    prefix: Path,
    cache: Path,
    *,
    sharded: bool = True,
    client: rattler.Client | None = None,
) -> list[str]:
    async def run() -> list[str]:
        gateway = rattler.Gateway(
            cache_dir=cache, default_config=rattler.SourceConfig(sharded_enabled=sharded), client=client
        )
        records = await rattler.solve(
            sources=[channel],
            specs=specs,
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
            gateway=gateway,
        )
        await rattler.install(
            records, target_prefix=prefix, cache_dir=cache / "pkgs", show_progress=False, client=client
        )
        return sorted(f"{r.name.normalized}={r.version}" for r in records)

    return asyncio.run(run())


def test_install_dependency_chain_from_conda_and_tar_bz2(
    client: Anaconda, owner: str, live_server: LiveServer, tmp_path: Path
) -> None:
    base = build(tmp_path, "pybase", "2.0", "noarch", "conda")
    app = build(tmp_path, "pyapp", "1.0", "linux-64", "tar.bz2", depends=["pybase >=2"])
    for path in (base, app):
        client.run("upload", str(path))
    prefix = tmp_path / "env"
    installed = solve_and_install(f"{live_server.url}/conda/{owner}", ["pyapp"], prefix, tmp_path / "cache")
    assert installed == ["pyapp=1.0", "pybase=2.0"]
    assert (prefix / "share/pyapp/1.0.txt").read_text() == "pyapp 1.0 linux-64\n"
    assert (prefix / "share/pybase/2.0.txt").read_text() == "pybase 2.0 noarch\n"
    conda_meta = {p.name for p in (prefix / "conda-meta").glob("*.json")}
    assert {"pyapp-1.0-0.json", "pybase-2.0-0.json"} <= conda_meta
    # anaconda show / search / packages report the conda platforms and builds
    shown = client.output("show", owner)  # the owner's package table has Platforms and Builds columns
    row = next(line for line in shown.splitlines() if f"{owner}/pyapp" in line)
    assert "linux-64" in row
    assert "conda" in row
    found = client.output("search", "-p", "linux-64", "pyapp")
    assert f"{owner}/pyapp" in found
    assert f"{owner}/pybase" not in client.output("search", "-p", "linux-64", "pybase")
    listed = httpx.get(
        f"{live_server.api}/packages/{owner}", params={"platform": "noarch"}, timeout=30
    ).json()
    assert [p["name"] for p in listed] == ["pybase"]
    assert listed[0]["builds"] == ["0"]


def test_new_upload_is_visible_at_once_and_sharded_fetch_is_used(
    client: Anaconda, owner: str, live_server: LiveServer, tmp_path: Path
) -> None:
    channel = f"{live_server.url}/conda/{owner}"
    first = httpx.get(f"{channel}/noarch/repodata.json", timeout=30)
    client.run("upload", str(build(tmp_path, "fresh", "0.1", "noarch", "conda")))
    second = httpx.get(
        f"{channel}/noarch/repodata.json", timeout=30, headers={"If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200
    assert "fresh-0.1-0.conda" in second.json()["packages.conda"]
    assert (
        httpx.get(
            f"{channel}/noarch/repodata.json", headers={"If-None-Match": second.headers["etag"]}, timeout=30
        ).status_code
        == 304
    )

    log_before = live_server.log.read_text()
    installed = solve_and_install(channel, ["fresh"], tmp_path / "env", tmp_path / "cache", sharded=True)
    assert installed == ["fresh=0.1"]
    requests = live_server.log.read_text()[len(log_before) :]
    assert "repodata_shards.msgpack.zst" in requests
    assert "/shards/" in requests
    assert "/noarch/repodata.json " not in requests and "repodata.json.zst" not in requests


def test_labels_end_to_end(client: Anaconda, owner: str, live_server: LiveServer, tmp_path: Path) -> None:
    client.run("upload", "--label", "dev", str(build(tmp_path, "labelled", "3.0", "noarch", "tar.bz2")))
    with pytest.raises(Exception, match="labelled"):
        solve_and_install(f"{live_server.url}/conda/{owner}", ["labelled"], tmp_path / "a", tmp_path / "c1")
    installed = solve_and_install(
        f"{live_server.url}/conda/{owner}/label/dev", ["labelled"], tmp_path / "b", tmp_path / "c2"
    )
    assert installed == ["labelled=3.0"]
    client.run("label", "--copy", "dev", "main")
    installed = solve_and_install(
        f"{live_server.url}/conda/{owner}", ["labelled"], tmp_path / "d", tmp_path / "c3"
    )
    assert installed == ["labelled=3.0"]
    # /label/main is the bare channel
    main = httpx.get(f"{live_server.url}/conda/{owner}/label/main/noarch/repodata.json", timeout=30).json()
    bare = httpx.get(f"{live_server.url}/conda/{owner}/noarch/repodata.json", timeout=30).json()
    assert main == bare


def test_private_channel_with_token_in_url_and_in_auth_storage(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory
) -> None:
    login = f"priv{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    me = Anaconda(tmp_path_factory.mktemp("priv"), live_server.api).configure().login(login, PASSWORD)
    me.run("upload", "--private", str(build(tmp_path, "secretpkg", "1.0", "noarch", "conda")))
    token = (
        me.run("org", "auth", "--create", "--name", "dl", "--scopes", "conda:download", input=f"{PASSWORD}\n")
        .stdout.strip()
        .splitlines()[-1]
    )
    channel = f"{live_server.url}/conda/{login}"

    anonymous = httpx.get(f"{channel}/noarch/repodata.json", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    assert "secretpkg" not in anonymous.text
    with pytest.raises(Exception):  # noqa: B017 - rattler reports the 401 in its own words
        solve_and_install(channel, ["secretpkg"], tmp_path / "x", tmp_path / "c0")

    for url in (f"{live_server.url}/conda/t/{token}/{login}", f"{live_server.url}/t/{token}/conda/{login}"):
        prefix = tmp_path / f"env{abs(hash(url))}"
        assert solve_and_install(url, ["secretpkg"], prefix, tmp_path / f"c{abs(hash(url))}") == [
            "secretpkg=1.0"
        ]
        assert (prefix / "share/secretpkg/1.0.txt").exists()

    auth_file = tmp_path / "credentials.json"
    auth_file.write_text(json.dumps({"127.0.0.1": {"BearerToken": token}}))
    monkeypatch.setenv("RATTLER_AUTH_FILE", str(auth_file))
    installed = solve_and_install(
        channel, ["secretpkg"], tmp_path / "y", tmp_path / "c9", client=rattler.Client.authenticated_client()
    )
    assert installed == ["secretpkg=1.0"]


def test_private_packages_are_left_out_for_anonymous_viewers(
    client: Anaconda, owner: str, live_server: LiveServer, tmp_path: Path
) -> None:
    client.run("upload", "--private", str(build(tmp_path, "hiddenpkg", "1.0", "noarch", "tar.bz2")))
    channel = f"{live_server.url}/conda/{owner}"
    for path in ("noarch/repodata.json", "channeldata.json", "noarch/current_repodata.json"):
        public = httpx.get(f"{channel}/{path}", timeout=30)
        assert public.status_code == 200
        assert "hiddenpkg" not in public.text
        mine = httpx.get(f"{live_server.url}/conda/t/{token_of(client)}/{owner}/{path}", timeout=30)
        assert "hiddenpkg" in mine.text
    shard_index = httpx.get(f"{channel}/noarch/repodata_shards.msgpack.zst", timeout=30)
    assert b"hiddenpkg" not in __import__("zstandard").ZstdDecompressor().decompress(
        shard_index.content, max_output_size=1 << 24
    )
    assert httpx.get(f"{channel}/noarch/hiddenpkg-1.0-0.tar.bz2", timeout=30).status_code == 401


def test_head_and_empty_subdirs(client: Anaconda, owner: str, live_server: LiveServer) -> None:
    channel = f"{live_server.url}/conda/{owner}"
    assert httpx.head(f"{channel}/noarch/repodata.json.zst", timeout=30).status_code == 200
    assert httpx.head(f"{channel}/osx-arm64/repodata.json", timeout=30).status_code == 200
    empty = httpx.get(f"{channel}/win-64/repodata.json", timeout=30).json()
    assert empty["packages"] == {}
    assert empty["packages.conda"] == {}
    assert (
        httpx.get(f"{live_server.url}/conda/nobody-here/noarch/repodata.json", timeout=30).status_code == 404
    )
    assert httpx.get(f"{channel}/label/nolabel/noarch/repodata.json", timeout=30).status_code == 404
