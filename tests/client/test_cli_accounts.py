"""`packyard org`, `groups` and `token` through the server, as a user; the operator's `org create --owner` and
`token create --user` (tests/unit/test_cli.py) keep working on the database beside them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.client.cli import CONTROL, Shell, one_error
from tests.client.conftest import Account, new_account
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-library")


@pytest.fixture
def shell(tmp_path: Path, live_server: LiveServer, account: Account) -> Shell:
    return Shell(tmp_path, {"PACKYARD_URL": live_server.url, "PACKYARD_TOKEN": account.token})


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr
    assert not CONTROL.search(result.stdout + result.stderr)
    return str(result.stdout)


def test_organizations_and_groups(live_server: LiveServer, account: Account, shell: Shell) -> None:
    org = f"org{uuid.uuid4().hex[:8]}"
    other = new_account(live_server, "ot")
    assert "you are its owner" in ok(shell.run("org", "create", org, "--name", "Lab"))
    one_error(shell.run("org", "create", org), org)  # exists already
    shown = json.loads(ok(shell.run("org", "show", org, "--json")))
    assert (shown["login"], shown["user_type"], shown["packages"]) == (org, "org", [])
    owners = json.loads(ok(shell.run("org", "owners", org, "--add", other.login, "--json")))
    assert {o["login"] for o in owners} == {account.login, other.login}
    assert other.login in ok(shell.run("org", "members", org))

    ok(shell.run("groups", "create", org, "readers", "--permission", "read"))
    ok(shell.run("groups", "perms", org, "readers", "write"))
    assert [
        m["login"]
        for m in json.loads(
            ok(shell.run("groups", "members", org, "readers", "--add", other.login, "--json"))
        )
    ] == [other.login]
    httpx.post(
        f"{live_server.api}/package/{org}/tool",
        headers={"Authorization": f"token {account.token}"},
        json={"public": True, "public_attrs": {"summary": "s"}},
    ).raise_for_status()
    assert [
        p["name"]
        for p in json.loads(ok(shell.run("groups", "packages", org, "readers", "--add", "tool", "--json")))
    ] == ["tool"]
    listed = json.loads(ok(shell.run("groups", "list", org, "--json")))
    assert {(g["name"], g["perms"]) for g in listed} >= {("readers", "write")}
    one_error(shell.run("groups", "perms", org, "readers", "sudo"), "sudo")
    ok(shell.run("groups", "remove", org, "readers", "--yes"))

    stranger = new_account(live_server, "st")
    one_error(shell.run("org", "delete", org, "--yes", PACKYARD_TOKEN=stranger.token))  # no permission
    assert "deleted" in ok(shell.run("org", "delete", org, "--yes"))
    one_error(shell.run("org", "show", org), org)


def test_tokens(live_server: LiveServer, account: Account, shell: Shell) -> None:
    made = json.loads(
        ok(
            shell.run(
                "token", "create", "--name", "ci", "-s", "conda:download", "--max-age", "3600", "--json"
            )
        )
    )
    assert made["scopes"] == ["conda:download"] and made["expires"]
    plain = shell.run("token", "create", "--name", "ci-2")
    assert plain.returncode == 0 and plain.stdout.strip().count("\n") == 0 and "expires never" in plain.stderr
    secret = plain.stdout.strip()
    assert (
        httpx.get(f"{live_server.api}/user", headers={"Authorization": f"token {secret}"}).json()["login"]
        == account.login
    )
    names = {t["name"] for t in json.loads(ok(shell.run("token", "list", "--json")))}
    assert {"ci", "ci-2"} <= names
    assert "revoked" in ok(shell.run("token", "revoke", "ci-2"))
    assert (
        httpx.get(f"{live_server.api}/user", headers={"Authorization": f"token {secret}"}).status_code == 401
    )
    one_error(shell.run("token", "revoke", "ci-2"), "ci-2")
    one_error(shell.run("token", "list", PACKYARD_TOKEN="wrong"), "token")
    # a download-only token may not make a more powerful one
    one_error(shell.run("token", "create", "--name", "up", PACKYARD_TOKEN=made["token"]))
    one_error(shell.run("token", "list", PACKYARD_TOKEN=""), "needs a token")
