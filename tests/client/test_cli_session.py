"""`packyard login/logout/whoami/config` and where every client command finds its server and token: `--url`, else
PACKYARD_URL, else the config file; `--token`, else PACKYARD_TOKEN, else the token login stored (0600)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from tests.client.cli import Shell, one_error
from tests.client.conftest import PASSWORD, Account
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-library")


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path, {})


def test_login_stores_a_private_token_that_later_commands_use(
    live_server: LiveServer, account: Account, shell: Shell
) -> None:
    done = shell.run("login", "--url", live_server.url, "--username", account.login, "--password", PASSWORD)
    assert done.returncode == 0, done.stderr
    tokens = shell.config / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    stored = json.loads(tokens.read_text())[live_server.url]

    set_url = shell.run("config", "--set", f"url={live_server.url}/api/")  # normalised to the server's root
    assert (
        set_url.returncode == 0
        and json.loads((shell.config / "config.json").read_text())["url"] == live_server.url
    )
    who = shell.run("whoami")  # the server from the config file, the token from login
    assert who.returncode == 0, who.stderr
    assert who.stdout.startswith(f"{account.login} on {live_server.url}") and "packyard login" in who.stdout
    assert json.loads(shell.run("whoami", "--json").stdout)["login"] == account.login
    shown = shell.run("config", "--json")
    assert json.loads(shown.stdout)["logged_in_to"] == [live_server.url] and stored not in shown.stdout

    # the token has a note naming this computer, and the server knows it
    notes = [
        t["application"]
        for t in httpx.get(f"{live_server.api}/authentications", auth=(account.login, PASSWORD)).json()
    ]
    assert any(n.startswith("packyard CLI on ") for n in notes)

    # PACKYARD_TOKEN and --token come before the stored token; a wrong one is the server's message in one line
    one_error(shell.run("whoami", PACKYARD_TOKEN="wrong"), "token")
    one_error(shell.run("whoami", "--token", "wrong"), "token")

    out = shell.run("logout")
    assert out.returncode == 0, out.stderr
    assert json.loads(tokens.read_text()) == {}
    revoked = httpx.get(f"{live_server.api}/user", headers={"Authorization": f"token {stored}"})
    assert revoked.status_code == 401  # revoked on the server, not only forgotten here
    one_error(shell.run("whoami"), "not logged in", "packyard login")
    one_error(shell.run("logout"), "not logged in")


def test_the_first_login_makes_its_server_the_default_and_later_ones_do_not(
    live_server: LiveServer, account: Account, shell: Shell
) -> None:
    done = shell.run("login", "--url", live_server.url, "--username", account.login, "--password", PASSWORD)
    assert done.returncode == 0 and "is now the default server" in done.stdout, done.stdout + done.stderr
    who = shell.run("whoami")  # no --url, no PACKYARD_URL
    assert who.returncode == 0 and who.stdout.startswith(f"{account.login} on {live_server.url}"), who.stderr

    assert shell.run("config", "--set", "url=https://packages.example.org").returncode == 0
    again = shell.run("login", "--url", live_server.url, "--username", account.login, "--password", PASSWORD)
    assert again.returncode == 0 and "default server" not in again.stdout
    assert json.loads((shell.config / "config.json").read_text())["url"] == "https://packages.example.org"


def test_login_with_a_token_and_the_failures(live_server: LiveServer, account: Account, shell: Shell) -> None:
    done = shell.run("login", "--token", account.token, PACKYARD_URL=live_server.url)
    assert done.returncode == 0 and account.login in done.stdout, done.stderr
    assert shell.run("whoami", PACKYARD_URL=live_server.url).stdout.startswith(account.login)

    one_error(shell.run("login", "--url", live_server.url, "--token", "nope"), "token")
    one_error(
        shell.run("login", "--url", live_server.url, "-u", account.login, "-p", "wrong-password"),
        "password",
    )
    one_error(shell.run("whoami"), "which server", "--url", "PACKYARD_URL")  # logins that failed set nothing
    prompted = shell.run("login", "--url", live_server.url, "-u", account.login, stdin=PASSWORD + "\n")
    assert prompted.returncode == 0, prompted.stderr
    one_error(shell.run("whoami", "--url", "http://"), "not a server URL")
    one_error(shell.run("config", "--set", "colour=blue"), "KEY=VALUE")
    one_error(shell.run("whoami", "--url", "http://127.0.0.1:9", "--token", "t"), "cannot reach")
