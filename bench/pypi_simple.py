"""Benchmark Packyard's PyPI simple pages (issue #5) against pypiserver and devpi-server, in the same run.

Builds N projects x M tiny wheels (default 1000 x 20) in a folder, serves the same files from
  - pypiserver 2.4.2 (from the folder; its own venv, with watchdog<2.3 so its directory cache holds),
  - devpi-server 6.20.3 (devpi-init, a user and an index, the files sent with `devpi upload`, offline mode),
  - Packyard (a fresh data folder, every file uploaded through POST /pypi/OWNER/ as twine does, concurrently),
and measures for each: project pages per second and p99 latency under wrk (a Lua script walking random project
pages with pip's Accept header), and the wall time of `pip download --no-deps` of 50 projects. Packyard is
measured with its default single worker and with `serve --workers 2`; on each fresh Packyard server it also times
the first (cold: built from the database) and the following (warm: cached) GETs of the root page and of a project
page.

Run from the repository root: `python bench/pypi_simple.py` (`--quick` for a smoke run); see bench/README.md.
It prints a table and writes the same as markdown to bench/results/pypi_simple.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import (  # bench/common.py: the script's folder is first on sys.path
    Load,
    Report,
    Server,
    code_version,
    console,
    free_port,
    loadavg,
    machine_context,
    memory,
    ms,
    packyard_env,
    phase,
    start_packyard,
    wait_for,
    wait_for_quiet,
    wrk,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pypi_simple.md"
VENVS = ROOT / "bench" / ".venvs"
CLIENTS_PIP = ROOT / ".venv-clients" / "bin" / "pip"

PYPISERVER = ("pypiserver==2.4.2", "watchdog<2.3", "waitress")
"""watchdog 2.3+ clears pypiserver's directory cache on every read (pypiserver issue #502); waitress is the
server pypiserver's `--server auto` picks first, and what its docs recommend over the wsgiref fallback."""
DEVPI = ("devpi-server==6.20.3", "devpi-client")

OWNER = "bench"
PASSWORD = "bench-password-1"
DEVPI_ROOT_PASSWORD = "bench-root-password-1"
PIP_ACCEPT = "Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
"""What pip 23+ sends for a project page (pip/_internal/index/collector.py)."""
STAMP = (2024, 1, 1, 0, 0, 0)


# --- the wheels -------------------------------------------------------------------------------------------------


def project_name(i: int) -> str:
    return f"bench-proj-{i:04d}"


