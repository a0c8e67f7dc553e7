"""Drive the real, unmodified anaconda-client (`anaconda` from PyPI) in a subprocess with its own config dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def clients_bin() -> Path:
    """Where `make test` installed the real clients (their own venv: their pins clash with the server's)."""
    configured = os.environ.get("PACKYARD_CLIENTS_BIN")
    if configured:
        return Path(configured)
    default = Path(__file__).resolve().parents[2] / ".venv-clients" / "bin"
    if default.exists():
        return default
    found = shutil.which("anaconda")
    if found is None:
        pytest.fail("the real anaconda-client is not installed: run `make clients` (or `make test`)")
    return Path(found).parent


@dataclass
class Anaconda:
    """One user's anaconda-client: its own config, token store and home."""

    home: Path
    api_url: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BINSTAR_", "ANACONDA_", "CONDA_"))}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            BINSTAR_CONFIG_DIR=str(self.home / "binstar"),
            ANACONDA_TELEMETRY_ENABLED="false",
            OTEL_SDK_DISABLED="true",
            ANACONDA_CLIENT_LEGACY_INTERACTIVE_LOGIN="1",
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
            NO_COLOR="1",
            COLUMNS="200",
        )
        return env

    def run(
        self,
        *args: str,
        token: str | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        prefix = ["-t", token] if token else []
        cmd = [str(clients_bin() / "anaconda"), *prefix, *args]
        result = subprocess.run(
            cmd,
            env=self.env(),
            text=True,
            capture_output=True,
            input=input if input is not None else "",
            timeout=120,
            cwd=cwd or self.home,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"anaconda {' '.join(args)} failed ({result.returncode}):\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def output(self, *args: str, **kw: object) -> str:
        result = self.run(*args, **kw)  # type: ignore[arg-type]
        return result.stdout + result.stderr

    def configure(self) -> Anaconda:
        self.home.mkdir(parents=True, exist_ok=True)
        self.run("config", "--set", "url", self.api_url)
        return self

    def login(self, username: str, password: str, hostname: str = "testhost") -> Anaconda:
        """Log in; a second client of the same user needs a hostname of its own (the server keeps one token per
        user and hostname, and anaconda-client asks before replacing it)."""
        self.run("org", "login", "--username", username, "--password", password, "--hostname", hostname)
        return self
