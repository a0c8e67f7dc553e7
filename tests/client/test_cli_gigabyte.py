"""A 1 GiB file through the real `packyard upload` and `packyard download` commands against a server of its own
(issue #16): the client's and the server's peak memory stay under 150 MB each, and the bytes come back unchanged.

How the peaks are measured:

- The client: a child's `ru_maxrss` also counts the memory of the process that forked it (the kernel carries the
  pre-exec high-water mark over `exec`), and this test process holds the whole server app. So each command runs
  under a tiny wrapper, a fresh interpreter that imports nothing and reports `RUSAGE_CHILDREN` after the command.
- The server: `packyard serve` with one worker is one process (the test checks it has no children), so its
  `VmHWM` is the peak of the process that handles the requests. Writing 5 to `/proc/PID/clear_refs` resets that
  mark to the current RSS before each transfer: the start-up's argon2 hashes (64 MiB each) are not the transfer's.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.cli import Shell
from tests.client.conftest import new_account
from tests.conftest import LiveServer, start_server

pytestmark = pytest.mark.xdist_group("client-streaming")  # beside the 64 MiB test, never at the same time

SIZE = 1 << 30
CHUNK = 1 << 20
BOUND = 150 * 1000 * 1000  # the "< 150 MB", in bytes
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))\n"  # Linux: KiB
    "sys.exit(code)\n"
)


def write_random(path: Path, size: int) -> str:
    """`size` bytes that do not compress (a seeded PRNG: faster than os.urandom, as incompressible), written
    chunk by chunk; returns their sha256."""
    rng, digest = random.Random(16), hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size // CHUNK):
            chunk = rng.randbytes(CHUNK)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def measured(shell: Shell, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run `packyard ARGS` under the wrapper: its result and the command's peak RSS in bytes."""
    peak_file = shell.home / "peak"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(peak_file), sys.executable, "-m", "packyard.cli.main", *args],
        env=shell.env(),
        text=True,
        capture_output=True,
        timeout=300,
        cwd=shell.home,
    )
    return done, int(peak_file.read_text())


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # "reset the peak resident set size" (proc(5))


def children(pid: int) -> list[str]:
    tasks = Path(f"/proc/{pid}/task")
    return [c for task in tasks.iterdir() for c in (task / "children").read_text().split()]


@pytest.fixture
def big_server(tmp_path: Path) -> Iterator[LiveServer]:
    (tmp_path / "server").mkdir()
    server = start_server(tmp_path / "server")
    yield server
    server.stop()
    shutil.rmtree(server.data, ignore_errors=True)  # the stored gigabyte


def test_a_gigabyte_up_and_down_through_the_cli_in_bounded_memory(
    tmp_path: Path, big_server: LiveServer
) -> None:
    account = new_account(big_server, "gb")
    home = tmp_path / "home"
    home.mkdir()
    shell = Shell(home, {"PACKYARD_URL": big_server.url, "PACKYARD_TOKEN": account.token})
    source, output = tmp_path / "gigabyte.bin", tmp_path / "out"
    try:
        digest = write_random(source, SIZE)
        pid = big_server.process.pid
        assert children(pid) == []  # one process serves: its VmHWM is the server's peak

        reset_peak(pid)
        idle = status_kib(pid, "VmHWM") * 1024
        up, client_up = measured(shell, "upload", "--json", "-v", "1", str(source))
        server_up = status_kib(pid, "VmHWM") * 1024
        assert up.returncode == 0, up.stderr
        [outcome] = json.loads(up.stdout)
        assert (outcome["status"], outcome["name"], outcome["version"]) == ("uploaded", "gigabyte", "1"), (
            outcome
        )

        reset_peak(pid)
        down, client_down = measured(
            shell, "download", f"{account.login}/gigabyte/1/gigabyte.bin", "-o", str(output)
        )
        server_down = status_kib(pid, "VmHWM") * 1024
        assert down.returncode == 0, down.stderr
        assert "sha256 checked" in down.stdout
        got = output / "gigabyte.bin"
        assert got.stat().st_size == SIZE
        with got.open("rb") as fh:
            assert hashlib.file_digest(fh, "sha256").hexdigest() == digest

        peaks = {
            "client upload": client_up,
            "client download": client_down,
            "server upload": server_up,
            "server download": server_down,
        }
        print({k: f"{v / 1e6:.0f} MB" for k, v in {"server idle": idle, **peaks}.items()})
        over = {k: f"{v / 1e6:.0f} MB" for k, v in peaks.items() if v >= BOUND}
        assert not over, f"peak RSS at or above 150 MB for a 1 GiB file: {over}"
    finally:
        source.unlink(missing_ok=True)
        shutil.rmtree(output, ignore_errors=True)
