"""`packyard env create OWNER/NAME` and `packyard env export` against a live server, with the real py-rattler.

Small conda packages (envapp depends on envlib; envsecret is private) are uploaded to one owner, an environment.yml
naming them (channels: the owner) is uploaded, and the `packyard` command creates it in a temporary prefix, solving
and installing with py-rattler from the server's channels only.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import rattler
import yaml

from packyard.client import envs
from tests.builders import build_conda, build_wheel
from tests.conftest import LiveServer
from tests.unit.api.helpers import auth, upload

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("envcreate")]
PASSWORD = "secret-pass-1"
Run = Callable[..., subprocess.CompletedProcess[str]]
SUBDIR = str(rattler.Subdir.current())


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> str:
    login = f"envs{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    return login


@pytest.fixture(scope="module")
def token(live_server: LiveServer, owner: str) -> str:
    made = httpx.post(
        f"{live_server.api}/authentications", auth=(owner, PASSWORD), json={"note": "env"}, timeout=30
    )
    assert made.status_code == 200, made.text
    return str(made.json()["token"])


@pytest.fixture(scope="module")
def packages(
    live_server: LiveServer, owner: str, token: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """envlib 1.0 (noarch), envapp 2.0 (this platform, depends on envlib), envsecret 0.1 (private, needs envlib)."""
    tmp = tmp_path_factory.mktemp("env-packages")
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        for name, version, subdir, depends in (
            ("envlib", "1.0", "noarch", []),
            ("envapp", "2.0", SUBDIR, ["envlib >=1"]),
            ("envsecret", "0.1", "noarch", ["envlib"]),
        ):
            folder = tmp / name
            folder.mkdir()
            path = build_conda(
                folder,
                name=name,
                version=version,
                subdir=subdir,
                fmt="conda",
                depends=depends,
                noarch="generic" if subdir == "noarch" else None,
                files={f"share/{name}/hello.txt": f"hello from {name} {version}\n".encode()},
            )
            done = upload(client, token, owner, name, version, path, f"{subdir}/{path.name}", "conda")
            assert done.status_code == 200, done.text
        private = client.patch(
            f"/api/package/{owner}/envsecret", headers=auth(token), json={"access": "private"}
        )
        assert private.status_code == 200, private.text


@pytest.fixture
def run(live_server: LiveServer, tmp_path: Path) -> Run:
    """`packyard ARGS...` with PACKYARD_URL set, no token in the environment, and its own rattler cache."""

    def packyard(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PACKYARD_TOKEN", "CONDA_PREFIX")}
        env |= {"PACKYARD_URL": live_server.url, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        # a global pip configuration (extra indexes, find-links) must not reach the test: only the server answers
        env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
        env.pop("PIP_FIND_LINKS", None)
        if token:
            env["PACKYARD_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "packyard.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return packyard


def put_environment(live_server: LiveServer, owner: str, token: str, text: str) -> None:
    said = envs.upload_environment(live_server.url, owner, text.encode(), token)
    assert said.startswith(f"uploaded {owner}/"), said


def installed(prefix: Path) -> dict[str, dict[str, object]]:
    """conda-meta/*.json of a prefix by package name."""
    records = (json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json"))
    return {r["name"]: r for r in records}


@pytest.mark.usefixtures("packages")
def test_create_installs_the_environment_and_export_round_trips(
    live_server: LiveServer, owner: str, token: str, run: Run, tmp_path: Path
) -> None:
    put_environment(
        live_server, owner, token, f"name: appenv\nchannels:\n  - {owner}\ndependencies:\n  - envapp\n"
    )
    prefix = tmp_path / "appenv"
    done = run("env", "create", f"{owner}/appenv", "-p", str(prefix))
    assert done.returncode == 0, done.stderr
    records = installed(prefix)
    assert {name: (r["version"], r["build"]) for name, r in records.items()} == {
        "envapp": ("2.0", "0"),
        "envlib": ("1.0", "0"),
    }
    assert records["envapp"]["channel"].rstrip("/") == f"{live_server.url}/conda/{owner}"
    assert (prefix / "share/envapp/hello.txt").read_text() == "hello from envapp 2.0\n"
    assert (prefix / "share/envlib/hello.txt").read_text() == "hello from envlib 1.0\n"
    assert f"Created {prefix} (2 packages)." in done.stdout
    # piped: plain lines, no terminal control characters
    assert (
        "solved" in done.stderr and "downloading envapp" in done.stderr and "installed envapp" in done.stderr
    )
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", done.stdout + done.stderr)

    exported = run("env", "export", "-p", str(prefix), "-n", "appenv-copy")
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load(exported.stdout) == {
        "name": "appenv-copy",
        "channels": [f"{live_server.url}/conda/{owner}"],
        "dependencies": ["envapp=2.0=0", "envlib=1.0=0"],
    }
    uploaded = run("env", "export", "-p", str(prefix), "-n", "appenv-copy", "--upload", token=token)
    assert uploaded.returncode == 0, uploaded.stderr
    assert uploaded.stdout.startswith(f"uploaded {owner}/appenv-copy/")
    version = uploaded.stdout.strip().split("/")[2]
    assert envs.fetch_environment(live_server.url, owner, "appenv-copy", version=version).startswith(
        b"name: appenv-copy"
    )
    with pytest.raises(
        envs.EnvNotFound, match=f"environment {owner}/appenv-copy version 0.0.1 was not found"
    ):
        envs.fetch_environment(live_server.url + "/api/", owner, "appenv-copy", version="0.0.1")

    again = tmp_path / "envs"
    created = run("env", "create", f"{owner}/appenv-copy", "--envs-dir", str(again))
    assert created.returncode == 0, created.stderr
    copy = installed(again / "appenv-copy")
    assert {n: (r["version"], r["build"]) for n, r in copy.items()} == {
        n: (r["version"], r["build"]) for n, r in records.items()
    }


@pytest.mark.usefixtures("packages")
def test_private_package_is_installed_only_with_the_token(
    live_server: LiveServer, owner: str, token: str, run: Run, tmp_path: Path
) -> None:
    put_environment(
        live_server, owner, token, f"name: secretenv\nchannels:\n  - {owner}\ndependencies:\n  - envsecret\n"
    )
    denied = run("env", "create", f"{owner}/secretenv", "-p", str(tmp_path / "denied"))
    assert denied.returncode == 1
    assert "Traceback" not in denied.stderr
    error = denied.stderr.strip().splitlines()[-1]
    assert error.startswith("error: no solution for envsecret from ")
    assert f"{live_server.url}/conda/{owner}" in error and "envsecret" in error
    assert "give a token that may read them" in error
    assert not (tmp_path / "denied" / "conda-meta").exists()

    prefix = tmp_path / "secret"
    done = run("env", "create", f"{owner}/secretenv", "-p", str(prefix), token=token)
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr  # shown as /t/<TOKEN>/
    records = installed(prefix)
    assert sorted(records) == ["envlib", "envsecret"]
    assert f"/conda/t/{token}/{owner}/" in str(
        records["envsecret"]["url"]
    )  # rattler keeps the token on the URL
    assert (prefix / "share/envsecret/hello.txt").read_text() == "hello from envsecret 0.1\n"

    exported = envs.export(prefix).decode()
    assert token not in exported
    assert yaml.safe_load(exported)["channels"] == [f"{live_server.url}/conda/{owner}"]


@pytest.mark.usefixtures("packages")
def test_private_environment_needs_the_token(
    live_server: LiveServer, owner: str, token: str, run: Run, tmp_path: Path
) -> None:
    put_environment(
        live_server, owner, token, f"name: hiddenenv\nchannels: [{owner}]\ndependencies: [envlib]\n"
    )
    private = httpx.patch(
        f"{live_server.api}/package/{owner}/hiddenenv",
        headers=auth(token),
        json={"access": "private"},
        timeout=30,
    )
    assert private.status_code == 200, private.text

    denied = run("env", "create", f"{owner}/hiddenenv", "-p", str(tmp_path / "denied"))
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert denied.stderr.strip().splitlines()[-1] == (
        f"error: environment {owner}/hiddenenv was not found on {live_server.url} "
        "(if it is private, give a token that may read it: --token or PACKYARD_TOKEN)"
    )
    wrong = run("env", "create", f"{owner}/hiddenenv", "-p", str(tmp_path / "w"), "--token", "py-0-0")
    assert wrong.returncode == 1 and "refused the token" in wrong.stderr

    assert envs.fetch_environment(live_server.url, owner, "hiddenenv", token).startswith(b"name: hiddenenv")
    done = run("env", "create", f"{owner}/hiddenenv", "-p", str(tmp_path / "ok"), "--token", token)
    assert done.returncode == 0, done.stderr
    assert sorted(installed(tmp_path / "ok")) == ["envlib"]


@pytest.mark.usefixtures("packages")
def test_pip_section_is_installed_with_the_prefixs_python_from_this_servers_index(
    live_server: LiveServer, owner: str, token: str, run: Run, tmp_path: Path
) -> None:
    """A stand-in `python` conda package (bin/python runs this interpreter) and a wheel on the owner's index."""
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        folder = tmp_path / "build"
        folder.mkdir()
        script = f'#!/bin/sh\nexec "{sys.executable}" "$@"\n'.encode()
        python = build_conda(folder, name="python", version="3.11", subdir="noarch", fmt="conda",
                             noarch="generic", files={"bin/python": script})  # fmt: skip
        done = upload(client, token, owner, "python", "3.11", python, f"noarch/{python.name}", "conda")
        assert done.status_code == 200, done.text
        wheel = build_wheel(folder, name="envwheel", version="1.0")
        done = upload(client, token, owner, "envwheel", "1.0", wheel, wheel.name, "pypi")
        assert done.status_code == 200, done.text
    deps = "  - python\n  - envlib\n  - pip:\n    - envwheel==1.0\n"
    put_environment(live_server, owner, token, f"name: pipenv\nchannels: [{owner}]\ndependencies:\n{deps}")

    prefix = tmp_path / "pip"
    created = run("env", "create", f"{owner}/pipenv", "-p", str(prefix))
    assert created.returncode == 0, created.stderr
    assert "pip install envwheel==1.0" in created.stderr and "pip done" in created.stderr
    assert sorted(installed(prefix)) == ["envlib", "python"]
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    assert (site / "envwheel-1.0.dist-info" / "METADATA").exists()
    assert "envwheel" in (site / "envwheel-1.0.dist-info" / "RECORD").read_text()

    put_environment(
        live_server,
        owner,
        token,
        f"name: nopython\nchannels: [{owner}]\ndependencies:\n  - envlib\n  - pip: [envwheel]\n",
    )
    refused = run("env", "create", f"{owner}/nopython", "-p", str(tmp_path / "np"))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: the pip section (envwheel) needs python in the environment: add python (with pip) to its "
        f"dependencies; the conda packages are installed in {tmp_path / 'np'}"
    )
    put_environment(
        live_server,
        owner,
        token,
        f"name: nowheel\nchannels: [{owner}]\ndependencies:\n  - python\n  - pip: [no-such-wheel]\n",
    )
    failed = run("env", "create", f"{owner}/nowheel", "-p", str(tmp_path / "nw"))
    assert failed.returncode == 1 and "error: pip install no-such-wheel failed (" in failed.stderr


@pytest.mark.usefixtures("packages")
def test_refusals_before_anything_is_installed(
    live_server: LiveServer, owner: str, token: str, run: Run, tmp_path: Path
) -> None:
    put_environment(
        live_server,
        owner,
        token,
        f"name: otherplatform\nplatforms: [zos-z]\nchannels: [{owner}]\ndependencies: [envlib]\n",
    )
    elsewhere = run("env", "create", f"{owner}/otherplatform", "-p", str(tmp_path / "z"))
    assert elsewhere.returncode == 1
    assert f"error: the environment is for zos-z; this machine is {SUBDIR}" in elsewhere.stderr
    assert not (tmp_path / "z").exists()

    closed = "http://127.0.0.1:9/conda/nobody"  # the discard port: nothing listens
    put_environment(
        live_server, owner, token, f"name: unreachable\nchannels: [{closed}]\ndependencies: [envlib]\n"
    )
    unreachable = run("env", "create", f"{owner}/unreachable", "-p", str(tmp_path / "u"))
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    error = unreachable.stderr.strip().splitlines()[-1]
    assert error.startswith("error: cannot read a channel: ")
    assert error.endswith(f"(channels outside this server must be reachable from this machine: {closed})")

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("mine")
    taken = run("env", "create", f"{owner}/otherplatform", "-p", str(busy))
    assert taken.returncode == 1 and f"{busy} exists and is not empty" in taken.stderr

    missing = run("env", "create", f"{owner}/no-such-env", "-p", str(tmp_path / "m"), token=token)
    assert (
        missing.stderr.strip().splitlines()[-1]
        == f"error: environment {owner}/no-such-env was not found on {live_server.url}"
    )
    assert run("env", "create", "just-a-name").stderr.startswith("error: expected OWNER/NAME")
    no_dir = run("env", "create", f"{owner}/otherplatform", "-n", "x")
    assert "needs --envs-dir DIR or an active conda" in no_dir.stderr
    assert "is not a conda environment" in run("env", "export", "-p", str(busy)).stderr


@pytest.mark.usefixtures("packages")
def test_progress_bars_on_a_terminal(live_server: LiveServer, owner: str, token: str, tmp_path: Path) -> None:
    """Standard error on a pseudo-terminal: rich draws bars (control sequences) naming the packages."""
    put_environment(live_server, owner, token, f"name: ttyenv\nchannels: [{owner}]\ndependencies: [envapp]\n")
    main, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("PACKYARD_TOKEN", "NO_COLOR", "TERM")}
    env |= {
        "PACKYARD_URL": live_server.url,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TERM": "xterm-256color",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "packyard.cli.main",
            "env",
            "create",
            f"{owner}/ttyenv",
            "-p",
            str(tmp_path / "e"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(10)
    os.close(main)
    text = seen.decode(errors="replace")
    assert process.returncode == 0, text
    assert "\x1b[" in text  # drawn, not printed line by line
    assert "envapp" in text and "envlib" in text and "linked" in text
    assert "downloading envlib" not in text  # the piped form's lines are not used
    assert b"Created" in stdout
