"""A CRAN mirror (issue #17) driven by the real R (Rscript install.packages), with a second Packyard process as
its upstream.

The story, one fixture per stage: the upstream gets R source packages; a public mirror (excluding one) and one to
sync proxy it; R installs through the first; the upstream deletes a package; `sync` fills the second; finally the
upstream is stopped and both still install what they cached.
"""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_r_source
from tests.clients.syncs import sync_and_wait
from tests.clients.test_cran_r import curl_upload, install_and_call, token_for
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("cran-mirror")]
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="module")
def up_owner(upstream: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """depR 1.0, appR 0.1 (imports depR), goneR, badR: source packages."""
    login = f"up{uuid.uuid4().hex[:6]}"
    upstream.create_user(login, PASSWORD)
    tmp = tmp_path_factory.mktemp("up-r")
    token = token_for(upstream, login)
    for path in (
        build_r_source(tmp, name="depR", version="1.0"),
        build_r_source(tmp, name="appR", version="0.1", imports=["depR (>= 1.0)", "utils"]),
        build_r_source(tmp, name="goneR", version="1.0"),
        build_r_source(tmp, name="badR", version="1.0"),
    ):
        curl_upload(f"{upstream.url}/api/repo/{login}", token, path)
    return login


@pytest.fixture(scope="module")
def mirrors(mirror_server: LiveServer, upstream: LiveServer, up_owner: str) -> dict[str, str]:
    login = f"al{uuid.uuid4().hex[:6]}"
    mirror_server.create_user(login, PASSWORD)
    names = {"owner": login, "public": f"rp{uuid.uuid4().hex[:5]}", "sync": f"rs{uuid.uuid4().hex[:5]}"}
    for kind in ("public", "sync"):
        response = httpx.post(
            f"{mirror_server.api}/mirrors/{names[kind]}",
            auth=(login, PASSWORD),
            json={
                "format": "cran",
                "upstream": f"{upstream.url}/cran/{up_owner}/",
                "exclude": ["badr"] if kind == "public" else [],
                "ttl": 0,
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
    return names


@pytest.fixture(scope="module")
def installed(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    tmp = tmp_path_factory.mktemp("r-cold")
    repos = f"{mirror_server.url}/cran/{mirrors['public']}"
    out = install_and_call(repos, tmp / "lib", tmp)
    install_and_call(repos, tmp / "lib", tmp, package="goneR")
    return out


def test_r_installs_through_the_mirror_and_the_files_are_packages_there(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: str
) -> None:
    assert "hello from the demo R package" in installed
    assert "installed: appR depR" in installed
    listing = httpx.get(f"{mirror_server.api}/package/{mirrors['public']}/depR", timeout=30)
    assert listing.status_code == 200, listing.text
    assert [f["basename"] for f in listing.json()["files"]] == ["depR_1.0.tar.gz"]


def test_packages_merges_upstream_and_cache_and_leaves_out_the_excluded(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: str
) -> None:
    base = f"{mirror_server.url}/cran/{mirrors['public']}/src/contrib"
    text = httpx.get(f"{base}/PACKAGES", timeout=30).text
    assert "Package: appR\nVersion: 0.1\n" in text and "MD5sum:" in text
    assert "badR" not in text
    gz = httpx.get(f"{base}/PACKAGES.gz", timeout=30)
    assert gzip.decompress(gz.content).decode() == text
    assert httpx.get(f"{base}/PACKAGES.rds", timeout=30).status_code == 404
    bad = httpx.get(f"{base}/badR_1.0.tar.gz", timeout=30)
    assert bad.status_code == 403
    assert f"excluded by mirror {mirrors['public']}'s rule 'badr'" in bad.json()["error"]


def test_first_party_upload_into_the_mirror_is_refused(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path: Path
) -> None:
    token = token_for(mirror_server, mirrors["owner"])
    path = build_r_source(tmp_path, name="mineR", version="1.0")
    response = httpx.post(
        f"{mirror_server.url}/api/repo/{mirrors['public']}",
        headers={"X-Auth": token},
        data={"filetype": "cran_source_package"},
        files={"content": (path.name, path.read_bytes())},
        timeout=30,
    )
    assert response.status_code == 403 and "is a mirror of" in response.text


@pytest.fixture(scope="module")
def synced(mirror_server: LiveServer, mirrors: dict[str, str]) -> list[str]:
    sync = sync_and_wait(mirror_server, mirrors["sync"], (mirrors["owner"], PASSWORD), {"packages": ["appR"]})
    assert sync["state"] == "done", sync
    return list(sync["fetched"])


def test_sync_fetches_a_package_with_its_dependencies(synced: list[str]) -> None:
    assert synced == ["appR_0.1.tar.gz", "depR_1.0.tar.gz"]


@pytest.fixture(scope="module")
def upstream_deleted(upstream: LiveServer, up_owner: str, installed: str) -> None:
    gone = httpx.delete(f"{upstream.api}/package/{up_owner}/goneR", auth=(up_owner, PASSWORD), timeout=30)
    assert gone.status_code in (200, 201, 204), gone.text


def test_mirror_keeps_what_upstream_deleted(
    mirror_server: LiveServer, mirrors: dict[str, str], upstream_deleted: None, tmp_path: Path
) -> None:
    repos = f"{mirror_server.url}/cran/{mirrors['public']}"
    assert "Package: goneR" in httpx.get(f"{repos}/src/contrib/PACKAGES", timeout=30).text
    assert "installed: goneR" in install_and_call(repos, tmp_path / "lib", tmp_path, package="goneR")


def test_offline_the_mirrors_install_what_they_cached_with_a_warning(
    mirror_server: LiveServer,
    upstream: LiveServer,
    mirrors: dict[str, str],
    installed: str,
    synced: list[str],
    upstream_deleted: None,
    tmp_path: Path,
) -> None:
    upstream.stop()
    repos = f"{mirror_server.url}/cran/{mirrors['public']}"
    page = httpx.get(f"{repos}/src/contrib/PACKAGES", timeout=30)
    assert page.status_code == 200
    assert page.headers["Warning"] == '110 - "Response is Stale"'
    assert page.headers["X-Packyard-Mirror"] == "offline"
    assert "installed: appR depR" in install_and_call(repos, tmp_path / "a", tmp_path)
    filled = f"{mirror_server.url}/cran/{mirrors['sync']}"
    assert "installed: appR depR" in install_and_call(filled, tmp_path / "b", tmp_path)
    never = httpx.get(f"{filled}/src/contrib/goneR_1.0.tar.gz", timeout=30)
    assert never.status_code in (502, 504)
    assert "upstream is unreachable" in never.json()["error"]
