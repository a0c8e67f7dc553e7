"""`pip install packyard` is the client alone (issue #16): installed into an empty virtualenv from this checkout,
it brings none of the server's libraries, and its `packyard` command logs in, uploads, lists and downloads against a
live server; an operator command there, or `env create` without py-rattler, says which extra to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.conftest import PASSWORD, Account
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-install")

ROOT = Path(__file__).resolve().parents[2]
SERVER_LIBRARIES = ("fastapi", "sqlalchemy", "uvicorn", "alembic", "nbconvert", "boto3", "rattler")


def uv() -> str:
    clients = os.environ.get("PACKYARD_CLIENTS_BIN")
    found = shutil.which("uv", path=clients) if clients else None
    if not found:
        pytest.fail("uv not found: run the suite with `make test` (PACKYARD_CLIENTS_BIN=.venv-clients/bin)")
    return found


@pytest.fixture(scope="module")
def client_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with `packyard` installed as a user would, without extras: the bin folder."""
    work = tmp_path_factory.mktemp("client-install")
    source = work / "source"  # a copy, so the build writes nothing into the checkout
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = work / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        env=env,
        timeout=120,
    )
    done = subprocess.run(
        [uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return venv / "bin"


def run(bin_dir: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PACKYARD_", "XDG_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), COLUMNS="200")
    return subprocess.run(
        [str(bin_dir / "packyard"), *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_client_install_has_none_of_the_server_libraries(client_only: Path) -> None:
    python = str(client_only / "python")
    probe = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))"
    found = subprocess.run(
        [python, "-c", probe, *SERVER_LIBRARIES, "httpx", "typer", "rich", "yaml"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert found.stdout.split() == ["httpx", "typer", "rich", "yaml"]


def test_the_client_install_talks_to_a_server(
    client_only: Path, live_server: LiveServer, account: Account, tmp_path: Path
) -> None:
    assert run(client_only, tmp_path, "--help").returncode == 0
    login = run(
        client_only, tmp_path, "login", "--url", live_server.url, "--username", account.login,
        "--password", PASSWORD,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    who = run(client_only, tmp_path, "whoami")
    assert who.returncode == 0 and who.stdout.startswith(f"{account.login} on {live_server.url}"), who

    data = tmp_path / "notes.txt"
    data.write_text("measured on the client-only install\n")
    sent = run(client_only, tmp_path, "upload", str(data), "--package", "notes", "--version", "1.0")
    assert sent.returncode == 0, sent.stderr
    shown = run(client_only, tmp_path, "show", f"{account.login}/notes", "--json")
    assert shown.returncode == 0 and '"1.0"' in shown.stdout, shown
    got = run(client_only, tmp_path, "download", f"{account.login}/notes/1.0/notes.txt", "-o", "back")
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "back" / "notes.txt").read_bytes() == data.read_bytes()


def test_server_commands_say_which_extra_to_install(
    client_only: Path, live_server: LiveServer, account: Account, tmp_path: Path
) -> None:
    for args in (["serve"], ["user", "list"], ["backup", str(tmp_path / "b")], ["names", "check"]):
        done = run(client_only, tmp_path, *args)
        assert done.returncode == 2, (args, done)
        assert "Traceback" not in done.stderr
        assert "pip install 'packyard[server]'" in " ".join(done.stderr.split()), (args, done.stderr)

    env_file = tmp_path / "environment.yml"
    env_file.write_text("name: tools\nchannels: [conda-forge]\ndependencies: [python]\n")
    token = ["--url", live_server.url, "--token", account.token]
    assert run(client_only, tmp_path, "upload", str(env_file), *token).returncode == 0
    create = run(client_only, tmp_path, "env", "create", f"{account.login}/tools", "-p", "prefix", *token)
    assert create.returncode == 2, create
    assert "Traceback" not in create.stderr
    assert "pip install 'packyard[env]'" in " ".join(create.stderr.split()), create.stderr
