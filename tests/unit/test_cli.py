"""The admin CLI (`packyard ...`) against a migrated data folder."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.cli.main import listener
from packyard.config import Settings
from packyard.core import auth as auth_module
from packyard.core import migrate


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    migrate.upgrade(Settings(data=folder).sqlalchemy_url)
    return folder


def cli(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PACKYARD_DATA": str(data), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_users_orgs_and_tokens(data: Path) -> None:
    cli(data, "user", "create", "alice", "--password", "alice-password")
    cli(data, "user", "create", "bob", "--password", "bob-password", "--admin")
    duplicate = cli(data, "user", "create", "alice", "--password", "alice-password", check=False)
    assert duplicate.returncode == 2
    assert "already taken" in duplicate.stderr
    cli(data, "org", "create", "acme", "--owner", "alice")
    listing = cli(data, "user", "list").stdout
    assert "alice" in listing
    assert "acme" in listing
    assert "org" in listing

    token = cli(
        data, "token", "create", "--user", "alice", "--name", "ci", "-s", "conda:download"
    ).stdout.strip()
    org_token = cli(
        data, "token", "create", "--user", "alice", "--name", "org-ci", "--org", "acme"
    ).stdout.strip()
    client = TestClient(create_app(Settings(data=data)))
    me = client.get("/api/authentication", headers={"Authorization": f"token {token}"}).json()
    assert me["scopes"] == ["conda:download"]
    assert (
        client.get("/api/authentication", headers={"Authorization": f"token {org_token}"}).json()["org"]
        == "acme"
    )

    cli(data, "user", "disable", "alice")
    assert client.get("/api/user", headers={"Authorization": f"token {token}"}).status_code == 401
    cli(data, "user", "disable", "alice", "--enable")
    assert client.get("/api/user", headers={"Authorization": f"token {token}"}).status_code == 200
    not_owner = cli(data, "token", "create", "--user", "bob", "--name", "x", "--org", "acme", check=False)
    assert not_owner.returncode == 0  # bob is a site administrator: administrators may act for any org
    assert cli(data, "user", "disable", "nobody", check=False).returncode == 2


def test_passwd_and_disable_in_another_process_refuse_a_remembered_password(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server remembers a successful password check; the CLI, another process, must still win at once."""
    verified: list[str] = []
    real_verify = auth_module.verify_password

    def counting_verify(account, password: str) -> bool:
        verified.append(password)
        return real_verify(account, password)

    monkeypatch.setattr(auth_module, "verify_password", counting_verify)
    cli(data, "user", "create", "alice", "--password", "alice-password")
    client = TestClient(create_app(Settings(data=data)))
    for _ in range(3):
        assert client.get("/api/user", auth=("alice", "alice-password")).status_code == 200
    assert len(verified) == 1

    cli(data, "user", "disable", "alice")
    assert client.get("/api/user", auth=("alice", "alice-password")).status_code == 401
    cli(data, "user", "disable", "alice", "--enable")
    assert client.get("/api/user", auth=("alice", "alice-password")).status_code == 200

    cli(data, "user", "passwd", "alice", "--password", "other-password")
    assert client.get("/api/user", auth=("alice", "alice-password")).status_code == 401
    assert client.get("/api/user", auth=("alice", "other-password")).status_code == 200
    assert client.get("/api/user", auth=("alice", "other-password")).status_code == 200
    assert len(verified) == 3


def test_workers_share_a_listener_whose_connections_skip_nagle() -> None:
    """`serve --workers N` hands uvicorn's workers our socket: their connections must get TCP_NODELAY
    (without it each keep-alive response waits for the client's delayed ACK, uvicorn#3149)."""
    sock = listener(uvicorn.Config("packyard.app:create_app", factory=True, host="127.0.0.1", port=0))
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        await reader.read()  # the probe closes the connection once it has looked
        writer.close()
        server.close()

    asyncio.run(accept_one())
    assert seen and seen[0] != 0


# --- where the operator CLI finds its data (issue #14 item 7) -----------------------------------------------------

PACKYARD = Path(sys.executable).parent / "packyard"
"""The installed `packyard` command, as cron runs it."""


def packyard(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`packyard ARGS` run from `cwd`, with only the given PACKYARD_* variables (none of the caller's)."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("PACKYARD_") or k == "PACKYARD_CLIENTS_BIN"
    }
    return subprocess.run(
        [str(PACKYARD), *args],
        cwd=cwd,
        env={**clean, "COLUMNS": "200", **env},
        text=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("fsck",),
        ("fsck", "--clean"),
        ("user", "list"),
        ("user", "create", "alice", "--password", "alice-password"),
        ("user", "passwd", "alice", "--password", "alice-password"),
        ("user", "unlock", "alice"),
        ("token", "create", "--user", "alice", "--name", "ci"),
        ("names", "check"),
        ("migrate",),
    ],
)
def test_without_a_data_folder_every_command_says_so_in_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Run from cron's folder with no PACKYARD_DATA: one line naming PACKYARD_DATA, no traceback, nothing created."""
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    result = packyard(elsewhere, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: no Packyard database at ")
    assert (
        str(elsewhere / "packyard-data" / "packyard.db") in result.stderr and "PACKYARD_DATA" in result.stderr
    )
    assert list(elsewhere.iterdir()) == []  # no empty database left where the server does not look


def test_the_cli_finds_the_data_the_way_the_server_does(data: Path, tmp_path: Path) -> None:
    """PACKYARD_DATA from any folder, a relative one from its parent, the default ./packyard-data, and the
    database_url of PACKYARD_DATA/packyard.toml."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    created = packyard(
        elsewhere, "user", "create", "alice", "--password", "alice-password", PACKYARD_DATA=str(data)
    )
    assert created.returncode == 0, created.stderr
    assert "alice" in packyard(data.parent, "user", "list", PACKYARD_DATA=data.name).stdout
    (tmp_path / "packyard-data").symlink_to(data)
    assert "alice" in packyard(tmp_path, "user", "list").stdout
    assert packyard(elsewhere, "fsck", PACKYARD_DATA=str(data)).returncode == 0

    config_only = tmp_path / "config-only"
    config_only.mkdir()
    (config_only / "packyard.toml").write_text(f'database_url = "sqlite:///{data / "packyard.db"}"\n')
    assert "alice" in packyard(elsewhere, "user", "list", PACKYARD_DATA=str(config_only)).stdout


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("port = 'x'\n", "error: setting 'port': "),
        ("port = \n", "error: packyard.toml in the data folder (PACKYARD_DATA) is not valid TOML"),
        ('database_url = "sqlite:////nonexistent/dir/x.db"\n', "error: cannot open the database"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "packyard.toml").write_text(toml)
    result = packyard(tmp_path, "user", "list", PACKYARD_DATA=str(folder))
    assert result.returncode == 2 and result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_password_is_asked_for_not_required(data: Path, tmp_path: Path) -> None:
    for command in (("user", "create"), ("user", "passwd")):
        shown = packyard(tmp_path, *command, "--help").stdout
        line = next(x for x in shown.splitlines() if "--password" in x)
        assert "required" not in line and "Asked for when not given" in line
    asked = subprocess.run(
        [str(PACKYARD), "user", "create", "alice"],
        input="alice-password\nalice-password\n",
        env={**os.environ, "PACKYARD_DATA": str(data)},
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert asked.returncode == 0 and "created user alice" in asked.stdout, asked.stderr
