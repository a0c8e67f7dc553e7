"""A PyPI mirror (issue #17) driven by the real pip, uv and twine, with a second Packyard process as its upstream.

The module's story, one fixture per stage so that each test stands alone: the upstream gets a few projects by
twine; a public mirror (excluding one project) and a private one proxy it; pip and uv install through them; the
upstream deletes and yanks; finally the upstream is stopped and the mirror still serves what it cached.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.builders import build_sdist, build_wheel
from tests.clients.anaconda import clients_bin
from tests.clients.syncs import sync_and_wait
from tests.clients.test_pypi_clients import PASSWORD, run, token_for, twine
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("pypi-mirror")]


def _stop(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def up_owner(upstream: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The upstream's index: pk-lib 1.0 (wheel + sdist), pk-app 0.5 (needs pk-lib), pk-gone, pk-bad."""
    login = f"up{uuid.uuid4().hex[:6]}"
    upstream.create_user(login, PASSWORD)
    d = tmp_path_factory.mktemp("up-dists")
    files = []
    for name, version, requires in (
        ("pk-lib", "1.0", []),
        ("pk-app", "0.5", ["pk-lib>=1.0"]),
        ("pk-gone", "1.0", []),
        ("pk-bad", "1.0", []),
        ("pk-yank", "1.0", []),
    ):
        folder = d / f"{name}-{version}"
        folder.mkdir()
        module = {f"{name.replace('-', '_')}/__init__.py": f"VERSION = {version!r}\n".encode()}
        files.append(build_wheel(folder, name=name, version=version, requires_dist=requires, modules=module))
    sdist_dir = d / "sdist"
    sdist_dir.mkdir()
    files.append(build_sdist(sdist_dir, name="pk-lib", version="1.0"))
    twine(d, f"{upstream.url}/pypi/{login}/", login, PASSWORD, *files)
    return login


@pytest.fixture(scope="module")
def alice(mirror_server: LiveServer) -> str:
    login = f"al{uuid.uuid4().hex[:6]}"
    mirror_server.create_user(login, PASSWORD)
    return login


