"""Helpers shared by the benchmark scripts: servers on random ports, wrk runs, the machine's load, the report.

bench/conda_index.py takes its servers, wrk runs, memory readings, `ms` and `phase` from here; it keeps its own
report, whose shape came first and whose results docs/benchmarks.md quotes. bench/bytes.py takes its nginx from here
(`start_nginx`) and the wheel writer, token and twine-style uploads from bench/pypi_simple.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 200)
"""Wide when logged to a file, so the tables are not wrapped into narrow columns."""

# --- servers ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Poll `url` until it answers 200; kill the process and show its log if it dies or never does."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_packyard(
    data: Path, log: Path, workers: int = 1, admin_password: str = "bench-admin-password-1"
) -> Server:
    """`python -m packyard.cli.main serve` on a random port, as tests/conftest.py's start_server does."""
    port = free_port()
    env = packyard_env(data, port, admin_password)
    process = subprocess.Popen(
        [sys.executable, "-m", "packyard.cli.main", "serve", "--workers", str(workers)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    wait_for(f"{server.url}/health", process, log)
    return server


def start_nginx(root: Path, tmp: Path, workers: int | str = "auto") -> tuple[Server, str]:
    """nginx serving `root` on a random port, with its own config, logs and pid file under tmp/nginx: the static
    baseline (sendfile on, access log on, `index.html` for folder URLs). Returns the server and its description.

    It writes `root/ping` to know when nginx answers. bench/conda_index.py has its own copy, which falls back to
    Starlette's StaticFiles when nginx is missing; the scripts that compare bytes against nginx need the real one.
    """
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )
    if nginx is None:
        raise SystemExit("nginx is needed for the static baseline: apt-get install -y nginx-light")
    port = free_port()
    prefix = tmp / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    types {{ text/html html; application/json json; application/zstd zst; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{ listen 127.0.0.1:{port}; root {root}; index index.html; }}
}}
"""
    )
    log = prefix / "stdout.log"
    cmd = [nginx, "-e", str(prefix / "error.log"), "-p", f"{prefix}/", "-c", str(conf)]
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    (root / "ping").write_text("ok")
    server = Server(f"http://127.0.0.1:{port}", process, log)
    wait_for(f"{server.url}/ping", process, prefix / "error.log")
    name = f"{version.replace('nginx version: ', '')} (worker_processes {workers}, sendfile, access log on)"
    return server, name


def packyard_env(data: Path, port: int = 0, admin_password: str = "bench-admin-password-1") -> dict[str, str]:
    """The environment `packyard serve` and the admin commands read their settings from."""
    return {
        **os.environ,
        "PACKYARD_DATA": str(data),
        "PACKYARD_PORT": str(port),
        "PACKYARD_HOST": "127.0.0.1",
        "PACKYARD_ADMIN_PASSWORD": admin_password,
    }


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes, of the process and its children (uvicorn's workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    rss = hwm = 0
    for one in pids:
        with contextlib.suppress(OSError, AttributeError):
            status = Path(f"/proc/{one}/status").read_text()
            rss += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
            hwm += int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
    return rss, hwm


# --- load -------------------------------------------------------------------------------------------------------


@dataclass
class Load:
    tool: str
    requests: int
    seconds: float
    bytes_read: int
    errors: int
    p50: float
    p99: float
    loadavg: float = 0.0
    """The machine's 1-minute load average just before the run."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mbps(self) -> float:
        return self.bytes_read / self.seconds / 1e6


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "B": 1.0}


def quantity(value: str) -> float:
    """wrk's `1.23ms`, `4.56MB`... as seconds or bytes."""
    match = re.fullmatch(r"([\d.]+)([a-zA-Z]*)", value)
    if match is None:
        raise ValueError(f"not a wrk quantity: {value!r}")
    number, unit = match.groups()
    scale = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}.get(unit) or _UNITS.get(unit, 1.0)
    return float(number) * scale


def wrk(
    url: str,
    seconds: float,
    connections: int,
    threads: int = 2,
    script: Path | None = None,
    headers: Sequence[str] = (),
) -> Load:
    """One `wrk --latency` run; `script` is a Lua file (e.g. a `request` function), `headers` are `Name: value`."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    before = os.getloadavg()[0]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    done = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    if not (done and p50 and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return Load(
        tool=f"wrk -t{threads} -c{connections}",
        requests=int(done.group(1)),
        seconds=quantity(done.group(2)),
        bytes_read=int(quantity(done.group(3))),
        errors=(int(errors.group(1)) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
        p50=quantity(p50.group(1)),
        p99=quantity(p99.group(1)),
        loadavg=before,
    )


def wait_for_quiet(max_load: float = 2.0, timeout: float = 600.0, poll: float = 15.0) -> tuple[float, float]:
    """Wait (up to `timeout`) until the 1-minute load average is at most `max_load`: other work on the machine
    moves every number. Returns (load average when we stopped waiting, seconds waited)."""
    start = time.monotonic()
    load = os.getloadavg()[0]
    if load > max_load:
        console.log(f"load average {load:.2f} > {max_load:g}: waiting up to {timeout:.0f} s for the machine")
    while load > max_load and time.monotonic() - start < timeout:
        time.sleep(poll)
        load = os.getloadavg()[0]
    waited = time.monotonic() - start
    if load > max_load:
        console.log(f"[yellow]load average still {load:.2f} after {waited:.0f} s: measuring anyway[/yellow]")
    return load, waited


# --- report -----------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Report:
    """A context table (setting, value) and any number of titled tables, printed with rich and as markdown."""

    title: str
    context: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]] = field(default_factory=list)

    def table(self, title: str, *columns: str) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        self.tables.append((title, columns, rows))
        return rows

    def print(self) -> None:
        info = Table("setting", "value", title=f"{self.title}: context")
        for key, value in self.context:
            info.add_row(key, value)
        console.print(info)
        for title, columns, rows in self.tables:
            table = Table(*columns, title=title)
            for row in rows:
                table.add_row(*row)
            console.print(table)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.context]
        for title, columns, rows in self.tables:
            lines += ["", f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def machine_context() -> list[tuple[str, str]]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    loops = [m for m in ("uvloop", "httptools") if importable(m)]
    return [
        ("machine", f"{os.cpu_count()} cores ({cpu}); the load generator and the servers share them"),
        ("python", f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"),
        (
            "packyard server",
            "packyard serve (uvicorn, "
            + ("+".join(loops) if loops else "asyncio + h11: uvloop/httptools not installed")
            + ")",
        ),
        ("code", code_version()),
        ("load average at start", loadavg()),
    ]


def code_version() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git commands)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%h %cI"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" + uncommitted changes in src/" if dirty else "")


@contextlib.contextmanager
def phase(name: str, timings: dict[str, float] | None = None, key: str | None = None) -> Iterator[None]:
    console.log(f"{name}...")
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    if timings is not None and key:
        timings[key] = elapsed
    console.log(f"{name}: {elapsed:.1f} s")
