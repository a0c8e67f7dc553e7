"""The package commands (`download`, `show`, `search`, `remove`, `copy`, `move`, `access`, `collaborators`,
`transfer`, `label ...`) run as a user would, with their failures: the server's message in one line, exit 1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from packyard.client import Client
from tests.client.cli import CONTROL, Shell, on_terminal, one_error
from tests.client.conftest import Account, new_account
from tests.client.test_library import DATA, publish
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-library")


@pytest.fixture
def shell(tmp_path: Path, live_server: LiveServer, account: Account) -> Shell:
    home = tmp_path / "home"
    home.mkdir()
    return Shell(home, {"PACKYARD_URL": live_server.url, "PACKYARD_TOKEN": account.token})


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr
    assert not CONTROL.search(result.stdout + result.stderr)
    return str(result.stdout)


def test_show_search_download(tmp_path: Path, account: Account, api: Client, shell: Shell) -> None:
    publish(api, account.login, "cli-data", "1.0")
    publish(api, account.login, "cli-data", "2.0", basename="other.bin")
    me = account.login

    shown = json.loads(ok(shell.run("show", me, "--json")))
    assert [p["name"] for p in shown["packages"]] == ["cli-data"]
    assert "cli-data" in ok(shell.run("show", me))
    package = ok(shell.run("show", f"{me}/cli-data"))
    assert "data.bin" in package and "other.bin" in package and "versions 1.0, 2.0" in package
    assert (
        json.loads(ok(shell.run("show", f"{me}/cli-data/1.0", "--json")))["distributions"][0]["basename"]
        == "data.bin"
    )
    assert [p["full_name"] for p in json.loads(ok(shell.run("search", "cli-da", "--json")))] == [
        f"{me}/cli-data"
    ]

    latest = ok(shell.run("download", f"{me}/cli-data", "-o", str(tmp_path / "latest")))
    assert "sha256 checked" in latest
    assert (tmp_path / "latest" / "other.bin").read_bytes() == DATA
    ok(shell.run("download", f"{me}/cli-data/1.0/data.bin", "-o", str(tmp_path / "one")))
    assert (
        hashlib.sha256((tmp_path / "one" / "data.bin").read_bytes()).hexdigest()
        == hashlib.sha256(DATA).hexdigest()
    )

    assert "yanked" in ok(shell.run("yank", f"{me}/cli-data/1.0/data.bin", "--reason", "broken"))
    yanked = api.distribution(me, "cli-data", "1.0", "data.bin")
    assert (yanked["attrs"].get("yanked"), yanked["attrs"].get("yanked_reason")) == (True, "broken"), yanked
    assert "unyanked" in ok(shell.run("yank", f"{me}/cli-data/1.0/data.bin", "--undo"))
    assert api.distribution(me, "cli-data", "1.0", "data.bin")["attrs"].get("yanked") is False
    one_error(shell.run("yank", f"{me}/cli-data/1.0"), "OWNER/PACKAGE/VERSION/FILE")

    one_error(shell.run("show", f"{me}/no-such-package"), "no-such-package")
    one_error(shell.run("download", f"{me}/cli-data/9.9/x.bin", "-o", str(tmp_path)), "9.9")
    one_error(shell.run("show", "a/b/c/d"), "OWNER[/PACKAGE[/VERSION]]")
    one_error(shell.run("show", me, PACKYARD_TOKEN="wrong"), "token")


def test_remove_access_collaborators_transfer(
    live_server: LiveServer, account: Account, api: Client, shell: Shell
) -> None:
    me = account.login
    for name in ("cli-a", "cli-b"):
        publish(api, me, name, "1.0")
    changed = json.loads(ok(shell.run("access", "private", f"{me}/cli-a", f"{me}/cli-b", "--json")))
    assert {p["access"] for p in changed} == {"private"}
    assert httpx.get(f"{live_server.api}/package/{me}/cli-a").status_code == 404
    one_error(shell.run("access", "secret", f"{me}/cli-a"), "public, authenticated, private")

    other = new_account(live_server, "ot")
    listed = json.loads(
        ok(shell.run("collaborators", f"{me}/cli-a", "--add", other.login, "--permission", "read", "--json"))
    )
    assert [(c["login"], c["permission"]) for c in listed] == [(other.login, "read")]
    assert json.loads(ok(shell.run("collaborators", f"{me}/cli-a", "--remove", other.login, "--json"))) == []
    # no permission: the other user may not change this package
    one_error(shell.run("access", "public", f"{me}/cli-b", PACKYARD_TOKEN=other.token))

    one_error(shell.run("remove", f"{me}/cli-a"), "--yes")  # no terminal to confirm on
    asked = on_terminal(shell, "remove", f"{me}/cli-a", answer="n\n", status=1)
    assert f"Delete {me}/cli-a for good?" in asked
    assert api.package(me, "cli-a")["name"] == "cli-a"  # kept
    assert "removed" in ok(shell.run("remove", f"{me}/cli-a/1.0/data.bin", "--yes"))
    assert f"removed {me}/cli-a" in on_terminal(shell, "remove", f"{me}/cli-a", answer="y\n")
    one_error(shell.run("remove", f"{me}/cli-a", "--yes"), "cli-a")

    org = f"org{other.login}"
    with other.client() as theirs:
        theirs.create_org(org)
        theirs.add_org_owner(org, me)
    assert f"{org}/cli-b" in ok(shell.run("transfer", f"{me}/cli-b", org, "--yes"))
    assert api.package(org, "cli-b")["name"] == "cli-b"


def test_copy_move_and_labels(account: Account, api: Client, shell: Shell) -> None:
    me = account.login
    publish(api, me, "cli-l", "1.0")
    copied = json.loads(ok(shell.run("copy", f"{me}/cli-l/1.0", "--to-label", "dev", "--json")))
    assert copied and all("dev" in f["labels"] for f in copied)
    assert "moved" in ok(shell.run("move", f"{me}/cli-l/1.0", "--from-label", "dev", "--to-label", "test"))
    labels = json.loads(ok(shell.run("label", "list", me, "--json")))
    assert (labels["test"]["num_files"], labels["dev"]["num_files"]) == (1, 0)
    assert "cli-l" in ok(shell.run("label", "show", me, "test"))
    ok(shell.run("label", "copy", me, "test", "staging"))
    ok(shell.run("label", "rename", me, "staging", "beta"))
    ok(shell.run("label", "lock", me, "beta"))
    assert json.loads(ok(shell.run("label", "show", me, "beta", "--json")))["is_locked"] is True
    one_error(shell.run("label", "remove", me, "beta", "--yes"), "beta")  # locked: the server refuses
    ok(shell.run("label", "unlock", me, "beta"))
    ok(shell.run("label", "remove", me, "beta", "--yes"))
    one_error(shell.run("label", "show", me, "beta"), "not found")