def versions(files: int) -> list[str]:
    return [f"1.{v}.0" for v in range(files)]


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheel_bytes(project: str, version: str) -> bytes:
    """A minimal, valid pure-Python wheel: one module, METADATA, WHEEL and a hashed RECORD (~1.3 kB)."""
    dist = project.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    members = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
            f"Summary: Benchmark project {project}\nRequires-Python: >=3.8\n\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: packyard-bench (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(
        f"{path},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}\n" for path, data in members.items()
    )
    members[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(zipfile.ZipInfo(path, STAMP), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def wheel_name(project: str, version: str) -> str:
    return f"{project.replace('-', '_')}-{version}-py3-none-any.whl"


def _write_project(job: tuple[Path, str, int]) -> int:
    folder, project, files = job
    size = 0
    for version in versions(files):
        data = wheel_bytes(project, version)
        (folder / wheel_name(project, version)).write_bytes(data)
        size += len(data)
    return size


def write_wheels(folder: Path, projects: int, files: int) -> tuple[list[Path], int]:
    """Every project's wheels in one flat folder (what pypiserver serves), on every core."""
    folder.mkdir(parents=True)
    jobs = [(folder, project_name(i), files) for i in range(projects)]
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        size = sum(pool.map(_write_project, jobs, chunksize=16))
    paths = [folder / wheel_name(project_name(i), v) for i in range(projects) for v in versions(files)]
    return paths, size


def verify_sample(paths: Sequence[Path]) -> None:
    """Packyard's own parser must accept the synthetic wheels (the uploads would fail later otherwise)."""
    from packyard.formats.pypi.parse import parse

    for path in random.Random(1).sample(list(paths), min(10, len(paths))):
        artifact = parse(path, path.name)
        if artifact.basename != path.name:
            raise SystemExit(f"{path.name} parses as {artifact.basename}")


# --- the peers, each in its own venv ----------------------------------------------------------------------------


def ensure_venv(name: str, requirements: Sequence[str], probe: str) -> Path:
    """bench/.venvs/NAME with `requirements` (created once, reused while `probe` still imports)."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    check = subprocess.run([str(python), "-c", probe], capture_output=True)
    if check.returncode != 0:
        console.log(f"installing {' '.join(requirements)} into {venv.relative_to(ROOT)}")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *requirements], check=True, capture_output=True
        )
    return venv


def pip_versions(venv: Path, *names: str) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {row["name"].lower(): row["version"] for row in json.loads(out)}
    return ", ".join(f"{name} {found.get(name, '?')}" for name in names)


def start_pypiserver(venv: Path, wheels: Path, tmp: Path) -> Server:
    port = free_port()
    log = tmp / "pypiserver.log"
    cmd = [str(venv / "bin" / "pypi-server"), "run", "-p", str(port), "-i", "127.0.0.1"]
    cmd += ["-a", ".", "-P", ".", "--disable-fallback", "--server", "auto", str(wheels)]
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    wait_for(f"{server.url}/health", process, log)
    return server


def start_devpi(venv: Path, tmp: Path) -> Server:
    serverdir = tmp / "devpi-server"
    subprocess.run(
        [
            str(venv / "bin" / "devpi-init"),
            "--serverdir",
            str(serverdir),
            "--no-root-pypi",
            "--root-passwd",
            DEVPI_ROOT_PASSWORD,
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = tmp / "devpi.log"
    cmd = [str(venv / "bin" / "devpi-server"), "--serverdir", str(serverdir), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--offline-mode"]
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    wait_for(f"{server.url}/+api", process, log)
    return server


@dataclass
class Upload:
    files: int
    seconds: float
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    """Per request, when the uploader sees them (Packyard); empty for devpi (one process per batch)."""

    @property
    def rate(self) -> float:
        return self.files / self.seconds


def fill_devpi(venv: Path, server: Server, tmp: Path, paths: Sequence[Path], processes: int) -> Upload:
    """A user and an index (no bases), then `devpi upload` of every file, `processes` uploads at a time."""
    clientdir = tmp / "devpi-client"
    devpi = [str(venv / "bin" / "devpi")]

    def run(*args: str) -> None:
        result = subprocess.run(
            [*devpi, *args, "--clientdir", str(clientdir)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"devpi {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    run("use", server.url)
    run("login", "root", "--password", DEVPI_ROOT_PASSWORD)
    run("user", "-c", OWNER, f"password={PASSWORD}", "email=bench@example.org")
    run("login", OWNER, "--password", PASSWORD)
    run("index", "-c", f"{OWNER}/dev", "bases=")
    run("use", f"{OWNER}/dev")
    batch = 250
    batches = [list(paths[i : i + batch]) for i in range(0, len(paths), batch)]
    start = time.perf_counter()
    with ThreadPoolExecutor(processes) as pool:
        for done, _ in enumerate(pool.map(lambda files: run("upload", *map(str, files)), batches), start=1):
            if done % max(1, len(batches) // 10) == 0:
                console.log(f"devpi: {min(done * batch, len(paths)):,} / {len(paths):,} files")
    return Upload(len(paths), time.perf_counter() - start, processes)


# --- Packyard: the real upload path -----------------------------------------------------------------------------


def packyard_token(server: Server, data: Path) -> str:
    subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", "user", "create", OWNER, "--password", PASSWORD],
        env=packyard_env(data),
        check=True,
        capture_output=True,
    )
    response = httpx.post(
        f"{server.url}/api/authentications", auth=(OWNER, PASSWORD), json={"note": "bench"}, timeout=60
    )
    response.raise_for_status()
    return response.json()["token"]


def fill_packyard(server: Server, token: str, paths: Sequence[Path], concurrency: int) -> Upload:
    """POST every wheel to /pypi/OWNER/ as twine does (multipart, `__token__` Basic auth), `concurrency` at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.Client(timeout=300, limits=limits, auth=("__token__", token))
    done = 0
    lock = threading.Lock()
    step = max(1, len(paths) // 10)

    def one(path: Path) -> float:
        nonlocal done
        data = path.read_bytes()
        dist, version = path.name.split("-")[:2]
        form = {
            ":action": "file_upload",
            "protocol_version": "1",
            "name": dist.replace("_", "-"),
            "version": version,
            "filetype": "bdist_wheel",
            "pyversion": "py3",
            "metadata_version": "2.1",
            "md5_digest": hashlib.md5(data).hexdigest(),
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        }
        t0 = time.perf_counter()
        response = client.post(
            f"{server.url}/pypi/{OWNER}/",
            data=form,
            files={"content": (path.name, data, "application/octet-stream")},
        )
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"upload of {path.name}: {response.status_code} {response.text}")
        with lock:
            done += 1
            if done % step == 0:
                console.log(f"packyard: {done:,} / {len(paths):,} files")
        return elapsed

    start = time.perf_counter()
    with client, ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, paths))
    return Upload(len(paths), time.perf_counter() - start, concurrency, latencies)