@pytest.fixture(scope="module")
def mirrors(mirror_server: LiveServer, upstream: LiveServer, up_owner: str, alice: str) -> dict[str, str]:
    """A public mirror that excludes pk-bad, and a private one; both ask upstream again at every request."""
    names = {"public": f"pm{uuid.uuid4().hex[:5]}", "private": f"pp{uuid.uuid4().hex[:5]}"}
    for kind, name in names.items():
        response = httpx.post(
            f"{mirror_server.api}/mirrors/{name}",
            auth=(alice, PASSWORD),
            json={
                "format": "pypi",
                "upstream": f"{upstream.url}/pypi/{up_owner}/simple/",
                "exclude": ["pk-bad"] if kind == "public" else [],
                "ttl": 0,
                "public": kind == "public",
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        assert response.json()["format"] == "pypi"
    return names


def _install(home: Path, tool: str, index: str, target: Path, *reqs: str, check: bool = True):
    if tool == "pip":
        return run(home, "pip", "install", "--index-url", index, "--target", str(target), *reqs, check=check)
    return run(
        home,
        "uv",
        "pip",
        "install",
        "--python",
        str(clients_bin() / "python"),
        "--index-url",
        index,
        "--target",
        str(target),
        *reqs,
        check=check,
    )


@pytest.fixture(scope="module")
def installed(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """pip installs pk-app (and its dependency pk-lib) through the public mirror: the first, cold install."""
    home = tmp_path_factory.mktemp("pip-cold")
    index = f"{mirror_server.url}/pypi/{mirrors['public']}/simple/"
    _install(home, "pip", index, home / "t", "pk-app", "pk-gone", "pk-yank")
    return home / "t"


def test_pip_installs_through_the_mirror_and_the_files_are_packages_there(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: Path, alice: str
):
    assert (installed / "pk_app/__init__.py").exists()
    assert (installed / "pk_lib/__init__.py").read_text() == "VERSION = '1.0'\n"
    # Stored through add_file: the REST API (and so the UI, search, fsck) sees the cached packages.
    listing = httpx.get(f"{mirror_server.api}/package/{mirrors['public']}/pk-lib", timeout=30)
    assert listing.status_code == 200, listing.text
    assert [f["basename"] for f in listing.json()["files"]] == ["pk_lib-1.0-py3-none-any.whl"]
    root = httpx.get(f"{mirror_server.url}/pypi/{mirrors['public']}/simple/", timeout=30).text
    assert "pk-app" in root and "pk-bad" not in root


def test_uv_installs_through_the_mirror(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: Path, tmp_path: Path
):
    index = f"{mirror_server.url}/pypi/{mirrors['public']}/simple/"
    _install(tmp_path, "uv", index, tmp_path / "uv", "pk-app")
    assert (tmp_path / "uv/pk_lib/__init__.py").read_text() == "VERSION = '1.0'\n"


def test_the_page_merges_upstream_entries_with_cached_files(
    mirror_server: LiveServer, mirrors: dict[str, str], installed: Path
):
    page = httpx.get(
        f"{mirror_server.url}/pypi/{mirrors['public']}/simple/pk-lib/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=30,
    )
    assert page.status_code == 200, page.text
    files = {f["filename"]: f for f in page.json()["files"]}
    assert set(files) == {"pk_lib-1.0-py3-none-any.whl", "pk_lib-1.0.tar.gz"}
    wheel = files["pk_lib-1.0-py3-none-any.whl"]
    assert wheel["url"] == "../../files/pk-lib/pk_lib-1.0-py3-none-any.whl"
    assert wheel["core-metadata"]  # cached: its PEP 658 metadata is served here
    assert files["pk_lib-1.0.tar.gz"]["core-metadata"] is False  # not cached yet


def test_excluded_project_is_refused_on_index_and_download(
    mirror_server: LiveServer, mirrors: dict[str, str], tmp_path: Path
):
    base = f"{mirror_server.url}/pypi/{mirrors['public']}"
    page = httpx.get(f"{base}/simple/pk-bad/", timeout=30)
    assert page.status_code == 403
    assert f"excluded by mirror {mirrors['public']}'s rule 'pk-bad'" in page.json()["error"]
    download = httpx.get(f"{base}/files/pk-bad/pk_bad-1.0-py3-none-any.whl", timeout=30)
    assert download.status_code == 403
    assert "excluded" in download.json()["error"]
    failed = _install(tmp_path, "pip", f"{base}/simple/", tmp_path / "t", "pk-bad", check=False)
    assert failed.returncode != 0


def test_a_rule_added_after_a_file_was_cached_refuses_it(
    mirror_server: LiveServer, upstream: LiveServer, up_owner: str, alice: str
):
    """A cached file is served from this server (for anonymous callers by formats/front.py, without the route),
    yet the rules as they are now decide: an exclude added later refuses it, to everyone; removing it serves it
    again. For a private mirror an anonymous caller gets the hidden-package answer, never the rule."""
    for public in (True, False):
        name = f"rc{uuid.uuid4().hex[:5]}"
        api = f"{mirror_server.api}/mirrors/{name}"
        made = httpx.post(
            api,
            auth=(alice, PASSWORD),
            json={"format": "pypi", "upstream": f"{upstream.url}/pypi/{up_owner}/simple/", "public": public},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        url = f"{mirror_server.url}/pypi/{name}/files/pk-lib/pk_lib-1.0-py3-none-any.whl"
        anonymous = {} if public else {"auth": (alice, PASSWORD)}
        for _ in range(2):  # the first GET fetches and caches it; the second is served from the cache
            assert httpx.get(url, timeout=30, **anonymous).status_code == 200  # type: ignore[arg-type]
        patched = httpx.patch(api, auth=(alice, PASSWORD), json={"exclude": ["pk-lib"]}, timeout=30)
        assert patched.status_code == 200, patched.text
        refused = httpx.get(url, timeout=30)
        if public:
            assert refused.status_code == 403 and "excluded" in refused.json()["error"]
        else:
            assert refused.status_code in (401, 404) and "excluded" not in refused.text
        as_member = httpx.get(url, auth=(alice, PASSWORD), timeout=30)
        assert as_member.status_code == 403 and "rule 'pk-lib'" in as_member.json()["error"]
        httpx.patch(api, auth=(alice, PASSWORD), json={"exclude": []}, timeout=30).raise_for_status()
        assert httpx.get(url, timeout=30, **anonymous).status_code == 200  # type: ignore[arg-type]


def test_first_party_upload_into_the_mirror_is_refused(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str, tmp_path: Path
):
    wheel = build_wheel(tmp_path, name="mine", version="1.0")
    url = f"{mirror_server.url}/pypi/{mirrors['public']}/"
    result = twine(tmp_path, url, alice, PASSWORD, wheel, check=False)
    assert result.returncode != 0 and "Forbidden" in result.stdout  # twine prints the status line only
    form = {":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel"}
    with wheel.open("rb") as fh:
        raw = httpx.post(
            url, data=form, files={"content": (wheel.name, fh)}, auth=(alice, PASSWORD), timeout=30
        )
    assert raw.status_code == 403
    assert f"{mirrors['public']} is a mirror of http://127.0.0.1:" in raw.text
    rest = httpx.post(
        f"{mirror_server.api}/package/{mirrors['public']}/mine",
        auth=(alice, PASSWORD),
        json={"public": True},
        timeout=30,
    )
    assert rest.status_code == 403 and "is a mirror of" in rest.json()["error"]


def test_private_mirror_is_hidden_from_anonymous_and_open_to_members(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str, tmp_path: Path
):
    base = f"{mirror_server.url}/pypi/{mirrors['private']}"
    assert httpx.get(f"{base}/simple/pk-lib/", timeout=30).status_code == 401
    assert httpx.get(f"{mirror_server.api}/mirrors/{mirrors['private']}", timeout=30).status_code == 404
    listed = [m["name"] for m in httpx.get(f"{mirror_server.api}/mirrors", timeout=30).json()]
    assert mirrors["public"] in listed and mirrors["private"] not in listed
    token = token_for(mirror_server, alice)
    index = f"{mirror_server.url}/pypi/t/{token}/{mirrors['private']}/simple/"
    _install(tmp_path, "pip", index, tmp_path / "t", "pk-lib")
    assert (tmp_path / "t/pk_lib/__init__.py").exists()
    # The cached file is private to the organization: anonymous gets the hidden-package answer.
    wheel = f"{base}/files/pk-lib/pk_lib-1.0-py3-none-any.whl"
    assert httpx.get(wheel, timeout=30).status_code == 401
    assert httpx.get(wheel, headers={"Authorization": f"token {token}"}, timeout=30).status_code == 200


def test_sync_prefetches_a_package_with_its_dependencies(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str
):
    sync = sync_and_wait(mirror_server, mirrors["private"], (alice, PASSWORD), {"packages": ["pk-app"]})
    assert sync["state"] == "done", sync
    fetched = sync["fetched"]
    assert "pk_app-0.5-py3-none-any.whl" in fetched
    assert {"pk_lib-1.0-py3-none-any.whl", "pk_lib-1.0.tar.gz"} <= set(fetched)


def test_concurrent_first_requests_for_one_file_all_succeed_and_store_it_once(
    mirror_server: LiveServer, mirrors: dict[str, str], alice: str
):
    token = token_for(mirror_server, alice)
    url = f"{mirror_server.url}/pypi/{mirrors['private']}/files/pk-yank/pk_yank-1.0-py3-none-any.whl"

    def get(_: int) -> httpx.Response:
        return httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(get, range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.content for a in answers}) == 1
    listing = httpx.get(
        f"{mirror_server.api}/package/{mirrors['private']}/pk-yank",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert [f["basename"] for f in listing.json()["files"]] == ["pk_yank-1.0-py3-none-any.whl"]


def _serial(server: LiveServer) -> int:
    answer = httpx.get(f"{server.api}/serial", timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["serial"])


def _listed(url: str) -> tuple[int, set[str], dict[str, object]]:
    """A PEP 691 page's X-PyPI-Last-Serial, its files and its JSON."""
    page = httpx.get(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30)
    assert page.status_code == 200, page.text
    doc = page.json()
    return int(page.headers["X-PyPI-Last-Serial"]), {f["filename"] for f in doc.get("files", [])}, doc


def test_the_pages_serial_is_the_one_to_pin_a_snapshot_to(
    mirror_server: LiveServer, upstream: LiveServer, up_owner: str, alice: str, tmp_path: Path
):
    """A mirror's X-PyPI-Last-Serial is /api/serial's answer just after it fetched a file (no other change since),
    and a snapshot at that serial lists the cached files the page listed, and keeps listing only them after the
    next fetch; pip installs from it."""
    name = f"ps{uuid.uuid4().hex[:5]}"
    made = httpx.post(
        f"{mirror_server.api}/mirrors/{name}",
        auth=(alice, PASSWORD),
        json={"format": "pypi", "upstream": f"{upstream.url}/pypi/{up_owner}/simple/", "ttl": 0},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    base = f"{mirror_server.url}/pypi/{name}"
    wheel, sdist = "pk_lib-1.0-py3-none-any.whl", "pk_lib-1.0.tar.gz"

    before, listed, _ = _listed(f"{base}/simple/pk-lib/")
    assert listed == {wheel, sdist}  # upstream's entries; nothing cached yet
    assert before == _serial(mirror_server)  # the mirror's own newest event (its creation): nothing newer

    assert httpx.get(f"{base}/files/pk-lib/{wheel}", timeout=30).status_code == 200  # fetched: an event
    first, listed, doc = _listed(f"{base}/simple/pk-lib/")
    assert first == _serial(mirror_server) > before
    assert doc["meta"]["_last-serial"] == first  # type: ignore[index]
    root_serial, _, root = _listed(f"{base}/simple/")
    assert root_serial == first
    assert {p["name"]: p["_last-serial"] for p in root["projects"]} == {"pk-lib": first}  # type: ignore[index]
    assert listed == {wheel, sdist}
    _, pinned, _ = _listed(f"{base}/snapshot/{first}/simple/pk-lib/")
    assert pinned == {wheel}  # what the page listed that this server has: the cached file

    assert httpx.get(f"{base}/files/pk-lib/{sdist}", timeout=30).status_code == 200
    second, _, _ = _listed(f"{base}/simple/pk-lib/")
    assert second == _serial(mirror_server) > first
    assert _listed(f"{base}/snapshot/{second}/simple/pk-lib/")[1] == {wheel, sdist}
    assert _listed(f"{base}/snapshot/{first}/simple/pk-lib/")[1] == {wheel}  # unchanged by the later fetch
    _install(tmp_path, "pip", f"{base}/snapshot/{first}/simple/", tmp_path / "t", "pk-lib")
    assert (tmp_path / "t/pk_lib/__init__.py").read_text() == "VERSION = '1.0'\n"


@pytest.fixture(scope="module")
def upstream_changed(upstream: LiveServer, up_owner: str, installed: Path) -> None:
    """The upstream deletes pk-gone and yanks pk-yank 1.0, after the mirror cached both."""
    auth = (up_owner, PASSWORD)
    gone = httpx.delete(f"{upstream.api}/package/{up_owner}/pk-gone", auth=auth, timeout=30)
    assert gone.status_code in (200, 201, 204), gone.text
    yank = httpx.post(
        f"{upstream.api}/yank/{up_owner}/pk-yank/1.0/pk_yank-1.0-py3-none-any.whl",
        auth=auth,
        json={"reason": "broken"},
        timeout=30,
    )
    assert yank.status_code in (200, 201, 204), yank.text


def test_mirror_keeps_what_upstream_deleted_and_shows_its_yanks(
    mirror_server: LiveServer, mirrors: dict[str, str], upstream_changed: None, tmp_path: Path
):
    index = f"{mirror_server.url}/pypi/{mirrors['public']}/simple/"
    assert httpx.get(f"{index}pk-gone/", timeout=30).status_code == 200
    _install(tmp_path, "pip", index, tmp_path / "t", "pk-gone")
    assert (tmp_path / "t/pk_gone/__init__.py").exists()
    page = httpx.get(f"{index}pk-yank/", timeout=30).text
    assert 'data-yanked="broken"' in page


def test_offline_the_mirror_serves_its_cache_with_a_warning(
    mirror_server: LiveServer,
    upstream: LiveServer,
    mirrors: dict[str, str],
    installed: Path,
    upstream_changed: None,
    tmp_path: Path,
):
    upstream.stop()
    base = f"{mirror_server.url}/pypi/{mirrors['public']}"
    page = httpx.get(f"{base}/simple/pk-app/", timeout=30)
    assert page.status_code == 200
    assert page.headers["Warning"] == '110 - "Response is Stale"'
    assert page.headers["X-Packyard-Mirror"] == "offline"
    _install(tmp_path, "pip", f"{base}/simple/", tmp_path / "pip", "pk-app")
    _install(tmp_path, "uv", f"{base}/simple/", tmp_path / "uv", "pk-app")
    assert (tmp_path / "uv/pk_lib/__init__.py").exists()
    never = httpx.get(f"{base}/files/pk-lib/pk_lib-1.0.tar.gz", timeout=30)
    assert never.status_code in (502, 504)
    assert "upstream is unreachable" in never.json()["error"]
    shown = httpx.get(f"{mirror_server.api}/mirrors/{mirrors['public']}", timeout=30).json()
    assert shown["last_error"]
