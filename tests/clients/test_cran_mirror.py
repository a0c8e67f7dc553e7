"""A CRAN mirror (issue #17) driven by the real R (Rscript install.packages), with a second Packyard process as
its upstream.

The story, one fixture per stage: the upstream gets R source packages; a public mirror (excluding one) and one to
sync proxy it; R installs through the first; the upstream deletes a package; `sync` fills the second; finally the
upstream is stopped and both still install what they cached.
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_r_source
from tests.clients.syncs import sync_and_wait
from tests.clients.test_cran_r import curl_upload, install_and_call, rscript, token_for
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
def archived(
    upstream: LiveServer, up_owner: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    """oldR 1.0 then 2.0, and badR 0.9 after its 1.0: the upstream's PACKAGES lists oldR 2.0 and badR 1.0, and
    keeps oldR 1.0 and badR 0.9 only under src/contrib/Archive/NAME/, with no digest in any index."""
    token = token_for(upstream, up_owner)
    built = {}
    for name, version in (("oldR", "1.0"), ("oldR", "2.0"), ("badR", "0.9")):
        folder = tmp_path_factory.mktemp(f"{name}-{version}")
        path = build_r_source(folder, name=name, version=version)
        curl_upload(f"{upstream.url}/api/repo/{up_owner}", token, path)
        built[path.name] = path.read_bytes()
    listed = httpx.get(f"{upstream.url}/cran/{up_owner}/src/contrib/PACKAGES", timeout=30).text
    assert "Package: oldR\nVersion: 2.0\n" in listed and "Version: 0.9" not in listed
    archive = f"{upstream.url}/cran/{up_owner}/src/contrib/Archive"
    assert httpx.get(f"{archive}/oldR/oldR_1.0.tar.gz", timeout=30).content == built["oldR_1.0.tar.gz"]
    return built


def test_a_version_only_in_upstreams_archive_installs_on_first_request(
    mirror_server: LiveServer, mirrors: dict[str, str], archived: dict[str, bytes], tmp_path: Path
) -> None:
    """Never cached, listed in no PACKAGES: R installs oldR 1.0 from the mirror's Archive URL, which fetches it
    from the upstream's Archive (trusted on first use) and stores it; its sha256 is recorded; an excluded
    package's archived version is refused and not fetched."""
    repos = f"{mirror_server.url}/cran/{mirrors['public']}"
    assert "Version: 1.0" not in httpx.get(f"{repos}/src/contrib/PACKAGES", timeout=30).text.split("oldR")[1]
    # Not at the top of src/contrib: only the Archive URL may fetch what no index lists.
    top = httpx.get(f"{repos}/src/contrib/oldR_1.0.tar.gz", timeout=30)
    assert top.status_code == 404 and "src/contrib/Archive/oldR/oldR_1.0.tar.gz" in top.json()["error"]
    url = f"{repos}/src/contrib/Archive/oldR/oldR_1.0.tar.gz"
    lib = tmp_path / "lib"
    lib.mkdir()
    out = rscript(
        f'install.packages("{url}", repos=NULL, type="source", lib="{lib}", quiet=TRUE); '
        f'library(oldR, lib.loc="{lib}"); cat(hello(), "\\n"); '
        f'cat("version:", as.character(packageVersion("oldR", lib.loc="{lib}")), "\\n")',
        tmp_path,
    ).stdout
    assert "hello from the demo R package" in out and "version: 1.0" in out
    listing = httpx.get(f"{mirror_server.api}/package/{mirrors['public']}/oldR", timeout=30)
    assert listing.status_code == 200, listing.text
    files = {f["basename"]: f for f in listing.json()["files"]}
    assert set(files) == {"oldR_1.0.tar.gz"}
    assert files["oldR_1.0.tar.gz"]["sha256"] == hashlib.sha256(archived["oldR_1.0.tar.gz"]).hexdigest()
    assert httpx.get(url, timeout=30).content == archived["oldR_1.0.tar.gz"]  # served from the cache now

    # A plain GET does the same on a mirror that never saw oldR. A version the upstream never had is refused
    # with what the upstream said (a Packyard upstream answers 401 to an anonymous caller for a missing file,
    # as for a private one: a 502 naming it; CRAN's 404 is a 404), and nothing is stored.
    other = f"{mirror_server.url}/cran/{mirrors['sync']}/src/contrib/Archive/oldR"
    assert httpx.get(f"{other}/oldR_1.0.tar.gz", timeout=30).content == archived["oldR_1.0.tar.gz"]
    missing = httpx.get(f"{other}/oldR_0.1.tar.gz", timeout=30)
    assert missing.status_code in (404, 502), missing.text
    assert "Archive/oldR/oldR_0.1.tar.gz" in missing.json()["error"]
    kept = httpx.get(f"{mirror_server.api}/package/{mirrors['sync']}/oldR", timeout=30).json()
    assert [f["basename"] for f in kept["files"]] == ["oldR_1.0.tar.gz"]

    refused = httpx.get(f"{repos}/src/contrib/Archive/badR/badR_0.9.tar.gz", timeout=30)
    assert refused.status_code == 403
    assert f"excluded by mirror {mirrors['public']}'s rule 'badr'" in refused.json()["error"]
    nothing = httpx.get(f"{mirror_server.api}/package/{mirrors['public']}/badR", timeout=30)
    assert nothing.status_code == 404


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
    archived = httpx.get(f"{filled}/src/contrib/Archive/depR/depR_0.9.tar.gz", timeout=30)
    assert archived.status_code in (502, 504)  # the Archive's first use needs the upstream too
    assert "upstream is unreachable" in archived.json()["error"]
