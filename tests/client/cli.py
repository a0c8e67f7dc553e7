"""Running the real `packyard` command in a subprocess, as a user would, with a config folder of its own."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters other than tab and newline: piped output must have none (no colours, no cursor moves)."""


@dataclass
class Shell:
    """A user's environment: HOME and XDG_CONFIG_HOME in a temp folder, no PACKYARD_* variables."""

    home: Path
    extra: dict[str, str]

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PACKYARD_", "XDG_"))}
        base["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        return {
            **base,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "COLUMNS": "200",
            **self.extra,
            **more,
        }

    def run(self, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "packyard.cli.main", *args],
            env=self.env(**env),
            input=stdin,
            text=True,
            capture_output=True,
            timeout=120,
            cwd=self.home,
        )

    @property
    def config(self) -> Path:
        return self.home / ".config" / "packyard"


def one_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The command failed with one `error:` line naming `fragments`, and no traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def on_terminal(shell: Shell, *args: str, answer: str = "", status: int = 0) -> str:
    """Run `packyard ARGS` with a pseudo-terminal as its stdin, stdout and stderr (typing `answer` to it); what it
    wrote there. The command must end with `status`."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "packyard.cli.main", *args],
        env=shell.env(TERM="xterm-256color", COLUMNS="120"),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=shell.home,
    )
    os.close(secondary)
    if answer:
        os.write(primary, answer.encode())
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    text = output.decode(errors="replace")
    assert process.wait(30) == status, text
    return text
