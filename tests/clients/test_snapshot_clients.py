"""Snapshots with the real clients (issue #17): pin the serial, upload a newer version, and the snapshot URL still
installs the old one with pip, uv, py-rattler and R while the live URL gives the new one; a file removed from the
live index stays installable through a snapshot that lists it."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_r_source, build_wheel
from tests.clients.anaconda import Anaconda, clients_bin
from tests.clients.test_conda_rattler import build, publish, solve_and_install
from tests.clients.test_pypi_clients import run, token_for, twine
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("snapshots")]
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> str:
    login = f"snap{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    return login


def pinned(live_server: LiveServer) -> int:
    response = httpx.get(f"{live_server.api}/serial", timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["serial"])


def wheel(tmp: Path, version: str) -> Path:
    folder = tmp / f"w{version}"
    folder.mkdir()
    module = {"snapdemo/__init__.py": f"VERSION = {version!r}\n".encode()}
    return build_wheel(folder, name="snapdemo", version=version, modules=module)


def test_pip_and_uv_install_the_pinned_version(live_server: LiveServer, owner: str, tmp_path: Path) -> None:
    token = token_for(live_server, owner)
    upload_url = f"{live_server.url}/pypi/{owner}/"
    old = wheel(tmp_path, "1.0")
    twine(tmp_path, upload_url, token, "x-auth-token", old)
    serial = pinned(live_server)
    twine(tmp_path, upload_url, token, "x-auth-token", wheel(tmp_path, "2.0"))

    snapshot = f"{live_server.url}/pypi/{owner}/snapshot/{serial}/simple/"
    live = f"{live_server.url}/pypi/{owner}/simple/"
    run(
        tmp_path,
        "pip",
        "install",
        "--index-url",
        snapshot,
        "--target",
        str(tmp_path / "pip-snap"),
        "snapdemo",
    )
    assert (tmp_path / "pip-snap/snapdemo/__init__.py").read_text() == "VERSION = '1.0'\n"
    run(tmp_path, "pip", "install", "--index-url", live, "--target", str(tmp_path / "pip-live"), "snapdemo")
    assert (tmp_path / "pip-live/snapdemo/__init__.py").read_text() == "VERSION = '2.0'\n"
    python = str(clients_bin() / "python")
    run(
        tmp_path, "uv", "pip", "install", "--python", python, "--index-url", snapshot,
        "--target", str(tmp_path / "uv-snap"), "snapdemo",
    )  # fmt: skip
    assert (tmp_path / "uv-snap/snapdemo/__init__.py").read_text() == "VERSION = '1.0'\n"

    # removed from the live index, the old file still installs through the snapshot that lists it
    removed = httpx.delete(
        f"{live_server.api}/dist/{owner}/snapdemo/1.0/{old.name}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert removed.status_code == 200, removed.text
    gone = run(tmp_path, "pip", "download", "--no-deps", "--index-url", live, "-d", str(tmp_path / "x"),
               "snapdemo==1.0", check=False)  # fmt: skip
    assert gone.returncode != 0
    run(
        tmp_path, "pip", "install", "--index-url", snapshot, "--target", str(tmp_path / "pip-again"),
        "snapdemo==1.0",
    )  # fmt: skip
    assert (tmp_path / "pip-again/snapdemo/__init__.py").read_text() == "VERSION = '1.0'\n"


def test_rattler_resolves_the_pinned_version(
    live_server: LiveServer, owner: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    client = (
        Anaconda(tmp_path_factory.mktemp("snap-conda"), live_server.api).configure().login(owner, PASSWORD)
    )
    client.run("upload", str(build(tmp_path, "snapconda", "1.0", "noarch", "conda")))
    serial = pinned(live_server)
    client.run("upload", str(build(tmp_path, "snapconda", "2.0", "noarch", "conda")))

    live = solve_and_install(
        f"{live_server.url}/conda/{owner}", ["snapconda"], tmp_path / "live", tmp_path / "c1"
    )
    assert live == ["snapconda=2.0"]
    for sharded in (True, False):  # a snapshot has no shards: rattler falls back to repodata.json
        snap = solve_and_install(
            f"{live_server.url}/conda/{owner}/snapshot/{serial}",
            ["snapconda"],
            tmp_path / f"snap-{sharded}",
            tmp_path / f"c-{sharded}",
            sharded=sharded,
        )
        assert snap == ["snapconda=1.0"]
        assert (tmp_path / f"snap-{sharded}/share/snapconda/1.0.txt").read_text() == "snapconda 1.0 noarch\n"


def test_r_installs_the_pinned_version(live_server: LiveServer, owner: str, tmp_path: Path) -> None:
    from tests.clients.test_cran_r import curl_upload, rscript

    token = token_for(live_server, owner)
    for version in ("1.0", "2.0"):
        folder = tmp_path / f"r{version}"
        folder.mkdir()
        path = build_r_source(folder, name="snapR", version=version)
        assert path.name in curl_upload(f"{live_server.url}/api/repo/{owner}", token, path)
        if version == "1.0":
            serial = pinned(live_server)

    def installed(repos: str, lib: Path) -> str:
        lib.mkdir()
        code = (
            f'install.packages("snapR", repos="{repos}", lib="{lib}", type="source", quiet=TRUE); '
            f'cat(as.character(packageVersion("snapR", lib.loc="{lib}")))'
        )
        return rscript(code, tmp_path).stdout.strip()

    assert installed(f"{live_server.url}/cran/{owner}/snapshot/{serial}", tmp_path / "lib-snap") == "1.0"
    assert installed(f"{live_server.url}/cran/{owner}", tmp_path / "lib-live") == "2.0"


def test_rattler_resolves_the_pinned_version_at_the_site_root_channels(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """`http://HOST/OWNER/snapshot/N`, `/OWNER/label/L/snapshot/N` and `/t/TOKEN/OWNER/snapshot/N`: the
    snapshots of the channels the package page names (docs/mirrors.md), as under /conda/."""
    from tests.unit.api.helpers import auth

    login = f"rsnap{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        token = client.post("/api/authentications", auth=(login, PASSWORD), json={"note": "snap"}).json()[
            "token"
        ]

        def put(name: str, version: str, labels: list[str]) -> None:
            publish(client, token, login, tmp_path, name, version, labels)

        put("rootsnap", "1.0", ["main", "dev"])
        put("rootsnappriv", "1.0", ["main"])
        hidden = client.patch(
            f"/api/package/{login}/rootsnappriv", headers=auth(token), json={"access": "private"}
        )
        assert hidden.status_code == 200, hidden.text
        serial = pinned(live_server)
        put("rootsnap", "2.0", ["main", "dev"])

    root = f"{live_server.url}/{login}"
    live = solve_and_install(root, ["rootsnap"], tmp_path / "live", tmp_path / "c-live", sharded=False)
    assert live == ["rootsnap=2.0"]
    for n, channel in enumerate((f"{root}/snapshot/{serial}", f"{root}/label/dev/snapshot/{serial}")):
        prefix = tmp_path / f"snap-{n}"
        snap = solve_and_install(channel, ["rootsnap"], prefix, tmp_path / f"c-{n}")  # sharded: falls back
        assert snap == ["rootsnap=1.0"]
        assert (prefix / "share/rootsnap/1.0.txt").read_text() == "rootsnap 1.0 noarch\n"
    with pytest.raises(Exception):  # noqa: B017 - rattler reports the 401 in its own words
        solve_and_install(f"{root}/snapshot/{serial}", ["rootsnappriv"], tmp_path / "no", tmp_path / "c-no")
    private = f"{live_server.url}/t/{token}/{login}/snapshot/{serial}"
    assert solve_and_install(private, ["rootsnappriv"], tmp_path / "p", tmp_path / "c-p") == [
        "rootsnappriv=1.0"
    ]
