"""The unmodified anaconda-client (latest release) against a live Packyard: the whole foundation workflow."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_conda, build_r_source, build_sdist, build_wheel
from tests.clients.anaconda import Anaconda
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("anaconda")]


@pytest.fixture(scope="module")
def users(live_server: LiveServer) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    names = {"alice": f"alice{suffix}", "bob": f"bob{suffix}", "carol": f"carol{suffix}"}
    for login in names.values():
        live_server.create_user(login, "secret-pass-1")
    return names


@pytest.fixture(scope="module")
def alice(
    live_server: LiveServer, users: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Anaconda:
    client = Anaconda(tmp_path_factory.mktemp("alice"), live_server.api).configure()
    return client.login(users["alice"], "secret-pass-1")


@pytest.fixture(scope="module")
def bob(live_server: LiveServer, users: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Anaconda:
    client = Anaconda(tmp_path_factory.mktemp("bob"), live_server.api).configure()
    return client.login(users["bob"], "secret-pass-1")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fixtures")


def api(live_server: LiveServer, path: str, token: str | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.get(f"{live_server.api}{path}", headers=headers, timeout=30, **kw)


def stored_token(client: Anaconda) -> str:
    tokens = list((client.home / "binstar").rglob("*.token"))
    assert tokens, "anaconda login stored no token"
    return tokens[0].read_text().strip()


def test_whoami_after_login(alice: Anaconda, users: dict[str, str]) -> None:
    assert users["alice"] in alice.output("org", "whoami")


def test_wrong_password_is_refused(live_server: LiveServer, users: dict[str, str], tmp_path: Path) -> None:
    client = Anaconda(tmp_path, live_server.api).configure()
    result = client.run(
        "org",
        "login",
        "--username",
        users["alice"],
        "--password",
        "wrong-password",
        "--hostname",
        "h",
        check=False,
    )
    assert result.returncode != 0
    assert not list((tmp_path / "binstar").rglob("*.token"))


def test_upload_every_format_and_download_byte_identical(
    alice: Anaconda, users: dict[str, str], fixtures: Path, tmp_path: Path
) -> None:
    login = users["alice"]
    conda_bz2 = build_conda(fixtures, name="demo-conda", version="1.0", subdir="linux-64", fmt="tar.bz2")
    conda_new = build_conda(fixtures, name="demo-conda", version="1.1", subdir="noarch", fmt="conda")
    wheel = build_wheel(fixtures, name="demo-wheel", version="2.0")
    sdist = build_sdist(fixtures, name="demo-wheel", version="2.0")
    rpkg = build_r_source(fixtures, name="demoR", version="0.3")
    csv = fixtures / "names.csv"
    csv.write_text("name,count\nAda,3\nGrace,5\n")

    for path in (conda_bz2, conda_new, wheel, sdist, rpkg):
        alice.run("upload", str(path))
    alice.run("upload", "-t", "file", "-p", "baby-names", "-v", "2024.1", "-s", "Baby names", str(csv))

    shown = alice.output("show", f"{login}/demo-conda")
    assert "1.0" in shown and "1.1" in shown

    pkg = api_json(alice, f"/package/{login}/demo-conda")
    assert sorted(pkg["conda_platforms"]) == ["linux-64", "noarch"]
    assert {f["basename"] for f in pkg["files"]} == {
        f"linux-64/{conda_bz2.name}",
        f"noarch/{conda_new.name}",
    }
    assert api_json(alice, f"/package/{login}/demo-wheel")["package_types"] == ["pypi"]
    assert api_json(alice, f"/package/{login}/demoR")["package_types"] == ["r"]
    assert api_json(alice, f"/package/{login}/baby-names")["package_types"] == ["file"]

    out = tmp_path / "dl"
    out.mkdir()
    for spec, original, rel in (
        (f"{login}/demo-wheel", wheel, wheel.name),
        (f"{login}/baby-names", csv, csv.name),
        (f"{login}/demoR", rpkg, rpkg.name),
    ):
        alice.run("download", spec, cwd=out)
        assert (out / rel).read_bytes() == original.read_bytes(), spec
    alice.run("download", f"{login}/demo-conda", cwd=out)
    assert (out / "linux-64" / conda_bz2.name).read_bytes() == conda_bz2.read_bytes()
    assert (out / "noarch" / conda_new.name).read_bytes() == conda_new.read_bytes()


_tokens: dict[str, str] = {}


def api_json(client: Anaconda, path: str) -> dict | list:
    token = _tokens.get(str(client.home)) or stored_token(client)
    _tokens[str(client.home)] = token
    url = client.api_url + path
    response = httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_existing_file_force_and_skip_existing(
    alice: Anaconda, users: dict[str, str], fixtures: Path
) -> None:
    path = build_conda(fixtures, name="dupe", version="1.0", subdir="noarch", fmt="tar.bz2")
    alice.run("upload", str(path))
    again = alice.run("upload", str(path), check=False)
    assert again.returncode != 0
    assert "already exists" in (again.stdout + again.stderr).lower() or "conflict" in again.stderr.lower()
    alice.run("upload", "--skip-existing", str(path))
    alice.run("upload", "--force", str(path))
    files = api_json(alice, f"/package/{users['alice']}/dupe")["files"]
    assert len(files) == 1


def test_upload_for_another_user_is_refused(bob: Anaconda, users: dict[str, str], fixtures: Path) -> None:
    path = build_conda(fixtures, name="intruder", version="1.0", subdir="noarch", fmt="tar.bz2")
    result = bob.run("upload", "-u", users["alice"], str(path), check=False)
    assert result.returncode != 0
    response = httpx.get(f"{bob.api_url}/package/{users['alice']}/intruder", timeout=30)
    assert response.status_code == 404


def test_labels(alice: Anaconda, users: dict[str, str], fixtures: Path, live_server: LiveServer) -> None:
    login = users["alice"]
    path = build_conda(fixtures, name="labelled", version="1.0", subdir="noarch", fmt="tar.bz2")
    alice.run("upload", "--label", "dev", str(path))
    basename = f"noarch/{path.name}"
    assert api_json(alice, f"/dist/{login}/labelled/1.0/{basename}")["labels"] == ["dev"]

    listing = alice.output("label", "--list")
    assert "dev" in listing
    assert basename in alice.output("label", "--show", "dev")

    alice.run("label", "--copy", "dev", "staging")
    assert api_json(alice, f"/dist/{login}/labelled/1.0/{basename}")["labels"] == ["dev", "staging"]

    alice.run("label", "--lock", "staging")
    assert api_json(alice, f"/channels/{login}")["staging"]["is_locked"] is True
    refused = alice.run("label", "--remove", "staging", check=False)
    assert refused.returncode != 0
    alice.run("label", "--unlock", "staging")
    alice.run("label", "--remove", "staging")
    assert "staging" not in api_json(alice, f"/channels/{login}")

    # anaconda-client has no --rename; Packyard's REST API does (the UI uses it).
    token = stored_token(alice)
    renamed = httpx.post(
        f"{alice.api_url}/channels/{login}/dev/rename/beta",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert renamed.status_code == 201, renamed.text
    assert api_json(alice, f"/dist/{login}/labelled/1.0/{basename}")["labels"] == ["beta"]

    alice.run("move", f"{login}/labelled/1.0", "--from-label", "beta", "--to-label", "main")
    assert api_json(alice, f"/dist/{login}/labelled/1.0/{basename}")["labels"] == ["main"]


def test_copy_to_another_owner_and_label(
    alice: Anaconda, bob: Anaconda, users: dict[str, str], fixtures: Path
) -> None:
    path = build_conda(fixtures, name="shared", version="1.0", subdir="noarch", fmt="conda")
    alice.run("upload", str(path))
    basename = f"noarch/{path.name}"
    alice.run("copy", f"{users['alice']}/shared/1.0", "--to-label", "release")
    assert api_json(alice, f"/dist/{users['alice']}/shared/1.0/{basename}")["labels"] == ["main", "release"]
    # bob copies alice's public package into his own namespace
    bob.run("copy", f"{users['alice']}/shared/1.0", "--to-owner", users["bob"])
    copied = api_json(bob, f"/dist/{users['bob']}/shared/1.0/{basename}")
    assert copied["sha256"] == api_json(alice, f"/dist/{users['alice']}/shared/1.0/{basename}")["sha256"]


def test_remove_file_release_package(alice: Anaconda, users: dict[str, str], fixtures: Path) -> None:
    login = users["alice"]
    a = build_conda(fixtures, name="doomed", version="1.0", subdir="noarch", fmt="tar.bz2")
    b = build_conda(fixtures, name="doomed", version="2.0", subdir="noarch", fmt="tar.bz2")
    (fixtures / "linux").mkdir(exist_ok=True)
    c = build_conda(fixtures / "linux", name="doomed", version="2.0", subdir="linux-64", fmt="tar.bz2")
    for path in (a, b, c):
        alice.run("upload", str(path))
    alice.run("remove", "-f", f"{login}/doomed/2.0/linux-64/{c.name}")
    assert [f["basename"] for f in api_json(alice, f"/release/{login}/doomed/2.0")["distributions"]] == [
        f"noarch/{b.name}"
    ]
    alice.run("remove", "-f", f"{login}/doomed/1.0")
    assert api_json(alice, f"/package/{login}/doomed")["versions"] == ["2.0"]
    alice.run("remove", "-f", f"{login}/doomed")
    assert httpx.get(f"{alice.api_url}/package/{login}/doomed", timeout=30).status_code == 404


def test_tokens(alice: Anaconda, users: dict[str, str], live_server: LiveServer, fixtures: Path) -> None:
    created = alice.run(
        "org",
        "auth",
        "--create",
        "--name",
        "ci-download",
        "--scopes",
        "conda:download",
        input="secret-pass-1\n",
    )
    token = created.stdout.strip().splitlines()[-1]
    assert token.replace("-", "").isalnum()
    listing = alice.output("org", "auth", "--list")
    assert "ci-download" in listing and "conda:download" in listing

    # the download-only token may download but not upload
    path = build_conda(fixtures, name="scoped", version="1.0", subdir="noarch", fmt="tar.bz2")
    alice.run("upload", str(path))
    other = Anaconda(alice.home.parent / "token-user", alice.api_url).configure()
    refused = other.run(
        "upload",
        str(build_conda(fixtures, name="scoped", version="2.0", subdir="noarch")),
        token=token,
        check=False,
    )
    assert refused.returncode != 0
    dl = alice.home.parent / "token-dl"
    dl.mkdir()
    other.run("download", f"{users['alice']}/scoped", token=token, cwd=dl)
    assert (dl / "noarch" / path.name).read_bytes() == path.read_bytes()

    alice.run("org", "auth", "--remove", "ci-download")
    assert "ci-download" not in alice.output("org", "auth", "--list")
    assert (
        httpx.get(
            f"{alice.api_url}/user", headers={"Authorization": f"token {token}"}, timeout=30
        ).status_code
        == 401
    )


def test_package_create_and_search(alice: Anaconda, users: dict[str, str]) -> None:
    login = users["alice"]
    alice.run(
        "package", "--create", f"{login}/empty-thing", "--summary", "An empty thing", "--license", "MIT"
    )
    pkg = api_json(alice, f"/package/{login}/empty-thing")
    assert pkg["summary"] == "An empty thing" and pkg["license"] == "MIT"
    out = alice.output("search", "empty-thing")
    assert f"{login}/empty-thing" in out


def test_logout_revokes_the_token(live_server: LiveServer, users: dict[str, str], tmp_path: Path) -> None:
    client = Anaconda(tmp_path, live_server.api).configure().login(users["carol"], "secret-pass-1")
    token = stored_token(client)
    # Logging in again from the same machine: the server answers 400 "exists", the client asks, we say yes,
    # and the old token is replaced.
    again = client.run(
        "org",
        "login",
        "--username",
        users["carol"],
        "--password",
        "secret-pass-1",
        "--hostname",
        "testhost",
        input="y\n",
    )
    assert "already logged in" in again.stderr
    assert (
        httpx.get(
            f"{live_server.api}/user", headers={"Authorization": f"token {token}"}, timeout=30
        ).status_code
        == 401
    )
    token = stored_token(client)
    client.run("org", "logout")
    response = httpx.get(f"{live_server.api}/user", headers={"Authorization": f"token {token}"}, timeout=30)
    assert response.status_code == 401
    assert json.loads(response.text)["error"]
