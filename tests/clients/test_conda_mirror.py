"""A conda mirror (issue #17) driven by the real py-rattler, with a second Packyard process as its upstream.

The story, one fixture per stage: the upstream gets a few conda packages (one in a label, one for osx-arm64) with
the real anaconda-client; a public mirror (excluding one name and the osx-arm64 subdir), a private one and one to
sync proxy it; rattler solves and installs through them; the upstream deletes a package; `sync` fills the third
mirror; finally the upstream is stopped and the mirrors still install what they cached.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import zstandard

from tests.clients.anaconda import Anaconda
from tests.clients.syncs import sync_and_wait
from tests.clients.test_conda_rattler import build, solve_and_install
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("conda-mirror")]
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="module")
def up_owner(upstream: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """cm-base (noarch .conda), cm-app (linux-64 .tar.bz2, needs cm-base), cm-gone, cm-bad, cm-mac (osx-arm64),
    and cm-dev in the label dev only."""
    login = f"up{uuid.uuid4().hex[:6]}"
    upstream.create_user(login, PASSWORD)
    tmp = tmp_path_factory.mktemp("up-conda")
    client = Anaconda(tmp / "client", upstream.api).configure().login(login, PASSWORD)
    for name, subdir, fmt, depends in (
        ("cm-base", "noarch", "conda", []),
        ("cm-app", "linux-64", "tar.bz2", ["cm-base >=1"]),
        ("cm-gone", "noarch", "conda", []),
        ("cm-bad", "noarch", "conda", []),
        ("cm-mac", "osx-arm64", "conda", []),
    ):
        client.run("upload", str(build(tmp, name, "1.0", subdir, fmt, depends=depends)))
    client.run("upload", "--label", "dev", str(build(tmp, "cm-dev", "2.0", "noarch", "conda")))
    return login


@pytest.fixture(scope="module")
def alice(mirror_server: LiveServer) -> str:
    login = f"al{uuid.uuid4().hex[:6]}"
    mirror_server.create_user(login, PASSWORD)
    return login


@pytest.fixture(scope="module")
def mirrors(mirror_server: LiveServer, upstream: LiveServer, up_owner: str, alice: str) -> dict[str, str]:
    """public (excludes cm-bad and subdir osx-arm64), private, and sync (filled by `sync` only); TTL 0."""
    names = {kind: f"c{kind[:2]}{uuid.uuid4().hex[:5]}" for kind in ("public", "private", "sync")}
    for kind, name in names.items():
        response = httpx.post(
            f"{mirror_server.api}/mirrors/{name}",
            auth=(alice, PASSWORD),
            json={
                "format": "conda",
                "upstream": f"{upstream.url}/conda/{up_owner}",
                "exclude": ["cm-bad", "subdir:osx-arm64"] if kind == "public" else [],
                "ttl": 0,
                "public": kind != "private",
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
    return names


@pytest.fixture(scope="module")
def installed(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """rattler installs cm-app (and cm-base), cm-gone through the public mirror: the cold install."""
    tmp = tmp_path_factory.mktemp("rattler-cold")
    channel = f"{mirror_server.url}/conda/{mirrors['public']}"
    done = solve_and_install(channel, ["cm-app", "cm-gone"], tmp / "env", tmp / "cache")
    assert done == ["cm-app=1.0", "cm-base=1.0", "cm-gone=1.0"]
    return tmp / "env"


def test_rattler_installs_through_the_mirror_and_the_files_are_packages_there(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: Path
) -> None:
    assert (installed / "share/cm-app/1.0.txt").read_text() == "cm-app 1.0 linux-64\n"
    assert (installed / "share/cm-base/1.0.txt").exists()
    listing = httpx.get(f"{mirror_server.api}/package/{mirrors['public']}/cm-app", timeout=30)
    assert listing.status_code == 200, listing.text
    assert [f["basename"] for f in listing.json()["files"]] == ["linux-64/cm-app-1.0-0.tar.bz2"]


def test_repodata_merges_upstream_and_cache_in_every_encoding(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: Path
) -> None:
    channel = f"{mirror_server.url}/conda/{mirrors['public']}"
    plain = httpx.get(f"{channel}/noarch/repodata.json", timeout=30)
    assert plain.status_code == 200
    assert "Warning" not in plain.headers
    packages = plain.json()["packages.conda"]
    assert {"cm-base-1.0-0.conda", "cm-gone-1.0-0.conda"} <= set(packages)
    assert packages["cm-base-1.0-0.conda"]["sha256"]
    zst = httpx.get(f"{channel}/noarch/repodata.json.zst", timeout=30)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zst.content) == plain.content
    again = httpx.get(
        f"{channel}/noarch/repodata.json", headers={"If-None-Match": plain.headers["etag"]}, timeout=30
    )
    assert again.status_code == 304
    assert httpx.get(f"{channel}/noarch/current_repodata.json", timeout=30).json() == plain.json()
    assert httpx.get(f"{channel}/noarch/repodata_shards.msgpack.zst", timeout=30).status_code == 404


def test_a_label_of_the_upstream_is_a_label_of_the_mirror(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path: Path
) -> None:
    base = f"{mirror_server.url}/conda/{mirrors['public']}"
    assert "cm-dev-2.0-0.conda" not in httpx.get(f"{base}/noarch/repodata.json", timeout=30).text
    done = solve_and_install(f"{base}/label/dev", ["cm-dev"], tmp_path / "env", tmp_path / "cache")
    assert done == ["cm-dev=2.0"]
    files = httpx.get(f"{mirror_server.api}/package/{mirrors['public']}/cm-dev", timeout=30).json()["files"]
    assert files[0]["labels"] == ["dev"]


def test_excluded_name_and_subdir_are_refused(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path: Path
) -> None:
    base = f"{mirror_server.url}/conda/{mirrors['public']}"
    assert "cm-bad" not in httpx.get(f"{base}/noarch/repodata.json", timeout=30).text
    bad = httpx.get(f"{base}/noarch/cm-bad-1.0-0.conda", timeout=30)
    assert bad.status_code == 403
    assert f"excluded by mirror {mirrors['public']}'s rule 'cm-bad'" in bad.json()["error"]
    mac = httpx.get(f"{base}/osx-arm64/repodata.json", timeout=30)
    assert mac.status_code == 200 and "cm-mac" not in mac.text
    refused = httpx.get(f"{base}/osx-arm64/cm-mac-1.0-0.conda", timeout=30)
    assert refused.status_code == 403 and "'subdir:osx-arm64'" in refused.json()["error"]
    # rattler finds no cm-bad to solve for (the private mirror, without rules, serves it: below)
    with pytest.raises(Exception, match="cm-bad"):
        solve_and_install(base, ["cm-bad"], tmp_path / "env", tmp_path / "cache")


def test_private_mirror_is_hidden_from_anonymous_and_open_through_a_token(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str, tmp_path: Path
) -> None:
    base = f"{mirror_server.url}/conda/{mirrors['private']}"
    assert httpx.get(f"{base}/noarch/repodata.json", timeout=30).status_code == 401
    token = httpx.post(
        f"{mirror_server.api}/authentications", auth=(alice, PASSWORD), json={"note": "cm"}, timeout=30
    ).json()["token"]
    channel = f"{mirror_server.url}/conda/t/{token}/{mirrors['private']}"
    assert solve_and_install(channel, ["cm-bad"], tmp_path / "env", tmp_path / "cache") == ["cm-bad=1.0"]
    assert httpx.get(f"{base}/noarch/cm-bad-1.0-0.conda", timeout=30).status_code == 401


def test_first_party_upload_into_the_mirror_is_refused(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str, tmp_path: Path
) -> None:
    client = Anaconda(tmp_path / "client", mirror_server.api).configure().login(alice, PASSWORD)
    path = build(tmp_path, "mine", "1.0", "noarch", "conda")
    result = client.run("upload", "-u", mirrors["public"], str(path), check=False)
    assert result.returncode != 0
    assert "is a mirror of" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def synced(mirror_server: LiveServer, mirrors: dict[str, str], alice: str) -> list[str]:
    body = {"packages": ["cm-app"], "subdirs": ["linux-64"]}
    sync = sync_and_wait(mirror_server, mirrors["sync"], (alice, PASSWORD), body)
    assert sync["state"] == "done", sync
    return list(sync["fetched"])


def test_sync_solves_dependencies_with_rattler_and_fetches_them(synced: list[str]) -> None:
    assert sorted(synced) == ["cm-app-1.0-0.tar.bz2", "cm-base-1.0-0.conda"]


def test_sync_that_cannot_be_solved_fails_with_the_solvers_message(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str
) -> None:
    body = {"packages": ["cm-nothing"], "subdirs": ["linux-64"]}
    sync = sync_and_wait(mirror_server, mirrors["sync"], (alice, PASSWORD), body)
    assert sync["state"] == "failed" and sync["error_status"] == 400, sync
    assert "cannot be installed" in sync["error"] and sync["fetched"] == []


@pytest.fixture(scope="module")
def upstream_deleted(upstream: LiveServer, up_owner: str, installed: Path) -> None:
    gone = httpx.delete(f"{upstream.api}/package/{up_owner}/cm-gone", auth=(up_owner, PASSWORD), timeout=30)
    assert gone.status_code in (200, 201, 204), gone.text


def test_mirror_keeps_what_upstream_deleted(
    mirror_server: LiveServer, mirrors: dict[str, str], upstream_deleted: None, tmp_path: Path
) -> None:
    channel = f"{mirror_server.url}/conda/{mirrors['public']}"
    assert (
        "cm-gone-1.0-0.conda"
        in httpx.get(f"{channel}/noarch/repodata.json", timeout=30).json()["packages.conda"]
    )
    assert solve_and_install(channel, ["cm-gone"], tmp_path / "env", tmp_path / "cache") == ["cm-gone=1.0"]


@pytest.fixture(scope="module")
def upstream_added(upstream: LiveServer, up_owner: str, installed: Path, tmp_path_factory) -> None:
    """Upstream publishes cm-new after the mirror cached its repodata (the mirror's TTL is 0)."""
    tmp = tmp_path_factory.mktemp("up-conda-new")
    client = Anaconda(tmp / "client", upstream.api).configure().login(up_owner, PASSWORD, "laterhost")
    client.run("upload", str(build(tmp, "cm-new", "1.0", "noarch", "conda", depends=["cm-base"])))


def test_what_upstream_adds_is_listed_and_installs_through_the_mirror(
    mirror_server: LiveServer, mirrors: dict[str, str], upstream_added: None, tmp_path: Path
) -> None:
    channel = f"{mirror_server.url}/conda/{mirrors['public']}"
    listed = httpx.get(f"{channel}/noarch/repodata.json", timeout=30).json()["packages.conda"]
    assert {"cm-new-1.0-0.conda", "cm-base-1.0-0.conda"} <= set(listed)
    assert solve_and_install(channel, ["cm-new"], tmp_path / "env", tmp_path / "cache") == [
        "cm-base=1.0",
        "cm-new=1.0",
    ]
    channeldata = httpx.get(f"{channel}/channeldata.json", timeout=30).json()
    assert {"cm-new", "cm-base", "cm-app"} <= set(channeldata["packages"])
    assert "cm-bad" not in channeldata["packages"]  # excluded by the mirror's rules


def test_offline_the_mirrors_install_what_they_cached_with_a_warning(
    mirror_server: LiveServer,
    upstream: LiveServer,
    mirrors: dict[str, str],
    installed: Path,
    synced: list[str],
    upstream_deleted: None,
    upstream_added: None,
    tmp_path: Path,
) -> None:
    upstream.stop()
    channel = f"{mirror_server.url}/conda/{mirrors['public']}"
    page = httpx.get(f"{channel}/linux-64/repodata.json", timeout=30)
    assert page.status_code == 200
    assert page.headers["Warning"] == '110 - "Response is Stale"'
    assert page.headers["X-Packyard-Mirror"] == "offline"
    assert solve_and_install(channel, ["cm-app"], tmp_path / "a", tmp_path / "ca") == [
        "cm-app=1.0",
        "cm-base=1.0",
    ]
    filled = f"{mirror_server.url}/conda/{mirrors['sync']}"
    assert solve_and_install(filled, ["cm-app"], tmp_path / "b", tmp_path / "cb") == [
        "cm-app=1.0",
        "cm-base=1.0",
    ]
    never = httpx.get(f"{channel}/noarch/cm-dev-2.0-0.conda", timeout=30)
    assert never.status_code in (502, 504)
    assert "upstream is unreachable" in never.json()["error"]
