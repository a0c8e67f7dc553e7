"""`packyard mirror create|show|list|edit|sync|delete` through the real command, against a live server whose own
PyPI index of another user plays the upstream."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from packyard.client import errors
from tests.builders import build_conda, build_wheel
from tests.client.cli import Shell, one_error
from tests.client.conftest import Account
from tests.conftest import LiveServer


@pytest.fixture
def shell(tmp_path: Path, live_server: LiveServer, account: Account) -> Shell:
    home = tmp_path / "home"
    home.mkdir()
    return Shell(home, {"PACKYARD_URL": live_server.url, "PACKYARD_TOKEN": account.token})


def _publish(server: LiveServer, owner: Account, tmp_path: Path) -> None:
    for name, requires in (("cm-lib", []), ("cm-app", ["cm-lib"])):
        wheel = build_wheel(tmp_path, name=name, version="1.0", requires_dist=requires)
        with wheel.open("rb") as fh:
            done = httpx.post(
                f"{server.url}/pypi/{owner.login}/",
                data={":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel"},
                files={"content": (wheel.name, fh)},
                headers={"Authorization": f"token {owner.token}"},
                timeout=30,
            )
        assert done.status_code == 200, done.text


def test_mirror_commands(shell: Shell, live_server: LiveServer, other: Account, tmp_path: Path):
    _publish(live_server, other, tmp_path)
    name = f"cm{uuid.uuid4().hex[:6]}"
    upstream = f"{live_server.url}/pypi/{other.login}/simple/"
    made = shell.run("mirror", "create", name, "--upstream", upstream, "--exclude", "cm-bad", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["exclude"] == ["cm-bad"]
    shown = shell.run("mirror", "show", name)
    assert shown.returncode == 0 and upstream in shown.stdout
    assert name in shell.run("mirror", "list").stdout
    edited = shell.run("mirror", "edit", name, "--ttl", "0", "--private", "--json")
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["ttl"] == 0 and json.loads(edited.stdout)["public"] is False
    synced = shell.run("mirror", "sync", name, "--packages", "cm-app")
    assert synced.returncode == 0, synced.stderr
    assert "cm_app-1.0-py3-none-any.whl" in synced.stdout and "cm_lib-1.0-py3-none-any.whl" in synced.stdout
    alone = shell.run("mirror", "sync", name, "-p", "cm-lib", "--no-deps", "--json")
    assert json.loads(alone.stdout)["fetched"] == ["cm_lib-1.0-py3-none-any.whl"]
    one_error(shell.run("mirror", "sync", name, "-p", "cm-bad"), "excluded by mirror", "'cm-bad'")
    # --no-wait: the queued sync's id and URL, at once; `mirror syncs` shows how it went.
    queued = shell.run("mirror", "sync", name, "-p", "cm-app", "--no-deps", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    found = re.search(rf"sync (\d+) of mirror {name} is (queued|running): (\S+)", queued.stdout)
    assert found, queued.stdout
    sync_id, url = found.group(1), found.group(3)
    assert url == f"{live_server.url}/api/mirrors/{name}/syncs/{sync_id}"
    assert f"packyard mirror syncs {name} --id {sync_id}" in queued.stdout
    deadline = time.monotonic() + 60
    while (one := json.loads(shell.run("mirror", "syncs", name, "--id", sync_id, "--json").stdout))[
        "state"
    ] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, one
        time.sleep(0.2)
    assert one["state"] == "done" and one["fetched"] == ["cm_app-1.0-py3-none-any.whl"], one
    listed = json.loads(shell.run("mirror", "syncs", name, "--json").stdout)
    assert [s["id"] for s in listed][:1] == [int(sync_id)]
    assert [s["state"] for s in listed[:2]] == [
        "done",
        "failed",
    ]  # newest first: the refused cm-bad before it
    assert "excluded by mirror" in listed[1]["error"]
    queued_json = json.loads(shell.run("mirror", "sync", name, "-p", "cm-lib", "--no-wait", "--json").stdout)
    assert queued_json["state"] in ("queued", "running", "done") and queued_json["packages"] == ["cm-lib"]
    one_error(shell.run("mirror", "create", name, "--upstream", "ftp://nowhere"), "http:// or https://")
    one_error(shell.run("mirror", "edit", name), "nothing to change")
    deleted = shell.run("mirror", "delete", name)
    assert deleted.returncode == 0 and "stay in the organization" in deleted.stdout
    one_error(shell.run("mirror", "show", name), "no mirror")


def test_conda_mirror_sync_solves_for_the_subdirs_given(
    shell: Shell, live_server: LiveServer, account: Account, tmp_path: Path
):
    base = build_conda(tmp_path, name="cs-base", version="1.0", fmt="conda")
    app = build_conda(tmp_path, name="cs-app", version="1.0", subdir="linux-64", depends=["cs-base"])
    for path in (base, app):
        assert shell.run("upload", str(path)).returncode == 0
    name = f"cc{uuid.uuid4().hex[:6]}"
    upstream = f"{live_server.url}/conda/{account.login}"
    made = shell.run("mirror", "create", name, "--format", "conda", "--upstream", upstream)
    assert made.returncode == 0, made.stderr
    synced = shell.run("mirror", "sync", name, "-p", "cs-app", "--subdir", "linux-64", "--json")
    assert synced.returncode == 0, synced.stderr
    assert sorted(json.loads(synced.stdout)["fetched"]) == ["cs-app-1.0-0.tar.bz2", "cs-base-1.0-0.conda"]
    one_error(shell.run("mirror", "sync", name, "-p", "cs-app", "--subdir", "Linux 64"), "not a conda subdir")
    one_error(shell.run("mirror", "sync", name, "-p", "cs-app", "--subdir", "win-64"), "cannot be installed")


def test_the_library_waits_for_a_sync_or_not(
    live_server: LiveServer, account: Account, other: Account, tmp_path
):
    """`Client.sync_mirror` keeps its answer (`fetched`) and its errors (the class of the status the server
    recorded), polling the queued sync; `wait=False` returns the queued sync, `wait_for_mirror_sync` finishes it."""
    _publish(live_server, other, tmp_path)
    name = f"cw{uuid.uuid4().hex[:6]}"
    with account.client() as api:
        api.create_mirror(name, "pypi", f"{live_server.url}/pypi/{other.login}/simple/", exclude=["cm-bad"])
        polled: list[str] = []
        done = api.sync_mirror(name, ["cm-app"], on_wait=lambda sync: polled.append(sync["state"]))
        assert done["state"] == "done" and done["mirror"] == name
        assert sorted(done["fetched"]) == ["cm_app-1.0-py3-none-any.whl", "cm_lib-1.0-py3-none-any.whl"]
        assert set(polled) <= {"queued", "running"}
        with pytest.raises(errors.Forbidden, match="excluded by mirror"):
            api.sync_mirror(name, ["cm-bad"])
        with pytest.raises(errors.BadRequest, match="subdirs are for conda mirrors"):  # refused at once
            api.sync_mirror(name, ["cm-app"], subdirs=["linux-64"], wait=False)
        queued = api.sync_mirror(name, ["cm-lib"], deps=False, wait=False)
        assert queued["state"] in ("queued", "running", "done") and queued["fetched"] in (
            [],
            ["cm_lib-1.0-py3-none-any.whl"],
        )
        finished = api.wait_for_mirror_sync(name, queued["id"])
        assert finished["fetched"] == ["cm_lib-1.0-py3-none-any.whl"]
        assert api.mirror_sync(name, queued["id"]) == finished
        assert api.mirror_syncs(name)[0]["id"] == queued["id"]
