"""The install lines of a package page, read in Chromium and run with the real clients: they install.

Each test opens the page, takes the lines for its client by their `data-install` attribute, and runs the text as
a user pasting it into a shell would (`bash -c LINE`, with the real pip, uv and anaconda-client of the clients'
venv first on PATH, and curl; R code with `Rscript -e`). Only where things land comes from the environment
(`PIP_TARGET`, an activated venv, a new uv project, `R_LIBS_USER`, the current folder). conda is driven by
py-rattler, with the channel URL the page shows (main and label channels). For a private package the owner signs
in, mints a token with the command the page gives, and puts it where `<TOKEN>` stands.

The module runs its own server: the packages it needs (public and private; conda, wheel, R source, plain file,
environment) must not change the shared world the other page tests count on.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import rattler

from tests.builders import build_conda, build_r_source, build_wheel
from tests.clients.anaconda import Anaconda, clients_bin
from tests.conftest import start_server
from tests.ui.conftest import PASSWORD, Site, api_token, create_package, sign_in
from tests.unit.api.helpers import upload

pytestmark = [pytest.mark.clients]

OWNER = "ivy-lab"  # a hyphen: uv's index variables must turn it into "_"
PY_CONDA = {
    "joy": True,
    "hush": False,
    "flip": True,
}  # name -> public; each holds a noarch conda package and a wheel
R_PACKAGES = {"joyR": True, "hushR": False, "flipR": True}
FILES = {"notes": True, "hushnotes": False}  # plain files: anaconda download and curl
ENVS = {"labenv": True, "hushenv": False}  # environments: anaconda download, then conda env create --file
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
"""Never the test venv's own python: uv would install into it."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("install-lines")
    server = start_server(tmp)
    try:
        server.create_user(OWNER, PASSWORD)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            token = api_token(client, OWNER)
            for name, public in PY_CONDA.items():
                create_package(client, token, OWNER, name, public=public, summary=f"{name} for the tests")
                folder = tmp / name
                folder.mkdir()
                conda = build_conda(
                    folder,
                    name=name,
                    version="1.0",
                    noarch="generic",
                    files={f"share/{name}/hello.txt": b"hi\n"},
                )
                wheel = build_wheel(folder, name=name, version="1.0")
                for path, basename, kind in (
                    (conda, f"noarch/{conda.name}", "conda"),
                    (wheel, wheel.name, "pypi"),
                ):
                    committed = upload(client, token, OWNER, name, "1.0", path, basename, kind, create=False)
                    assert committed.status_code == 200, committed.text
                beta = build_conda(  # only under the dev label: the page's label line must reach it
                    folder,
                    name=name,
                    version="2.0b1",
                    noarch="generic",
                    files={f"share/{name}/hello.txt": b"beta\n"},
                )
                committed = upload(
                    client, token, OWNER, name, "2.0b1", beta, f"noarch/{beta.name}", "conda", ["dev"], False
                )
                assert committed.status_code == 200, committed.text
            for name, public in R_PACKAGES.items():
                create_package(client, token, OWNER, name, public=public, summary=f"{name} for the tests")
                source = build_r_source(tmp, name=name, version="1.0")
                response = client.post(
                    f"/api/repo/{OWNER}",
                    headers={"X-Auth": token},
                    data={"filetype": "cran_source_package"},
                    files={"content": (source.name, source.read_bytes())},
                )
                assert response.status_code == 200, response.text
            for name, public in {**FILES, **ENVS}.items():
                create_package(client, token, OWNER, name, public=public, summary=f"{name} for the tests")
                kind = "file" if name in FILES else "env"
                path = tmp / name / ("data.csv" if kind == "file" else "environment.yml")
                path.parent.mkdir()
                path.write_bytes(file_bytes(name))
                response = client.post(
                    f"/api/repo/{OWNER}",
                    headers={"X-Auth": token},
                    data={"filetype": kind, "name": name, "version": "1"},
                    files={"content": (path.name, path.read_bytes())},
                )
                assert response.status_code == 200, response.text
        yield Site(server)
    finally:
        server.stop()


def file_bytes(name: str) -> bytes:
    if name in ENVS:
        return f"name: {name}\nchannels:\n  - conda-forge\ndependencies:\n  - python\n".encode()
    return f"sample,{name}\n1,2\n".encode()


# --- reading the page --------------------------------------------------------------------------------------------


@dataclass
class Shown:
    """What a package page tells its reader: lines per program, and the command that mints a token."""

    lines: dict[str, list[str]]
    token_command: str | None

    def line(self, program: str, starts: str = "") -> str:
        found = [line for line in self.lines.get(program, []) if line.startswith(starts)]
        assert found, f"no {program!r} line starting with {starts!r} on the page: {self.lines}"
        return found[0]


