"""A private Python index driven by the real twine, pip and uv."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_sdist, build_wheel
from tests.clients.anaconda import clients_bin
from tests.conftest import ADMIN_PASSWORD, LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("pypi")]
PASSWORD = "secret-pass-1"


def tool_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_"))}
    env.update(
        HOME=str(home),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(home / "uv-cache"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
    )
    return env


def run(home: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(clients_bin() / cmd[0]), *cmd[1:]],
        env=tool_env(home),
        text=True,
        capture_output=True,
        timeout=180,
        cwd=home,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def token_for(server: LiveServer, login: str, scopes: list[str] | None = None) -> str:
    response = httpx.post(
        f"{server.api}/authentications",
        auth=(login, PASSWORD),
        json={"note": f"t-{uuid.uuid4().hex[:6]}", "scopes": scopes},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> str:
    login = f"py{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    return login


@pytest.fixture(scope="module")
def token(live_server: LiveServer, owner: str) -> str:
    return token_for(live_server, owner)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dists")
    out = {}
    for key, kwargs in {
        "lib1": {"name": "pk-lib", "version": "1.0"},
        "lib2": {"name": "pk-lib", "version": "2.0", "requires_python": ">=3.99"},
        "app": {"name": "pk-app", "version": "0.5", "requires_dist": ["pk-lib>=1.0"]},
        "yank1": {"name": "pk-yank", "version": "1.0"},
        "yank2": {"name": "pk-yank", "version": "2.0"},
    }.items():
        folder = d / key
        folder.mkdir()
        out[key] = build_wheel(
            folder,
            modules={
                f"{kwargs['name'].replace('-', '_')}/__init__.py": f"VERSION = {kwargs['version']!r}\n".encode()
            },
            **kwargs,
        )
    sdist_dir = d / "sdist"
    sdist_dir.mkdir()
    out["sdist"] = build_sdist(sdist_dir, name="pk-lib", version="1.0")
    return out


def twine(home: Path, url: str, user: str, password: str, *files: Path, check: bool = True):
    return run(
        home,
        "twine",
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--repository-url",
        url,
        "-u",
        user,
        "-p",
        password,
        *map(str, files),
        check=check,
    )


@pytest.fixture(scope="module")
def published(
    live_server: LiveServer,
    owner: str,
    token: str,
    dists: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """The module's index, uploaded with the real twine through both upload URLs and both token forms.

    A fixture rather than the first test, so every test stands alone wherever the test runner puts it.
    """
    home = tmp_path_factory.mktemp("twine")
    twine(home, f"{live_server.url}/pypi/{owner}/", token, "x-auth-token", dists["lib1"], dists["sdist"])
    twine(
        home,
        f"{live_server.url}/api/repo/{owner}",
        "__token__",
        token,
        dists["lib2"],
        dists["app"],
        dists["yank1"],
        dists["yank2"],
    )
    return dists


def test_twine_uploads_with_tokens_to_both_urls(
    live_server: LiveServer, owner: str, token: str, published: dict[str, Path], tmp_path: Path
) -> None:
    dists = published
    files = httpx.get(
        f"{live_server.url}/pypi/{owner}/simple/pk-lib/",
        timeout=30,
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    ).json()["files"]
    assert {f["filename"] for f in files} == {dists["lib1"].name, dists["sdist"].name, dists["lib2"].name}
    # an identical re-upload is fine, as on PyPI
    twine(tmp_path, f"{live_server.url}/pypi/{owner}", token, "x-auth-token", dists["lib1"])
    folder = tmp_path / "other"
    folder.mkdir()
    clash = build_wheel(
        folder, name="pk-lib", version="1.0", metadata_overrides={"Summary": "different bytes"}
    )
    refused = twine(tmp_path, f"{live_server.url}/pypi/{owner}/", token, "x-auth-token", clash, check=False)
    assert refused.returncode != 0
    assert "409" in refused.stdout + refused.stderr
    assert (
        "File already exists"
        in httpx.post(
            f"{live_server.url}/pypi/{owner}/",
            auth=(token, "x-auth-token"),
            data={":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel"},
            files={"content": (clash.name, clash.read_bytes())},
            timeout=30,
        ).text
    )  # what twine's --skip-existing looks for (twine 7 allows that flag only for pypi.org)
    bad_token = twine(
        tmp_path,
        f"{live_server.url}/pypi/{owner}/",
        "py-nope-nope-nope-nope",
        "x-auth-token",
        dists["lib1"],
        check=False,
    )
    assert bad_token.returncode != 0
    assert "401" in bad_token.stdout + bad_token.stderr


def test_wrong_digest_is_refused(
    live_server: LiveServer, owner: str, token: str, dists: dict[str, Path], published: dict[str, Path]
) -> None:
    data = dists["lib1"].read_bytes()
    response = httpx.post(
        f"{live_server.url}/pypi/{owner}/",
        auth=(token, "x-auth-token"),
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "filetype": "bdist_wheel",
            "name": "pk-lib",
            "version": "1.0",
            "sha256_digest": hashlib.sha256(b"other").hexdigest(),
        },
        files={"content": (dists["lib1"].name, data, "application/octet-stream")},
        timeout=30,
    )
    assert response.status_code == 400
    assert "digest" in response.text


def test_pip_and_uv_install_public(
    live_server: LiveServer, owner: str, tmp_path: Path, published: dict[str, Path]
) -> None:
    index = f"{live_server.url}/pypi/{owner}/simple"
    run(tmp_path, "pip", "install", "--index-url", index, "--target", str(tmp_path / "pip"), "pk-app")
    assert (
        tmp_path / "pip/pk_lib/__init__.py"
    ).read_text() == "VERSION = '1.0'\n"  # 2.0 needs Python >= 3.99
    assert (tmp_path / "pip/pk_app/__init__.py").exists()
    versions = run(tmp_path, "pip", "index", "versions", "--index-url", index, "pk-lib").stdout
    assert "1.0" in versions
    assert "2.0" not in versions
    before = live_server.log.read_text()
    run(
        tmp_path,
        "uv",
        "pip",
        "install",
        "--python",
        str(clients_bin() / "python"),
        "--index-url",
        index,
        "--target",
        str(tmp_path / "uv"),
        "pk-app",
    )
    assert (tmp_path / "uv/pk_lib/__init__.py").read_text() == "VERSION = '1.0'\n"
    assert ".whl.metadata" in live_server.log.read_text()[len(before) :]  # uv read PEP 658 metadata
    run(
        tmp_path,
        "pip",
        "download",
        "--index-url",
        index,
        "--no-deps",
        "-d",
        str(tmp_path / "dl"),
        "pk-lib==1.0",
    )
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["pk_lib-1.0-py3-none-any.whl"]


def test_the_index_url_as_the_seeds_write_it_without_simple(
    live_server: LiveServer, owner: str, tmp_path: Path, published: dict[str, Path]
) -> None:
    """Seeds 001/002 give `http://HOST/pypi/OWNER` as the pip URL: pip and uv install from it as from /simple."""
    bare = f"{live_server.url}/pypi/{owner}"
    run(tmp_path, "pip", "install", "--index-url", bare, "--target", str(tmp_path / "pip"), "pk-app")
    assert (tmp_path / "pip/pk_lib/__init__.py").read_text() == "VERSION = '1.0'\n"
    run(
        tmp_path, "uv", "pip", "install", "--python", str(clients_bin() / "python"), "--index-url", bare,
        "--target", str(tmp_path / "uv"), "pk-app",
    )  # fmt: skip
    assert (tmp_path / "uv/pk_app/__init__.py").exists()


def test_yanked_files_are_skipped_unless_pinned(
    live_server: LiveServer,
    owner: str,
    token: str,
    dists: dict[str, Path],
    tmp_path: Path,
    published: dict[str, Path],
) -> None:
    response = httpx.post(
        f"{live_server.api}/yank/{owner}/pk-yank/2.0/{dists['yank2'].name}",
        headers={"Authorization": f"token {token}"},
        json={"reason": "broken"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    index = f"{live_server.url}/pypi/{owner}/simple"
    run(tmp_path, "pip", "install", "--index-url", index, "--target", str(tmp_path / "a"), "pk-yank")
    assert (tmp_path / "a/pk_yank/__init__.py").read_text() == "VERSION = '1.0'\n"
    run(tmp_path, "pip", "install", "--index-url", index, "--target", str(tmp_path / "b"), "pk-yank==2.0")
    assert (tmp_path / "b/pk_yank/__init__.py").read_text() == "VERSION = '2.0'\n"
    page = httpx.get(f"{index}/pk-yank/", timeout=30).text
    assert 'data-yanked="broken"' in page


def test_private_index_with_path_token_and_basic_auth(
    live_server: LiveServer, tmp_path: Path, dists: dict[str, Path]
) -> None:
    login = f"priv{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    upload_token = token_for(live_server, login, ["pypi:upload"])
    read_token = token_for(live_server, login, ["pypi:download"])
    # pypi:upload may upload through twine, but not through the REST API
    twine(
        tmp_path,
        f"{live_server.url}/api/repo/{login}",
        upload_token,
        "x-auth-token",
        dists["lib1"],
        dists["app"],
    )
    for project in ("pk-lib", "pk-app"):
        response = httpx.post(
            f"{live_server.api}/packages/{login}/access",
            auth=(login, PASSWORD),
            json={"packages": [project], "access": "private"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    anonymous = httpx.get(f"{live_server.url}/pypi/{login}/simple/pk-lib/", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(f"{live_server.url}/pypi/{login}/simple/", timeout=30).status_code == 401

    failed = run(
        tmp_path,
        "pip",
        "install",
        "--no-input",
        "--index-url",
        f"{live_server.url}/pypi/{login}/simple",
        "--target",
        str(tmp_path / "x"),
        "pk-app",
        check=False,
    )
    assert failed.returncode != 0
    host = live_server.url.split("://", 1)[1]
    for index in (
        f"{live_server.url}/pypi/t/{read_token}/{login}/simple",
        f"{live_server.url}/pypi/t/{read_token}/{login}",  # the seeds' form, without /simple
        f"http://{read_token}:x-auth-token@{host}/api/repo/{login}/simple",
    ):
        target = tmp_path / f"t{abs(hash(index))}"
        run(tmp_path, "pip", "install", "--index-url", index, "--target", str(target), "pk-app")
        assert (target / "pk_lib/__init__.py").exists()  # a private dependency of a private project
        target = tmp_path / f"u{abs(hash(index))}"
        run(
            tmp_path,
            "uv",
            "pip",
            "install",
            "--python",
            str(clients_bin() / "python"),
            "--index-url",
            index,
            "--target",
            str(target),
            "pk-app",
        )
        assert (target / "pk_app/__init__.py").exists()


def test_admin_can_upload_for_a_user_and_names_normalise(
    live_server: LiveServer, owner: str, tmp_path: Path, published: dict[str, Path]
) -> None:
    index = f"{live_server.url}/pypi/{owner}/simple"
    redirect = httpx.get(f"{index}/PK_Lib/", timeout=30, follow_redirects=True)
    assert redirect.status_code == 200
    assert str(redirect.url).endswith("/simple/pk-lib/")
    assert (
        httpx.get(
            f"{index}/pk-lib/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30
        ).json()["name"]
        == "pk-lib"
    )
    assert int(httpx.get(f"{index}/pk-lib/", timeout=30).headers["x-pypi-last-serial"]) > 0
    folder = tmp_path / "adm"
    folder.mkdir()
    wheel = build_wheel(folder, name="pk-admin", version="1.0")
    twine(tmp_path, f"{live_server.url}/pypi/{owner}/", "admin", ADMIN_PASSWORD, wheel)
    assert httpx.get(f"{index}/pk-admin/", timeout=30).status_code == 200


def test_write_group_member_cannot_shadow_a_project_with_a_name_variant(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """Issue #10: twine-uploading `Shared_Lib` must not give `pip download shared-lib` someone else's wheel."""
    tag = uuid.uuid4().hex[:6]
    org, boss, dev = f"acme{tag}", f"boss{tag}", f"dev{tag}"
    for login in (boss, dev):
        live_server.create_user(login, PASSWORD)
    headers = {"Authorization": f"token {token_for(live_server, boss)}"}
    assert (
        httpx.post(f"{live_server.api}/orgs/{org}", headers=headers, json={}, timeout=30).status_code == 201
    )
    group = f"{live_server.api}/group/{org}/devs"
    assert httpx.post(group, headers=headers, json={"perms": "write"}, timeout=30).status_code == 204
    assert httpx.put(f"{group}/members/{dev}", headers=headers, timeout=30).status_code == 204
    built = {}
    for name, version in (("shared-lib", "1.0"), ("Shared_Lib", "9.0")):
        folder = tmp_path / f"{name}-{version}"
        folder.mkdir()
        built[name] = build_wheel(folder, name=name, version=version)
    upload_url = f"{live_server.url}/pypi/{org}/"
    twine(tmp_path, upload_url, boss, PASSWORD, built["shared-lib"])
    refused = twine(tmp_path, upload_url, dev, PASSWORD, built["Shared_Lib"], check=False)
    assert refused.returncode != 0
    assert "403" in refused.stdout + refused.stderr
    target = tmp_path / "downloaded"
    index = f"{live_server.url}/pypi/{org}/simple"
    run(tmp_path, "pip", "download", "--no-deps", "--index-url", index, "-d", str(target), "shared-lib")
    assert [p.name for p in target.iterdir()] == [built["shared-lib"].name]


def test_xmlrpc_over_http_and_pip_search(
    live_server: LiveServer, owner: str, tmp_path: Path, published: dict[str, Path]
) -> None:
    import xmlrpc.client

    proxy = xmlrpc.client.ServerProxy(f"{live_server.url}/pypi/{owner}")
    assert "pk-lib" in proxy.list_packages()
    assert proxy.package_releases("pk-lib") == ["1.0", "2.0"]
    urls = proxy.release_urls("pk-lib", "1.0")
    assert {u["packagetype"] for u in urls} == {"bdist_wheel", "sdist"}
    assert proxy.changelog_last_serial() >= max(proxy.list_packages_with_serial().values())
    everything = xmlrpc.client.ServerProxy(f"{live_server.url}/pypi")
    assert any(hit["name"] == "pk-lib" for hit in everything.search({"name": "pk-lib"}))
    found = run(tmp_path, "pip", "search", "--index", f"{live_server.url}/pypi/{owner}", "pk-app")
    assert "pk-app (0.5)" in found.stdout