# --- what each server answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    server: Server
    simple: str
    """The index URL (…/simple/), which project names are appended to."""


@dataclass
class Page:
    content_type: str
    size: int
    files: int


def check_page(target: Target, project: str, files: int) -> Page:
    """A project page as pip asks for it; it must list exactly the project's `files` wheels."""
    response = httpx.get(f"{target.simple}{project}/", headers=dict([PIP_ACCEPT.split(": ", 1)]), timeout=120)
    response.raise_for_status()
    content_type = response.headers.get("content-type", "").split(";")[0]
    if "json" in content_type:
        listed = len(response.json()["files"])
    else:
        listed = len(set(re.findall(r"[\w.-]+\.whl", response.text)))
    if listed != files:
        raise RuntimeError(f"{target.label}: {project} lists {listed} files, expected {files}")
    return Page(content_type, len(response.content), listed)


def cold_and_warm(target: Target, project: str, repeats: int = 5) -> list[tuple[str, str, str]]:
    """On a server that has just started: the first GET of the root page and of a project page, which builds the
    document from the rows, and the median of `repeats` more, served from the cache. One keep-alive connection,
    so with several workers every GET reaches the same one."""
    rows = []
    with httpx.Client(headers=dict([PIP_ACCEPT.split(": ", 1)]), timeout=600) as client:
        for what, url in (
            ("/simple/ (root)", target.simple),
            (f"/simple/{project}/", f"{target.simple}{project}/"),
        ):
            times = []
            for _ in range(1 + repeats):
                t0 = time.perf_counter()
                client.get(url).raise_for_status()
                times.append(time.perf_counter() - t0)
            console.log(
                f"{target.label}: {what} cold {ms(times[0])}, warm {ms(statistics.median(times[1:]))}"
            )
            rows.append((f"{target.label}: {what}", ms(times[0]), ms(statistics.median(times[1:]))))
    return rows


def warm(target: Target, projects: int, passes: int) -> float:
    """GET every project page `passes` times (4 at a time, a new connection each, so every worker of a
    multi-process server sees some): each server's caches (pypiserver's digests, Packyard's rendered pages) are
    then as they would be on a server in use. Returns the seconds it took."""
    urls = [f"{target.simple}{project_name(i)}/" for i in range(projects)] * passes
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=0)
    client = httpx.Client(headers=dict([PIP_ACCEPT.split(": ", 1)]), limits=limits, timeout=300)

    def get(url: str) -> None:
        client.get(url).raise_for_status()

    start = time.perf_counter()
    with client, ThreadPoolExecutor(4) as pool:
        list(pool.map(get, urls))
    return time.perf_counter() - start


