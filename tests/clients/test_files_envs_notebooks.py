"""Plain files, environments, notebooks and projects against a live server, with the real clients.

anaconda-client uploads and downloads files; it refuses to upload notebooks, environments and projects (1.16), so
those go through the one-request REST upload (curl's request, sent with httpx) and through binstar_client's own
`Binstar.upload(..., distribution_type=...)`; `anaconda download` fetches them. py-rattler builds an environment
from an environment.yml served by /envs whose dependencies live in a Packyard conda channel.
"""

from __future__ import annotations

import subprocess
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.builders import build_conda
from tests.clients.anaconda import Anaconda, clients_bin
from tests.clients.test_conda_rattler import solve_and_install
from tests.conftest import LiveServer
from tests.unit.formats.named_support import assert_no_script, env_yaml, notebook_bytes, project_tar_gz

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("files")]
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> str:
    login = f"files{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    return login


@pytest.fixture(scope="module")
def client(live_server: LiveServer, owner: str, tmp_path_factory: pytest.TempPathFactory) -> Anaconda:
    home = tmp_path_factory.mktemp("files-client")
    return Anaconda(home, live_server.api).configure().login(owner, PASSWORD)


@pytest.fixture(scope="module")
def token(live_server: LiveServer, owner: str) -> str:
    response = httpx.post(
        f"{live_server.api}/authentications", auth=(owner, PASSWORD), json={"note": "files"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def rest_upload(
    live_server: LiveServer, token: str, owner: str, filetype: str, path: Path, **fields: str
) -> httpx.Response:
    """curl -F filetype=... -F name=... -F content=@FILE -H "Authorization: token T" HOST/api/repo/OWNER"""
    with path.open("rb") as fh:
        return httpx.post(
            f"{live_server.url}/api/repo/{owner}",
            headers={"Authorization": f"token {token}"},
            data={"filetype": filetype, **fields},
            files={"content": (path.name, fh)},
            timeout=60,
        )


def make_private(live_server: LiveServer, token: str, owner: str, name: str) -> None:
    response = httpx.patch(
        f"{live_server.api}/package/{owner}/{name}",
        headers={"Authorization": f"token {token}"},
        json={"public": False},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def assert_private(url: str, token: str, expected: bytes | None = None) -> None:
    """Anonymous: the 404 a missing name gets (a private name is never confirmed); 200 with the token in the path,
    as Basic, and as `Authorization: token`."""
    anonymous = httpx.get(url, timeout=30)
    missing = httpx.get(url.replace("/secret-", "/missing-"), timeout=30)
    assert anonymous.status_code == missing.status_code == 404, url
    base, path = url.split("/", 3)[2], url.split("/", 3)[3]
    for response in (
        httpx.get(f"http://{base}/t/{token}/{path}", timeout=30),
        httpx.get(url, auth=(token, "x-auth-token"), timeout=30),
        httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=30),
    ):
        assert response.status_code == 200, (url, response.status_code, response.text[:200])
        if expected is not None:
            assert response.content == expected


# --- plain files ------------------------------------------------------------------------------------------------


def test_data_files_upload_label_list_and_download(
    client: Anaconda, owner: str, live_server: LiveServer, tmp_path: Path
) -> None:
    csv = tmp_path / "baby-names1.csv"
    csv.write_bytes(b"name,count\nAda,3\nGrace,5\n\xc3\x89mile,1\n")
    tsv = tmp_path / "baby-names1.tsv"
    tsv.write_bytes(b"name\tcount\r\nAda\t3\r\n")
    txt = tmp_path / "notes-dev.txt"
    txt.write_bytes(b"work in progress\n")
    client.run("package", "--create", f"{owner}/baby-names")
    client.run("upload", "-u", owner, "-p", "baby-names", "-t", "file", "-v", "1", str(csv))
    client.run("upload", "-p", "baby-names", "--package-type", "file", "--version", "1", str(tsv))
    client.run("upload", "-p", "baby-names", "-t", "file", "-v", "2", "--label", "dev", str(txt))

    files = httpx.get(f"{live_server.api}/package/{owner}/baby-names", timeout=30).json()["files"]
    assert {(f["basename"], f["version"], tuple(f["labels"]), f["type"]) for f in files} == {
        ("baby-names1.csv", "1", ("main",), "file"),
        ("baby-names1.tsv", "1", ("main",), "file"),
        ("notes-dev.txt", "2", ("dev",), "file"),
    }
    dev = httpx.get(f"{live_server.api}/channels/{owner}/dev", timeout=30).json()
    assert [f["basename"] for f in dev["files"]] == ["notes-dev.txt"]
    for path, version in ((csv, "1"), (tsv, "1"), (txt, "2")):
        url = f"{live_server.url}/{owner}/baby-names/{version}/download/{path.name}"
        assert httpx.get(url, timeout=30).content == path.read_bytes(), url
    assert "baby-names" in client.output("show", f"{owner}/baby-names")

    out = tmp_path / "download"
    out.mkdir()
    client.run("download", f"{owner}/baby-names", cwd=out)
    for path in (csv, tsv, txt):
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


# --- environments -----------------------------------------------------------------------------------------------


def test_environment_rest_upload_and_anaconda_download(
    client: Anaconda, owner: str, token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, deps in ((old, "  - python\n"), (new, "  - python\n  - numpy\n")):
        folder.mkdir()
        (folder / "environment.yml").write_bytes(env_yaml("dataenv", deps))
    assert (
        rest_upload(live_server, token, owner, "env", old / "environment.yml", version="1").status_code == 200
    )
    assert (
        rest_upload(live_server, token, owner, "env", new / "environment.yml", version="2").status_code == 200
    )

    listed = httpx.get(f"{live_server.url}/envs/{owner}", timeout=30).json()
    assert [(e["name"], e["versions"]) for e in listed] == [("dataenv", ["1", "2"])]
    served = httpx.get(f"{live_server.url}/envs/{owner}/dataenv", timeout=30)
    assert served.status_code == 200 and served.content == (new / "environment.yml").read_bytes()

    out = tmp_path / "download"
    out.mkdir()
    client.run("download", f"{owner}/dataenv", cwd=out)
    assert (out / "environment.yml").read_bytes() == (new / "environment.yml").read_bytes()


def test_rattler_creates_an_environment_from_a_served_environment_yml(
    client: Anaconda, owner: str, token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "pkgs"
    folder.mkdir()
    tool = build_conda(
        folder,
        name="envtool",
        version="1.2",
        subdir="noarch",
        fmt="conda",
        noarch="generic",
        files={"share/envtool/hello.txt": b"hello from envtool\n"},
    )
    client.run("upload", str(tool))
    channel = f"{live_server.url}/conda/{owner}"
    environment = tmp_path / "environment.yml"
    environment.write_text(f"name: toolenv\nchannels:\n  - {channel}\ndependencies:\n  - envtool >=1.2\n")
    assert rest_upload(live_server, token, owner, "env", environment).status_code == 200

    spec = yaml.safe_load(httpx.get(f"{live_server.url}/envs/{owner}/toolenv", timeout=30).content)
    prefix = tmp_path / "env"
    installed = solve_and_install(spec["channels"][0], spec["dependencies"], prefix, tmp_path / "cache")
    assert installed == ["envtool=1.2"]
    assert (prefix / "share/envtool/hello.txt").read_text() == "hello from envtool\n"


# --- notebooks --------------------------------------------------------------------------------------------------


def test_notebook_with_scripts_is_served_without_any(
    owner: str, token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    path = tmp_path / "xss.ipynb"
    path.write_bytes(notebook_bytes(xss=True))
    response = rest_upload(live_server, token, owner, "ipynb", path, name="xss", version="1")
    assert response.status_code == 200, response.text
    page = httpx.get(f"{live_server.url}/notebooks/{owner}/xss", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_no_script(page.text)
    policy = page.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["script-src"] == ["'none'"] and directives["default-src"] == ["'none'"]
    assert "Hello" in page.text and "<b>bold</b>" in page.text
    raw = httpx.get(f"{live_server.url}/notebooks/{owner}/xss/1?download", timeout=30)
    assert raw.content == path.read_bytes()


def test_binstar_upload_with_distribution_type_ipynb(
    client: Anaconda, owner: str, token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    """binstar_client.Binstar.upload(..., distribution_type='ipynb'): the stage/upload/commit flow, for real."""
    path = tmp_path / "staged.ipynb"
    path.write_bytes(notebook_bytes("# Staged through binstar_client"))
    script = textwrap.dedent(
        """
        import sys
        from binstar_client import Binstar
        api_url, token, owner, path = sys.argv[1:]
        api = Binstar(token=token, domain=api_url)
        api.add_package(owner, "staged-nb", summary="a notebook")
        with open(path, "rb") as fh:
            api.upload(owner, "staged-nb", "2024.07", "staged.ipynb", fh, distribution_type="ipynb")
        """
    )
    subprocess.run(
        [str(clients_bin() / "python"), "-c", script, live_server.api, token, owner, str(path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    page = httpx.get(f"{live_server.url}/notebooks/{owner}/staged-nb", timeout=30)
    assert page.status_code == 200 and "Staged through binstar_client" in page.text
    out = tmp_path / "download"
    out.mkdir()
    client.run("download", f"{owner}/staged-nb", cwd=out)
    assert (out / "staged.ipynb").read_bytes() == path.read_bytes()


# --- projects ---------------------------------------------------------------------------------------------------


def test_project_revisions_round_trip(
    client: Anaconda, owner: str, token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    first, second = tmp_path / "1", tmp_path / "2"
    for folder, readme in ((first, b"# v1\n"), (second, b"# v2\n")):
        folder.mkdir()
        (folder / "survey.tar.gz").write_bytes(project_tar_gz([("survey/README.md", readme)]))
        response = rest_upload(live_server, token, owner, "project", folder / "survey.tar.gz", name="survey")
        assert response.status_code == 200, response.text
    info = httpx.get(f"{live_server.api}/projects/{owner}/survey", timeout=30).json()
    assert [r["revision"] for r in info["revisions"]] == ["1", "2"]
    listing = httpx.get(f"{live_server.api}/projects/{owner}/survey/2/files", timeout=30).json()
    assert listing == [{"path": "survey/README.md", "size": 5}]
    for revision, folder in (("1", first), ("2", second)):
        url = f"{live_server.api}/download/{owner}/survey/{revision}/survey.tar.gz"
        assert httpx.get(url, timeout=30).content == (folder / "survey.tar.gz").read_bytes()
    out = tmp_path / "download"
    out.mkdir()
    client.run("download", f"{owner}/survey", cwd=out)
    assert (out / "survey.tar.gz").read_bytes() == (second / "survey.tar.gz").read_bytes()


# --- private ----------------------------------------------------------------------------------------------------


def test_private_notebook_environment_and_project(
    owner: str, token: str, live_server: LiveServer, tmp_path: Path
) -> None:
    notebook = tmp_path / "secret.ipynb"
    notebook.write_bytes(notebook_bytes("# Secret"))
    environment = tmp_path / "environment.yml"
    environment.write_bytes(env_yaml("secret-env"))
    archive = tmp_path / "secret.tar.gz"
    archive.write_bytes(project_tar_gz())
    for filetype, path, name in (
        ("ipynb", notebook, "secret-nb"),
        ("env", environment, "secret-env"),
        ("project", archive, "secret-proj"),
    ):
        response = rest_upload(live_server, token, owner, filetype, path, name=name, version="1")
        assert response.status_code == 200, response.text
        make_private(live_server, token, owner, name)
    url = live_server.url
    assert_private(f"{url}/notebooks/{owner}/secret-nb", token)
    assert_private(f"{url}/notebooks/{owner}/secret-nb/1?download", token, notebook.read_bytes())
    assert_private(f"{url}/envs/{owner}/secret-env", token, environment.read_bytes())
    assert_private(f"{url}/api/projects/{owner}/secret-proj", token)
    assert_private(f"{url}/{owner}/secret-proj/1/download/secret.tar.gz", token, archive.read_bytes())
    assert "secret-env" not in {e["name"] for e in httpx.get(f"{url}/envs/{owner}", timeout=30).json()}