def read_page(page, url: str) -> Shown:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    lines: dict[str, list[str]] = {}
    for code in page.locator(".install code[data-install]").all():
        lines.setdefault(code.get_attribute("data-install") or "", []).append(code.inner_text())
    minting = [
        text for text in page.locator(".install .note code").all_inner_texts() if "anaconda auth" in text
    ]
    return Shown(lines, minting[0] if minting else None)


def read_as(site: Site, browser, path: str, login: str | None = None) -> Shown:
    context = browser.new_context()
    try:
        page = context.new_page()
        if login:
            sign_in(page, site, login)
        return read_page(page, f"{site.url}{path}")
    finally:
        context.close()


def with_token(line: str, token: str) -> str:
    assert "<TOKEN>" in line, f"a private package's line without the token placeholder: {line}"
    return line.replace("<TOKEN>", token)


@pytest.fixture(scope="module")
def public_page(site: Site, browser) -> Shown:
    return read_as(site, browser, f"/{OWNER}/joy")


@pytest.fixture(scope="module")
def private_page(site: Site, browser, tmp_path_factory: pytest.TempPathFactory) -> tuple[Shown, str]:
    """The private package's page as its signed-in owner, and a token minted as the page says."""
    shown = read_as(site, browser, f"/{OWNER}/hush", OWNER)
    assert shown.token_command, "the page of a private package says how to get a token"
    words = shlex.split(shown.token_command)
    assert words[:3] == ["anaconda", "auth", "--create"], words
    anaconda = (
        Anaconda(tmp_path_factory.mktemp("anaconda"), site.server.api).configure().login(OWNER, PASSWORD)
    )
    printed = anaconda.run(*words[1:], input=f"{PASSWORD}\n").stdout.strip()  # it asks for the password again
    token = printed.splitlines()[-1].strip()
    assert re.fullmatch(r"[A-Za-z0-9-]{16,}", token), printed
    return shown, token


