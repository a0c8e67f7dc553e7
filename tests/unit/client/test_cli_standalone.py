"""The user's commands run without the server's code: `packyard whoami` (and the other client commands) never
import the core, the formats, the settings or the server's libraries, so they work where only the client is
installed and start quickly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVER_MODULES = (
    "packyard.core",
    "packyard.formats",
    "packyard.config",
    "packyard.api",
    "sqlalchemy",
    "fastapi",
)

PROBE = """
import json, sys
from typer.testing import CliRunner
from packyard.cli.main import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["whoami", "--url", "http://127.0.0.1:9", "--token", "t"],
        ["upload", "--url", "http://127.0.0.1:9", "--token", "t", "/nonexistent.whl"],
        ["show", "alice", "--url", "http://127.0.0.1:9"],
        ["label", "list", "alice", "--url", "http://127.0.0.1:9"],
        ["groups", "list", "lab", "--url", "http://127.0.0.1:9"],
    ],
)
def test_client_commands_load_no_server_code(args: list[str]) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, check=True
    )
    answer = json.loads(ran.stdout.splitlines()[-1])
    assert answer["code"] == 1  # the command ran (and failed: nothing listens on port 9)
    loaded = [
        m
        for m in answer["modules"]
        if m.split(".")[0] in ("sqlalchemy", "fastapi") or m.startswith(SERVER_MODULES)
    ]
    assert loaded == []


def test_an_operator_command_still_loads_the_server() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, "names", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "packyard.formats" in json.loads(ran.stdout.splitlines()[-1])["modules"]