LUA = """
local paths = {%s}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  math.randomseed(seed * 104729 + os.time())
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def lua_script(target: Target, projects: int, folder: Path) -> Path:
    prefix = httpx.URL(target.simple).path
    paths = ",".join(f'"{prefix}{project_name(i)}/"' for i in range(projects))
    script = folder / f"{target.key}.lua"
    script.write_text(LUA % paths)
    return script


def load(target: Target, script: Path, seconds: float, warmup: float, args: argparse.Namespace) -> Load:
    """A warm-up run (not counted), then the measured run, both walking random project pages."""
    if warmup:
        wrk(target.server.url, warmup, args.connections, args.threads, script, [PIP_ACCEPT])
    result = wrk(target.server.url, seconds, args.connections, args.threads, script, [PIP_ACCEPT])
    console.log(
        f"{target.label}: {result.rps:,.1f} req/s, p50 {ms(result.p50)}, p99 {ms(result.p99)}, "
        f"errors {result.errors}"
    )
    return result


def pip_download(target: Target, projects: Sequence[str], dest: Path) -> float:
    """Wall time of one `pip download --no-deps` of every project, by a pip that reads no configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cmd = [str(CLIENTS_PIP), "download", "--no-deps", "--no-cache-dir", "-q", "-d", str(dest)]
    cmd += ["--index-url", target.simple, *projects]
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"pip download from {target.label} failed:\n{result.stdout}\n{result.stderr}")
    got = len(list(dest.glob("*.whl")))
    if got != len(projects):
        raise RuntimeError(f"pip download from {target.label} fetched {got} wheels, expected {len(projects)}")
    return elapsed