# --- running the real clients ------------------------------------------------------------------------------------


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: the machine's pip/uv configuration (extra indexes, find-links) must not help."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "R_"))}
    env.update(
        HOME=str(home),
        PATH=f"{clients_bin()}:/usr/bin:/bin",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(home / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
        LANG="C.UTF-8",
    )
    env.update(extra)
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True, timeout=300)
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def shell(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The line as pasted into a shell."""
    return run(["bash", "-c", line], cwd, env)


def rscript(code: str, cwd: Path, env: dict[str, str]) -> str:
    found = shutil.which("Rscript")
    if found is None:
        pytest.fail("Rscript is not installed: `apt-get install r-base-core` (.ci/run does it)")
    return run([found, "--vanilla", "-e", code], cwd, env).stdout


def pip_installs(line: str, name: str, tmp: Path) -> None:
    target = tmp / "target"
    shell(line, tmp, client_env(tmp, PIP_TARGET=str(target)))
    assert (target / name / "__init__.py").is_file(), sorted(p.name for p in target.iterdir())
    assert (target / f"{name}-1.0.dist-info").is_dir()


def uv_pip_installs(line: str, name: str, tmp: Path) -> None:
    env = client_env(tmp)
    run([str(clients_bin() / "uv"), "venv", "--python", BASE_PYTHON, str(tmp / "venv")], tmp, env)
    env.update(VIRTUAL_ENV=str(tmp / "venv"))
    shell(line, tmp, env)
    out = run([str(tmp / "venv/bin/python"), "-c", f"import {name}; print({name}.__file__)"], tmp, env).stdout
    assert str(tmp / "venv") in out


def uv_add_installs(line: str, name: str, tmp: Path) -> Path:
    """`uv add` in a new project: the package lands in the project's venv and in its lock file."""
    project = tmp / "project"
    env = client_env(tmp, UV_PYTHON=BASE_PYTHON)  # only the interpreter the project's new .venv is made from
    run([str(clients_bin() / "uv"), "init", "--bare", "--name", "proj", "--no-workspace"], project, env)
    shell(line, project, env)
    out = run(
        [str(project / ".venv/bin/python"), "-c", f"import {name}; print({name}.__file__)"], project, env
    )
    assert str(project / ".venv") in out.stdout
    assert f'name = "{name}"' in (project / "uv.lock").read_text()
    return project


def conda_installs(line: str, name: str, tmp: Path, version: str = "1.0", content: str = "hi\n") -> str:
    """The channel is taken from the shown `conda install --channel URL NAME` line; py-rattler solves and installs
    from it. Its own thread: the browser's loop is running in this one."""
    words = shlex.split(line)
    assert words[:2] == ["conda", "install"] and words[-1] == name, words
    channel = words[words.index("--channel") + 1]
    prefix = tmp / "prefix"

    async def solve_and_install() -> list[str]:
        gateway = rattler.Gateway(cache_dir=tmp / "cache")
        records = await rattler.solve(
            sources=[channel],
            specs=[name],
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
            gateway=gateway,
        )
        await rattler.install(
            records, target_prefix=prefix, cache_dir=tmp / "cache/pkgs", show_progress=False
        )
        return [f"{r.name.normalized}={r.version}" for r in records]

    with ThreadPoolExecutor(1) as pool:
        installed = pool.submit(asyncio.run, solve_and_install()).result(timeout=300)
    assert installed == [f"{name}={version}"]
    assert (prefix / "share" / name / "hello.txt").read_text() == content
    return channel


def r_installs(line: str, name: str, tmp: Path) -> None:
    lib = tmp / "rlib"
    lib.mkdir()
    env = client_env(tmp, R_LIBS_USER=str(lib))
    rscript(line, tmp, env)
    out = rscript(f'library({name}, lib.loc = "{lib}"); cat(hello())', tmp, env)
    assert "hello from the demo R package" in out


# --- public packages ---------------------------------------------------------------------------------------------


def test_public_pip_line_installs(public_page: Shown, tmp_path: Path) -> None:
    line = public_page.line("pip")
    assert "<TOKEN>" not in line
    pip_installs(line, "joy", tmp_path)


def test_public_uv_lines_install(public_page: Shown, tmp_path: Path) -> None:
    uv_pip_installs(public_page.line("uv", "uv pip install"), "joy", tmp_path / "pip")
    uv_add_installs(public_page.line("uv", "uv add"), "joy", tmp_path / "add")


def test_public_conda_channel_installs_with_rattler(public_page: Shown, site: Site, tmp_path: Path) -> None:
    channel = conda_installs(public_page.line("conda"), "joy", tmp_path)
    assert channel.startswith(site.url) and "<TOKEN>" not in channel


def test_public_label_channel_installs_the_labelled_version(public_page: Shown, tmp_path: Path) -> None:
    words = shlex.split(public_page.line("conda", "conda install --channel"))
    main = words[words.index("--channel") + 1]
    labelled = [line for line in public_page.lines["conda"] if "/label/dev " in line]
    assert len(labelled) == 1, public_page.lines["conda"]
    channel = conda_installs(labelled[0], "joy", tmp_path / "dev", "2.0b1", "beta\n")
    assert channel == f"{main}/label/dev"  # the main channel's URL, one label down


def test_public_r_line_installs(site: Site, browser, tmp_path: Path) -> None:
    shown = read_as(site, browser, f"/{OWNER}/joyR")
    r_installs(shown.line("R"), "joyR", tmp_path)


# --- private packages, as their signed-in owner ------------------------------------------------------------------


def test_private_pip_line_installs_with_the_token_in_place(
    private_page: tuple[Shown, str], tmp_path: Path
) -> None:
    shown, token = private_page
    line = shown.line("pip")
    anonymous = tmp_path / "anonymous"
    refused = subprocess.run(
        ["bash", "-c", line.replace("<TOKEN>", "not-a-token")],
        cwd=tmp_path,
        env=client_env(tmp_path, PIP_TARGET=str(anonymous)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0 and not (anonymous / "hush").exists()  # the token is what lets it in
    pip_installs(with_token(line, token), "hush", tmp_path)


def test_private_uv_lines_install(private_page: tuple[Shown, str], tmp_path: Path) -> None:
    shown, token = private_page
    uv_pip_installs(with_token(shown.line("uv", "uv pip install"), token), "hush", tmp_path / "pip")
    add = shown.line("uv", "UV_INDEX_")
    assert "UV_INDEX_IVY_LAB_USERNAME=" in add and "UV_INDEX_IVY_LAB_PASSWORD=<TOKEN>" in add
    project = uv_add_installs(with_token(add, token), "hush", tmp_path / "add")
    for kept in ("pyproject.toml", "uv.lock"):  # what gets committed never holds the token
        assert token not in (project / kept).read_text(), kept


def test_private_conda_channel_installs_with_rattler(
    private_page: tuple[Shown, str], site: Site, tmp_path: Path
) -> None:
    shown, token = private_page
    line = shown.line("conda")
    assert "/t/<TOKEN>/" in line
    channel = conda_installs(with_token(line, token), "hush", tmp_path)
    assert channel.startswith(f"{site.url}/t/{token}/")
    labelled = [line for line in shown.lines["conda"] if "/label/dev " in line]
    assert len(labelled) == 1 and "/t/<TOKEN>/" in labelled[0], shown.lines["conda"]
    conda_installs(with_token(labelled[0], token), "hush", tmp_path / "dev", "2.0b1", "beta\n")


def test_private_r_line_installs(
    site: Site, browser, private_page: tuple[Shown, str], tmp_path: Path
) -> None:
    _, token = private_page
    shown = read_as(site, browser, f"/{OWNER}/hushR", OWNER)
    r_installs(with_token(shown.line("R"), token), "hushR", tmp_path)


# --- files and environments: anaconda-client and curl ------------------------------------------------------------


def anaconda_env(home: Path) -> dict[str, str]:
    """anaconda-client with a config of its own (the page's `anaconda config --set url` line writes it)."""
    env = Anaconda(home, "").env()
    env["PATH"] = f"{clients_bin()}:/usr/bin:/bin"
    return env


def downloads(shown: Shown, name: str, tmp: Path, token: str | None = None) -> Path:
    """Run every anaconda and curl line of the page in a new folder; each fetches the file as uploaded."""

    def fill(line: str) -> str:
        return line.replace("<TOKEN>", token) if token else line

    expected = file_bytes(name)
    out = tmp / "anaconda"
    env = anaconda_env(tmp / "home")
    for line in shown.lines["anaconda"]:
        shell(fill(line), out, env)
    saved = [path for path in out.iterdir() if path.read_bytes() == expected]
    assert len(saved) == 1, sorted(p.name for p in out.iterdir())
    for line in shown.lines.get("curl", []):
        shell(fill(line), tmp / "curl", env)
        assert [p.read_bytes() for p in (tmp / "curl").iterdir()] == [expected]
    return saved[0]


def test_public_file_lines_download(site: Site, browser, tmp_path: Path) -> None:
    shown = read_as(site, browser, f"/{OWNER}/notes")
    assert shown.lines.get("curl"), shown.lines
    assert downloads(shown, "notes", tmp_path).name == "data.csv"


def test_private_file_lines_download_with_the_token_in_place(
    site: Site, browser, private_page: tuple[Shown, str], tmp_path: Path
) -> None:
    _, token = private_page
    shown = read_as(site, browser, f"/{OWNER}/hushnotes", OWNER)
    assert any(line.startswith("anaconda -t <TOKEN> download") for line in shown.lines["anaconda"])
    assert all("/t/<TOKEN>/" in line for line in shown.lines["curl"])
    downloads(shown, "hushnotes", tmp_path, token)


@pytest.mark.parametrize("name", list(ENVS))
def test_environment_lines_download_the_file_conda_env_create_is_given(
    site: Site, browser, private_page: tuple[Shown, str], tmp_path: Path, name: str
) -> None:
    """conda itself is not on these machines: the test checks that the file `conda env create --file` names is
    the environment, as `anaconda download` saved it."""
    public = ENVS[name]
    shown = read_as(site, browser, f"/{OWNER}/{name}", None if public else OWNER)
    saved = downloads(shown, name, tmp_path, None if public else private_page[1])
    words = shlex.split(shown.line("conda", "conda env create"))
    assert words[:4] == ["conda", "env", "create", "--file"] and words[4] == saved.name


# --- "make private" in the browser (issue #13): the anonymous channel stops, the token URL installs ---------------


def _make_private_in_the_browser(site: Site, browser, name: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, site, OWNER)
        page.goto(f"{site.url}/{OWNER}/{name}/settings/admin")
        page.check("#a-private")
        page.click("form[action$='/access'] button[type=submit]")
        page.wait_for_load_state()
    finally:
        context.close()
    assert httpx.get(f"{site.url}/api/package/{OWNER}/{name}", timeout=30).status_code in (401, 404)


def test_made_private_in_the_browser_conda_and_r_need_the_token(
    site: Site, browser, private_page: tuple[Shown, str], tmp_path: Path
) -> None:
    _, token = private_page
    public = read_as(site, browser, f"/{OWNER}/flip")
    conda_line, r_shown = public.line("conda"), read_as(site, browser, f"/{OWNER}/flipR")
    r_line = r_shown.line("R")
    conda_installs(conda_line, "flip", tmp_path / "before")  # public: the anonymous channel installs it
    _make_private_in_the_browser(site, browser, "flip")
    _make_private_in_the_browser(site, browser, "flipR")
    with pytest.raises(Exception):  # noqa: B017 - rattler's solve error: the channel no longer has it
        conda_installs(conda_line, "flip", tmp_path / "anonymous")
    private = read_as(site, browser, f"/{OWNER}/flip", OWNER)
    conda_installs(with_token(private.line("conda"), token), "flip", tmp_path / "token")
    lib = tmp_path / "r-anonymous"
    lib.mkdir()
    subprocess.run(
        [shutil.which("Rscript") or "Rscript", "--vanilla", "-e", r_line], cwd=tmp_path,
        env=client_env(tmp_path, R_LIBS_USER=str(lib)), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert not (lib / "flipR").exists()  # R finds no such package in the anonymous repository
    r_private = read_as(site, browser, f"/{OWNER}/flipR", OWNER)
    (tmp_path / "r-token").mkdir()
    r_installs(with_token(r_private.line("R"), token), "flipR", tmp_path / "r-token")