# --- report -----------------------------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def add_results(
    report: Report,
    targets: Sequence[Target],
    loads: dict[str, list[Load]],
    pips: dict[str, list[float]],
    pages: dict[str, Page],
    args: argparse.Namespace,
) -> dict[str, float]:
    """The main table; returns each server's requests/s (median over the rounds)."""
    rps = {key: statistics.median(x.rps for x in runs) for key, runs in loads.items()}
    pip = {key: statistics.median(times) for key, times in pips.items()}
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    rows = report.table(
        f"Project pages under load (wrk -t{args.threads} -c{args.connections}, {args.seconds:g} s, random "
        f"projects, pip's Accept{rounds}) and pip download --no-deps of {args.pip_projects} projects",
        "server",
        "pages/s",
        "p50",
        "p99",
        "errors",
        "vs pypiserver",
        "vs devpi",
        f"pip download {args.pip_projects}",
        "pip: peers' time / this (pypiserver / devpi)",
        "page served",
    )
    for target in targets:
        runs = loads[target.key]
        mid = sorted(runs, key=lambda x: x.rps)[len(runs) // 2]
        page = pages[target.key]
        vs = [
            ratio(rps[target.key], rps[peer]) if peer in rps and peer != target.key else "-"
            for peer in ("pypiserver", "devpi")
        ]
        pip_vs = "-"
        if target.key.startswith("packyard"):
            pip_vs = " / ".join(
                ratio(pip[peer], pip[target.key]) for peer in ("pypiserver", "devpi") if peer in pip
            )
        rows.append(
            (
                target.label,
                f"{rps[target.key]:,.1f}",
                ms(mid.p50),
                ms(mid.p99),
                str(sum(x.errors for x in runs)),
                *vs,
                f"{pip[target.key]:.1f} s",
                pip_vs,
                f"{page.content_type.removeprefix('application/vnd.pypi.simple.')}, {page.size:,} B",
            )
        )
    return rps


def goal(rps: dict[str, float]) -> tuple[str, str]:
    peers = [rps[p] for p in ("pypiserver", "devpi") if p in rps]
    if "packyard" not in rps or not peers:
        return ("goal", "not judged (a server was skipped)")
    best = max(peers)
    one = rps["packyard"] / best
    two = rps.get("packyard-w2", 0) / best
    verdict = "MET" if one >= 2 else "NOT MET"
    text = f"{verdict}: Packyard (1 worker, the default) = {one:.2f}x the faster peer (goal >= 2x)"
    if "packyard-w2" in rps:
        text += f"; with --workers 2: {two:.2f}x"
    return ("goal: Packyard >= 2x both peers in pages/s", text)


# --- main -------------------------------------------------------------------------------------------------------


SERVERS = ("pypiserver", "devpi", "packyard", "packyard-w2")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=None, help="projects (default 1000; --quick 100)")
    parser.add_argument("--files", type=int, default=None, help="wheels per project (default 20; --quick 5)")
    parser.add_argument(
        "--quick", action="store_true", help="100 x 5 wheels, 3 s loads, 10 pip projects: a smoke run"
    )
    parser.add_argument("--seconds", type=float, default=None, help="each measured wrk run (default 15)")
    parser.add_argument("--warmup", type=float, default=None, help="the wrk warm-up before each (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every server this many times (1)")
    parser.add_argument("--pip-projects", type=int, default=None, help="projects pip downloads (default 50)")
    parser.add_argument("--upload-concurrency", type=int, default=12, help="parallel Packyard uploads (12)")
    parser.add_argument("--devpi-processes", type=int, default=4, help="parallel `devpi upload`s (4)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"which servers to measure, comma-separated (default {','.join(SERVERS)})",
    )
    parser.add_argument("--max-load", type=float, default=2.0, help="wait for this load average (2.0)")
    parser.add_argument(
        "--max-wait", type=float, default=None, help="...at most this long (600 s; --quick 60)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"markdown output (default {RESULTS.relative_to(ROOT)})"
    )
    args = parser.parse_args(argv)
    args.projects = args.projects or (100 if args.quick else 1000)
    args.files = args.files or (5 if args.quick else 20)
    args.seconds = args.seconds or (3.0 if args.quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 5.0)
    args.pip_projects = min(args.projects, args.pip_projects or (10 if args.quick else 50))
    args.max_wait = args.max_wait if args.max_wait is not None else (60.0 if args.quick else 600.0)
    args.servers = [s for s in SERVERS if s in args.servers.split(",")]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="packyard-bench-pypi-"))
    report = Report("Packyard PyPI simple pages (issue #5)", context=machine_context())
    report.context.append(
        ("data", f"{args.projects:,} projects x {args.files} wheels = {args.projects * args.files:,} files")
    )
    servers: list[Server] = []
    targets: list[Target] = []
    try:
        wheels = tmp / "wheels"
        with phase(f"writing {args.projects * args.files:,} wheels"):
            t0 = time.perf_counter()
            paths, size = write_wheels(wheels, args.projects, args.files)
            verify_sample(paths)
            write_time = time.perf_counter() - t0
        setup = report.table("Setup (not goals)", "step", "time", "note")
        setup.append(
            (
                "write the wheels",
                f"{write_time:.1f} s",
                f"{len(paths):,} files, {size / 1e6:.1f} MB, {os.cpu_count()} processes",
            )
        )

        if "pypiserver" in args.servers:
            with phase("pypiserver"):
                venv = ensure_venv("pypiserver", PYPISERVER, "import pypiserver, waitress, watchdog")
                server = start_pypiserver(venv, wheels, tmp)
                servers.append(server)
                t0 = time.perf_counter()
                httpx.get(f"{server.url}/simple/", timeout=600).raise_for_status()  # builds its listing
                first = time.perf_counter() - t0
            report.context.append(
                (
                    "pypiserver",
                    f"{pip_versions(venv, 'pypiserver', 'waitress', 'watchdog')}; `pypi-server run -a . -P . "
                    "--disable-fallback` on the wheel folder (waitress, cached-dir backend)",
                )
            )
            setup.append(("pypiserver: first /simple/", f"{first:.1f} s", "it lists the folder once"))
            targets.append(Target("pypiserver", "pypiserver", server, f"{server.url}/simple/"))

        if "devpi" in args.servers:
            with phase("devpi-server: init, start, upload"):
                venv = ensure_venv("devpi", DEVPI, "import devpi_server, devpi")
                server = start_devpi(venv, tmp)
                servers.append(server)
                up = fill_devpi(venv, server, tmp, paths, args.devpi_processes)
            report.context.append(
                (
                    "devpi",
                    f"{pip_versions(venv, 'devpi-server', 'devpi-client', 'waitress')}; `devpi-server "
                    f"--offline-mode` (default 50 threads), index {OWNER}/dev with no bases",
                )
            )
            setup.append(
                (
                    "devpi: devpi upload",
                    f"{up.seconds:.1f} s",
                    f"{up.rate:,.1f} files/s, {up.concurrency} `devpi upload` processes at a time",
                )
            )
            targets.append(Target("devpi", "devpi-server", server, f"{server.url}/{OWNER}/dev/+simple/"))

        data = tmp / "packyard-data"
        if {"packyard", "packyard-w2"} & set(args.servers):
            with phase(f"packyard: upload {len(paths):,} files through POST /pypi/{OWNER}/"):
                server = start_packyard(data, tmp / "packyard-upload.log")
                servers.append(server)
                token = packyard_token(server, data)
                up = fill_packyard(server, token, paths, args.upload_concurrency)
                server.stop()
            cuts = statistics.quantiles(up.latencies, n=100)
            setup.append(
                (
                    "packyard: twine-style uploads",
                    f"{up.seconds:.1f} s",
                    f"{up.rate:,.1f} files/s, {up.concurrency} at a time, 1 worker; per upload p50 "
                    f"{ms(cuts[49])}, p99 {ms(cuts[98])}",
                )
            )
            builds = report.table(
                "First GET on a fresh server (the page is built from the database) and warm GETs (median of 5, "
                "from the cache), pip's Accept",
                "page",
                "cold",
                "warm",
            )
            for key, workers, label in (
                ("packyard", 1, "Packyard, 1 worker"),
                ("packyard-w2", 2, "Packyard, --workers 2"),
            ):
                if key in args.servers:
                    server = start_packyard(data, tmp / f"{key}.log", workers=workers)
                    servers.append(server)
                    targets.append(Target(key, label, server, f"{server.url}/pypi/{OWNER}/simple/"))
                    builds.extend(cold_and_warm(targets[-1], project_name(args.projects // 2)))

        sample = random.Random(5).sample(range(args.projects), args.pip_projects)
        pip_projects = [project_name(i) for i in sample]
        pages = {t.key: check_page(t, pip_projects[0], args.files) for t in targets}

        loads: dict[str, list[Load]] = {t.key: [] for t in targets}
        pips: dict[str, list[float]] = {t.key: [] for t in targets}
        scripts = {t.key: lua_script(t, args.projects, tmp) for t in targets}
        with phase("warming every server: each project page once (3 times for --workers 2)"):
            for target in targets:
                seconds = warm(target, args.projects, 3 if target.key == "packyard-w2" else 1)
                setup.append((f"{target.label}: warm every page", f"{seconds:.1f} s", "not measured"))
        load_before, waited = wait_for_quiet(args.max_load, args.max_wait)
        report.context.append(
            (
                "load average before measuring",
                f"{load_before:.2f} (1 min; waited {waited:.0f} s for <= {args.max_load:g})",
            )
        )
        for n in range(args.rounds):
            with phase(f"measuring, round {n + 1} of {args.rounds}"):
                for target in targets:
                    loads[target.key].append(
                        load(target, scripts[target.key], args.seconds, args.warmup, args)
                    )
                    dest = tmp / "pip" / f"{target.key}-{n}"
                    pips[target.key].append(pip_download(target, pip_projects, dest))
                    console.log(f"{target.label}: pip download {pips[target.key][-1]:.1f} s")
        rps = add_results(report, targets, loads, pips, pages, args)
        report.context.insert(0, goal(rps))
        loads_seen = [x.loadavg for runs in loads.values() for x in runs]
        report.context.append(
            (
                "load average during the runs",
                f"{min(loads_seen):.2f} - {max(loads_seen):.2f} (1 min, at each start)",
            )
        )
        for target in targets:
            if target.key.startswith("packyard"):
                rss, hwm = memory(target.server.process.pid)
                report.context.append(
                    (f"{target.label}: memory", f"RSS {rss / 1e6:,.0f} MB, peak {hwm / 1e6:,.0f} MB")
                )
        started_on = dict(report.context)["code"]
        if (ended_on := code_version()) != started_on:
            report.context.append(("code at end (src/ changed during the run)", ended_on))
        report.context.append(("load average at end", loadavg()))
        report.context.append(("run", f"{time.perf_counter() - started:.0f} s in all, {dt.date.today()}"))
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            console.log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report.print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    console.log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
