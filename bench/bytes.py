"""Benchmark Packyard's byte path (issue #11, item 8) against nginx and the machine's own limit, in one run.

In a temporary folder, with one Packyard server (`serve`, 1 worker by default, SQLite) and one nginx:

  1. upload ingest: the machine's hash-and-write limit (md5 + sha256 of SIZE bytes written in 1 MiB chunks, then
     fdatasync, timed by this script), then a SIZE upload through each upload route (the REST stage -> POST
     post_url -> commit flow, twine's POST /pypi/OWNER/ with a SIZE wheel, the one-request POST /api/repo/OWNER),
     sent by curl from disk, with the server's RSS sampled every 20 ms during each;
  2. large download: the uploaded file and wheel fetched by curl (to /dev/null) from Packyard's download routes and
     the same bytes from nginx, alternately, median of several runs;
  3. `pip download --no-deps` of 50 one-wheel projects from Packyard (uploaded as twine does) and from a static
     PEP 503 index of the same wheels served by nginx, median of several rounds.

Run from the repository root: `python bench/bytes.py` (`--quick` for a smoke run); see bench/README.md.
It prints a table and writes the same as markdown to bench/results/bytes.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import html
import io
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from common import (  # bench/common.py: the script's folder is first on sys.path
    Report,
    Server,
    code_version,
    console,
    loadavg,
    machine_context,
    memory,
    phase,
    start_nginx,
    start_packyard,
    wait_for_quiet,
)
from pypi_simple import (  # the wheel writer, the user + token and the twine-style uploads
    OWNER,
    fill_packyard,
    packyard_token,
    project_name,
    verify_sample,
    wheel_bytes,
    wheel_name,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bytes.md"

CHUNK = 1 << 20
"""Everything is written, hashed and generated 1 MiB at a time."""
STAMP = (2024, 1, 1, 0, 0, 0)
SAMPLE_SECONDS = 0.02
"""How often the server's RSS is read during an upload or a download."""
PIP_VERSION = "1.0.0"

REST_PACKAGE, REPO_PACKAGE, WHEEL_PROJECT = "big-file", "big-repo", "bench-big"
"""The `file` package the REST flow uploads to, the one POST /api/repo/OWNER creates, and the big wheel's project."""

GOAL_DOWNLOAD = 0.8
GOAL_PIP = 1.2
GOAL_INGEST = 0.5
GOAL_RSS_MB = 150


# --- the bytes --------------------------------------------------------------------------------------------------


def chunks(size: int, seed: int) -> Iterator[bytes]:
    """`size` incompressible bytes, quickly: one random 1 MiB block per seed, each copy stamped with its index
    (so no two chunks are equal and no two seeds give equal files)."""
    block = random.Random(seed).randbytes(CHUNK)
    stamp = seed.to_bytes(8, "little")
    for i in range(size // CHUNK):
        yield i.to_bytes(8, "little") + stamp + block[16:]


@dataclass(frozen=True)
class Payload:
    path: Path
    size: int
    md5: str
    sha256: str

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.md5)).decode()


def hash_and_write(path: Path, size: int, seed: int) -> tuple[Payload, float]:
    """Write the bytes in 1 MiB chunks to a new file while computing md5 and sha256, then fdatasync: what an
    upload must do at the least. Returns the file and the seconds spent hashing, writing and syncing (generating
    the chunks is not counted)."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    path.unlink(missing_ok=True)
    spent = 0.0
    with path.open("wb", buffering=0) as fh:
        for chunk in chunks(size, seed):
            t0 = time.perf_counter()
            md5.update(chunk)
            sha256.update(chunk)
            fh.write(chunk)
            spent += time.perf_counter() - t0
        t0 = time.perf_counter()
        os.fdatasync(fh.fileno())
        spent += time.perf_counter() - t0
    return Payload(path, size, md5.hexdigest(), sha256.hexdigest()), spent


def digest_file(path: Path) -> Payload:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
    return Payload(path, path.stat().st_size, md5.hexdigest(), sha256.hexdigest())


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def big_wheel(folder: Path, size: int, seed: int) -> Payload:
    """A valid wheel of about `size` bytes: one stored (uncompressed) data member of `size` bytes, METADATA, WHEEL
    and a RECORD with every member's hash, as Packyard's parser and pip expect."""
    dist, version = WHEEL_PROJECT.replace("-", "_"), "1.0"
    info = f"{dist}-{version}.dist-info"
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    small = {
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {WHEEL_PROJECT}\nVersion: {version}\n"
            f"Summary: {size // CHUNK} MiB of data for Packyard's byte-path benchmark\n\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: packyard-bench (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    data_name = f"{dist}/data.bin"
    sha256 = hashlib.sha256()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        member = zipfile.ZipInfo(data_name, STAMP)
        member.compress_type = zipfile.ZIP_STORED
        member.file_size = size
        with archive.open(member, "w", force_zip64=size * 1.05 > zipfile.ZIP64_LIMIT) as out:
            for chunk in chunks(size, seed):
                sha256.update(chunk)
                out.write(chunk)
        record = f"{data_name},sha256={_b64(sha256.digest())},{size}\n"
        for name, data in small.items():
            archive.writestr(zipfile.ZipInfo(name, STAMP), data, zipfile.ZIP_DEFLATED)
            record += f"{name},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}\n"
        archive.writestr(zipfile.ZipInfo(f"{info}/RECORD", STAMP), record + f"{info}/RECORD,,\n")
    with path.open("rb") as fh:
        os.fdatasync(fh.fileno())
    from packyard.formats.pypi.parse import parse  # the server's own parser must accept it

    parse(path, path.name)
    return digest_file(path)


# --- the server's memory ----------------------------------------------------------------------------------------


def memory_by_process(pid: int) -> dict[int, tuple[int, int]]:
    """(VmRSS, VmHWM) in bytes of the process and of each child (uvicorn's workers with --workers > 1)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    out = {}
    for one in pids:
        with contextlib.suppress(OSError, ValueError):
            fields = dict(
                line.split(":", 1)
                for line in Path(f"/proc/{one}/status").read_text().splitlines()
                if ":" in line
            )
            out[one] = (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)
    return out


@dataclass
class Rss:
    start: int = 0
    """The largest process's RSS just before."""
    peak: int = 0
    """The largest single process's RSS while it ran (the goal's number): the highest sample, or the process's
    VmHWM when that rose during the run (a spike between two samples that beat every earlier peak)."""
    peak_total: int = 0
    """The sum over the server's processes (differs from `peak` only with --workers > 1)."""
    samples: int = 0
    hwm_moved: bool = False
    """VmHWM rose during the run: the peak is at least that (whatever the samples saw)."""


class RssSampler:
    """Reads the server's RSS every 20 ms in a thread while the `with` block runs. VmHWM alone cannot give one
    upload's peak: it is the peak over the process's whole life, and start-up (imports, migrations) already
    reaches ~150 MB. It is still read before and after: when it rose, the run set a new lifetime peak."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.result = Rss()
        self._hwm: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[int, tuple[int, int]]:
        now = memory_by_process(self.pid)
        if now:
            self.result.peak = max(self.result.peak, max(rss for rss, _ in now.values()))
            self.result.peak_total = max(self.result.peak_total, sum(rss for rss, _ in now.values()))
            self.result.samples += 1
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Rss:
        now = self._sample()
        self.result.start = max((rss for rss, _ in now.values()), default=0)
        self._hwm = {pid: hwm for pid, (_, hwm) in now.items()}
        self._thread.start()
        return self.result

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for pid, (_, hwm) in self._sample().items():
            if hwm > self._hwm.get(pid, 0):
                self.result.hwm_moved = True
                self.result.peak = max(self.result.peak, hwm)


# --- curl -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    status: int
    seconds: float
    uploaded: int
    downloaded: int
    body: str

    def mbps(self, size: int) -> float:
        return size / self.seconds / 1e6


def curl(url: str, *args: str, output: Path | None = None) -> Transfer:
    """One curl request; its own timing (`time_total`: connect to last byte), so process start-up is not counted.
    `Expect:` is cleared so large uploads do not wait for a 100 Continue."""
    sink = output or Path(os.devnull)
    cmd = ["curl", "-sS", "--max-time", "1800", "-H", "Expect:", "-o", str(sink)]
    cmd += ["-w", "%{http_code} %{time_total} %{size_upload} %{size_download}", *args, url]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"curl {url} failed ({result.returncode}): {result.stderr}")
    status, seconds, uploaded, downloaded = result.stdout.split()
    body = output.read_text(errors="replace")[-2000:] if output is not None else ""
    return Transfer(int(status), float(seconds), int(float(uploaded)), int(float(downloaded)), body)


def curl_version() -> str:
    return subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]


# --- 1. upload ingest -------------------------------------------------------------------------------------------


@dataclass
class Ingest:
    route: str
    request: str
    seconds: float
    size: int
    rss: Rss
    extra: str = ""

    @property
    def mbps(self) -> float:
        return self.size / self.seconds / 1e6


class Api:
    """The REST calls around the big POST, with the token anaconda-client would send."""

    def __init__(self, server: Server, token: str) -> None:
        self.url = server.url
        self.client = httpx.Client(timeout=600, headers={"Authorization": f"token {token}"})

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"{self.url}{path}", json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        return response.json() if response.content else {}


def upload_rest(server: Server, api: Api, payload: Payload, tmp: Path) -> Ingest:
    """anaconda-client's flow for a `file` package: stage, multipart POST to post_url (form_data first, then the
    file), commit. The POST is the ingest; stage and commit are reported beside it."""
    api.post(
        f"/api/package/{OWNER}/{REST_PACKAGE}",
        {"public": True, "public_attrs": {"summary": "benchmark payload"}},
    )
    where = f"{OWNER}/{REST_PACKAGE}/1/{quote(payload.path.name)}"
    t0 = time.perf_counter()
    staged = api.post(
        f"/api/stage/{where}",
        {
            "distribution_type": "file",
            "description": None,
            "attrs": {},
            "channels": ["main"],
            "sha256": payload.sha256,
        },
    )
    stage_seconds = time.perf_counter() - t0
    form = {**staged["form_data"], "Content-Length": str(payload.size), "Content-MD5": payload.md5_b64}
    args = [arg for key, value in form.items() for arg in ("-F", f"{key}={value}")]
    with RssSampler(server.process.pid) as rss:
        sent = curl(str(staged["post_url"]), *args, "-F", f"file=@{payload.path}", output=tmp / "rest.out")
    if sent.status != 201:
        raise RuntimeError(f"POST post_url: {sent.status} {sent.body}")
    t0 = time.perf_counter()
    api.post(f"/api/commit/{where}", {"dist_id": staged["dist_id"]})
    commit_seconds = time.perf_counter() - t0
    extra = f"stage {stage_seconds * 1000:,.0f} ms, commit {commit_seconds * 1000:,.0f} ms"
    return Ingest(
        "REST: stage, POST post_url, commit", "POST /api/upload/ID", sent.seconds, payload.size, rss, extra
    )


def upload_pypi(server: Server, token: str, wheel: Payload, tmp: Path) -> Ingest:
    """twine's legacy upload: metadata fields, then the wheel as `content`, `__token__` Basic auth."""
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": WHEEL_PROJECT,
        "version": "1.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "md5_digest": wheel.md5,
        "sha256_digest": wheel.sha256,
    }
    args = [arg for key, value in fields.items() for arg in ("-F", f"{key}={value}")]
    with RssSampler(server.process.pid) as rss:
        sent = curl(
            f"{server.url}/pypi/{OWNER}/",
            "-u",
            f"__token__:{token}",
            *args,
            "-F",
            f"content=@{wheel.path};type=application/octet-stream",
            output=tmp / "pypi.out",
        )
    if sent.status != 200:
        raise RuntimeError(f"POST /pypi/{OWNER}/: {sent.status} {sent.body}")
    return Ingest(
        "PyPI legacy upload (twine's form), a wheel", f"POST /pypi/{OWNER}/", sent.seconds, wheel.size, rss
    )


def upload_repo(server: Server, token: str, payload: Payload, tmp: Path) -> Ingest:
    """The one-request upload of a `file` package, as docs/api.md shows it with curl (plus the sha256, which the
    server then checks: the bytes stored must be the bytes sent)."""
    with RssSampler(server.process.pid) as rss:
        sent = curl(
            f"{server.url}/api/repo/{OWNER}",
            "-H",
            f"Authorization: token {token}",
            "-F",
            "filetype=file",
            "-F",
            f"name={REPO_PACKAGE}",
            "-F",
            "version=1",
            "-F",
            f"sha256_digest={payload.sha256}",
            "-F",
            f"content=@{payload.path}",
            output=tmp / "repo.out",
        )
    if sent.status != 200:
        raise RuntimeError(f"POST /api/repo/{OWNER}: {sent.status} {sent.body}")
    return Ingest("one request, `file` package", f"POST /api/repo/{OWNER}", sent.seconds, payload.size, rss)


# --- 2. large download ------------------------------------------------------------------------------------------


@dataclass
class Download:
    route: str
    size: int
    packyard: list[float] = field(default_factory=list)
    """MB/s of each run."""
    nginx: list[float] = field(default_factory=list)
    rss: Rss = field(default_factory=Rss)

    @property
    def ratio(self) -> float:
        return statistics.median(self.packyard) / statistics.median(self.nginx)


def fetch(url: str, size: int) -> float:
    got = curl(url)
    if got.status != 200 or got.downloaded != size:
        raise RuntimeError(f"GET {url}: HTTP {got.status}, {got.downloaded:,} of {size:,} bytes")
    return got.mbps(size)


def fetch_checked(url: str, payload: Payload) -> None:
    """GET the file and compare its sha256 with what was uploaded: a faster server must still send the bytes."""
    sha256 = hashlib.sha256()
    with httpx.stream("GET", url, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(CHUNK):
            sha256.update(chunk)
    if sha256.hexdigest() != payload.sha256:
        raise RuntimeError(
            f"GET {url}: the bytes differ from the file uploaded (sha256 {sha256.hexdigest()})"
        )


def measure_download(
    route: str, packyard_url: str, nginx_url: str, payload: Payload, runs: int, pid: int
) -> Download:
    """One unmeasured GET of each (Packyard's checked against the upload's sha256; both files then sit in the
    page cache), then `runs` of each, alternating so that a change in the machine's load moves both."""
    size = payload.size
    result = Download(route, size)
    fetch_checked(packyard_url, payload)
    fetch(nginx_url, size)
    for _ in range(runs):
        with RssSampler(pid) as rss:
            result.packyard.append(fetch(packyard_url, size))
        result.rss.start = result.rss.start or rss.start
        result.rss.peak = max(result.rss.peak, rss.peak)
        result.rss.peak_total = max(result.rss.peak_total, rss.peak_total)
        result.rss.hwm_moved |= rss.hwm_moved
        result.nginx.append(fetch(nginx_url, size))
    console.log(
        f"{route}: Packyard {statistics.median(result.packyard):,.0f} MB/s, nginx "
        f"{statistics.median(result.nginx):,.0f} MB/s ({result.ratio:.2f}x)"
    )
    return result


# --- 3. pip download --------------------------------------------------------------------------------------------


def write_small_wheels(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / wheel_name(project_name(i), PIP_VERSION)
        path.write_bytes(wheel_bytes(project_name(i), PIP_VERSION))
        paths.append(path)
    verify_sample(paths)
    return paths


def static_index(root: Path, wheels: Sequence[Path], metadata: bool) -> None:
    """A PEP 503 index nginx can serve as files: simple/index.html, simple/PROJECT/index.html linking to
    ../../files/PROJECT/FILE#sha256=... (the URL layout Packyard uses), with `data-requires-python` and, when
    `metadata`, PEP 658 metadata files and attributes, as Packyard's pages have them (pip then asks both servers
    for the same things: page, metadata, wheel)."""
    names = []
    for wheel in wheels:
        project = wheel.name.split("-")[0].replace("_", "-")
        names.append(project)
        files = root / "files" / project
        files.mkdir(parents=True)
        data = wheel.read_bytes()
        (files / wheel.name).write_bytes(data)
        attrs = [
            f'href="../../files/{project}/{wheel.name}#sha256={hashlib.sha256(data).hexdigest()}"',
            'data-requires-python="&gt;=3.8"',
        ]
        if metadata:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                meta = archive.read(f"{project.replace('-', '_')}-{PIP_VERSION}.dist-info/METADATA")
            (files / f"{wheel.name}.metadata").write_bytes(meta)
            digest = hashlib.sha256(meta).hexdigest()
            attrs += [f'data-core-metadata="sha256={digest}"', f'data-dist-info-metadata="sha256={digest}"']
        page = root / "simple" / project
        page.mkdir(parents=True)
        (page / "index.html").write_text(
            "<!DOCTYPE html>\n"
            '<html><head><meta name="pypi:repository-version" content="1.1">'
            f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>\n"
            f"<a {' '.join(attrs)}>{html.escape(wheel.name)}</a><br/>\n</body></html>\n"
        )
    links = "\n".join(f'<a href="{name}/">{name}</a><br/>' for name in sorted(names))
    (root / "simple" / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><head><title>Simple index</title></head><body>\n{links}\n</body></html>\n"
    )


def find_pip(option: str | None) -> Path:
    """--pip, else the clients' venv the tests use (PACKYARD_CLIENTS_BIN, then ./.venv-clients), else PATH."""
    candidates = [option] if option else []
    if clients := os.environ.get("PACKYARD_CLIENTS_BIN"):
        candidates.append(f"{clients}/pip")
    candidates.append(str(ROOT / ".venv-clients" / "bin" / "pip"))
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    if found := shutil.which("pip"):
        return Path(found)
    raise SystemExit("no pip found: pass --pip PATH (or set PACKYARD_CLIENTS_BIN)")


def pip_download(pip: Path, index: str, projects: Sequence[str], dest: Path) -> float:
    """Wall time of one `pip download --no-deps --no-cache-dir` of every project, by a pip reading no config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cmd = [str(pip), "download", "--no-deps", "--no-cache-dir", "-q", "-d", str(dest), "--index-url", index]
    start = time.perf_counter()
    result = subprocess.run([*cmd, *projects], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"pip download from {index} failed:\n{result.stdout}\n{result.stderr}")
    got = len(list(dest.glob("*.whl")))
    if got != len(projects):
        raise RuntimeError(f"pip download from {index} fetched {got} wheels, expected {len(projects)}")
    return elapsed


def pip_version(pip: Path) -> str:
    return subprocess.run([str(pip), "--version"], capture_output=True, text=True).stdout.split(" from ")[0]


# --- report -----------------------------------------------------------------------------------------------------


def mb(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def median_of(values: Sequence[float], unit: str, digits: int = 0) -> str:
    text = f"{statistics.median(values):,.{digits}f} {unit}"
    if len(values) > 1:
        text += f" (runs {', '.join(f'{v:,.{digits}f}' for v in values)})"
    return text


# --- main -------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=None, help="size of the big file (1024; --quick 128)")
    parser.add_argument("--projects", type=int, default=None, help="projects pip downloads (50; --quick 10)")
    parser.add_argument("--rounds", type=int, default=None, help="pip rounds, median (3; --quick 1)")
    parser.add_argument(
        "--runs", type=int, default=None, help="download runs per server, median (5; --quick 2)"
    )
    parser.add_argument(
        "--limit-runs",
        type=int,
        default=None,
        help="extra hash-and-write runs beyond the 2 payloads (1; --quick 0)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="Packyard workers, and nginx worker_processes (1)"
    )
    parser.add_argument(
        "--no-static-metadata",
        action="store_true",
        help="a static index without PEP 658 .metadata files (pip then makes one request fewer per project there)",
    )
    parser.add_argument("--pip", default=None, help="the pip to run (default: the clients' venv, see README)")
    parser.add_argument("--quick", action="store_true", help="128 MiB, 10 projects, 1 pip round: a smoke run")
    parser.add_argument("--max-load", type=float, default=2.0, help="wait for this load average (2.0)")
    parser.add_argument(
        "--max-wait", type=float, default=None, help="...at most this long (120 s; --quick 0)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"markdown output (default {RESULTS.relative_to(ROOT)})"
    )
    args = parser.parse_args(argv)
    args.size_mib = args.size_mib or (128 if args.quick else 1024)
    args.projects = args.projects or (10 if args.quick else 50)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.runs = args.runs or (2 if args.quick else 5)
    args.limit_runs = args.limit_runs or (2 if args.quick else 3)
    args.max_wait = args.max_wait if args.max_wait is not None else (0.0 if args.quick else 120.0)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if not shutil.which("curl"):
        raise SystemExit("curl is needed: apt-get install -y curl")
    pip = find_pip(args.pip)
    size = args.size_mib * CHUNK
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="packyard-bench-bytes-"))
    report = Report("Packyard byte path (issue #11, item 8)", context=machine_context())
    servers: list[Server] = []
    try:
        load_before, waited = wait_for_quiet(args.max_load, args.max_wait) if args.max_wait else (0.0, 0.0)
        data, src, static = tmp / "packyard-data", tmp / "src", tmp / "static"
        src.mkdir()
        static.mkdir()
        server = start_packyard(data, tmp / "packyard.log", workers=args.workers)
        servers.append(server)
        token = packyard_token(server, data)
        started_rss, started_hwm = memory(server.process.pid)
        nginx, nginx_name = start_nginx(static, tmp, workers=args.workers)
        servers.append(nginx)
        report.context += [
            (
                "packyard",
                f"`serve --workers {args.workers}`, SQLite, a fresh data folder in {tempfile.gettempdir()}",
            ),
            ("nginx", nginx_name),
            ("clients", f"{curl_version()}; {pip_version(pip)}"),
            ("big file", f"{args.size_mib:,} MiB ({size:,} bytes) of incompressible bytes"),
            (
                "packyard memory after start-up",
                f"RSS {mb(started_rss)}, VmHWM {mb(started_hwm)} (imports and migrations: not an upload's)",
            ),
        ]
        if args.max_wait:
            report.context.append(
                ("load average before measuring", f"{load_before:.2f} (waited {waited:.0f} s)")
            )

        # 1. upload ingest
        with phase(f"writing the payloads: 2 files and a wheel of {args.size_mib} MiB"):
            rest_file, _ = hash_and_write(src / f"{REST_PACKAGE}.bin", size, seed=1)
            repo_file, _ = hash_and_write(src / f"{REPO_PACKAGE}.bin", size, seed=2)
            wheel = big_wheel(src, size, seed=3)
        with phase(f"hash-and-write limit: 1 warm-up + {args.limit_runs} x {args.size_mib} MiB"):
            limits = []
            for n in range(1 + args.limit_runs):
                scratch, spent = hash_and_write(tmp / "scratch.bin", size, seed=100 + n)
                scratch.path.unlink()
                if n:  # the first write of a run is slow on a VM (the guest's pages are first touched): not counted
                    limits.append(size / spent / 1e6)
            limit = statistics.median(limits)
            console.log(f"hash-and-write limit {limit:,.0f} MB/s ({', '.join(f'{x:,.0f}' for x in limits)})")
        ingests: list[Ingest] = []
        api = Api(server, token)
        with phase("uploads"):
            ingests.append(upload_rest(server, api, rest_file, tmp))
            ingests.append(upload_pypi(server, token, wheel, tmp))
            ingests.append(upload_repo(server, token, repo_file, tmp))
            for one in ingests:
                console.log(
                    f"{one.request}: {one.mbps:,.0f} MB/s ({one.mbps / limit:.2f}x the limit), RSS "
                    f"{mb(one.rss.start)} -> peak {mb(one.rss.peak)}"
                )

        # 2. large download: the same bytes from nginx (links to the files uploaded)
        for payload in (rest_file, wheel):
            (static / payload.path.name).symlink_to(payload.path)
        pid = server.process.pid
        downloads: list[Download] = []
        with phase(f"large downloads, {args.runs} runs each"):
            downloads.append(
                measure_download(
                    "GET /api/download/O/P/V/FILE (`file` package)",
                    f"{server.url}/api/download/{OWNER}/{REST_PACKAGE}/1/{rest_file.path.name}",
                    f"{nginx.url}/{rest_file.path.name}",
                    rest_file,
                    args.runs,
                    pid,
                )
            )
            downloads.append(
                measure_download(
                    "GET /pypi/O/files/P/FILE (the wheel)",
                    f"{server.url}/pypi/{OWNER}/files/{WHEEL_PROJECT}/{wheel.path.name}",
                    f"{nginx.url}/{wheel.path.name}",
                    wheel,
                    args.runs,
                    pid,
                )
            )

        # 3. pip download
        with phase(f"pip: {args.projects} wheels, uploaded to Packyard and laid out for nginx"):
            wheels = write_small_wheels(tmp / "wheels", args.projects)
            uploaded = fill_packyard(server, token, wheels, concurrency=4)
            static_index(static, wheels, metadata=not args.no_static_metadata)
        projects = [project_name(i) for i in range(args.projects)]
        indexes = {"packyard": f"{server.url}/pypi/{OWNER}/simple/", "nginx": f"{nginx.url}/simple/"}
        pips: dict[str, list[float]] = {key: [] for key in indexes}
        with phase(f"pip download of {args.projects} projects, a warm-up + {args.rounds} rounds"):
            for key, index in indexes.items():  # not counted: fills the servers' page caches, as in use
                pip_download(pip, index, projects, tmp / "pip" / f"{key}-warm-up")
            for n in range(args.rounds):
                for key, index in indexes.items():
                    pips[key].append(pip_download(pip, index, projects, tmp / "pip" / f"{key}-{n}"))
                console.log(f"round {n + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in pips.items()))

        # report
        rows = report.table(
            "Goals (each ratio against a baseline measured in this run)",
            "measurement",
            "Packyard",
            "baseline",
            "ratio",
            "goal",
            "verdict",
        )
        for down in downloads:
            rows.append(
                (
                    f"download {args.size_mib} MiB: {down.route}",
                    f"{statistics.median(down.packyard):,.0f} MB/s",
                    f"nginx {statistics.median(down.nginx):,.0f} MB/s",
                    f"{down.ratio:.2f}x",
                    f">= {GOAL_DOWNLOAD}x nginx",
                    verdict(down.ratio >= GOAL_DOWNLOAD),
                )
            )
        pip_ratio = statistics.median(pips["packyard"]) / statistics.median(pips["nginx"])
        rows.append(
            (
                f"pip download --no-deps of {args.projects} projects",
                f"{statistics.median(pips['packyard']):.2f} s",
                f"nginx static index {statistics.median(pips['nginx']):.2f} s",
                f"{pip_ratio:.2f}x",
                f"<= {GOAL_PIP}x nginx",
                verdict(pip_ratio <= GOAL_PIP),
            )
        )
        for one in ingests:
            rows.append(
                (
                    f"upload {args.size_mib} MiB: {one.request}",
                    f"{one.mbps:,.0f} MB/s",
                    f"hash-and-write {limit:,.0f} MB/s",
                    f"{one.mbps / limit:.2f}x",
                    f">= {GOAL_INGEST}x the limit",
                    verdict(one.mbps / limit >= GOAL_INGEST),
                )
            )
        for one in ingests:
            rows.append(
                (
                    f"server peak RSS during {one.request}",
                    mb(one.rss.peak),
                    f"at start {mb(one.rss.start)}",
                    f"+{mb(one.rss.peak - one.rss.start)}",
                    f"< {GOAL_RSS_MB} MB",
                    verdict(one.rss.peak < GOAL_RSS_MB * 1e6),
                )
            )

        detail = report.table("Details", "measurement", "value", "note")
        detail.append(
            (
                "hash-and-write limit",
                median_of(limits, "MB/s"),
                f"md5 + sha256 + write of {args.size_mib} MiB in 1 MiB chunks to a new file in the temp folder, "
                "then fdatasync, each to a new file (deleted after); a first, unmeasured run touches the pages",
            )
        )
        for one in ingests:
            note = f"{one.route}; curl from disk; RSS sampled every {SAMPLE_SECONDS * 1000:.0f} ms ({one.rss.samples} samples)"
            if one.rss.hwm_moved:
                note += "; VmHWM rose during it (a new lifetime peak, counted)"
            if args.workers > 1:
                note += f"; all processes' peak {mb(one.rss.peak_total)}"
            if one.extra:
                note += f"; {one.extra}"
            detail.append((f"upload: {one.request}", f"{one.seconds:.2f} s, {one.mbps:,.0f} MB/s", note))
        for down in downloads:
            detail.append((f"download: {down.route}", median_of(down.packyard, "MB/s"), "curl -o /dev/null"))
            detail.append(
                (
                    "download: nginx, same bytes",
                    median_of(down.nginx, "MB/s"),
                    "a symlink to the file uploaded",
                )
            )
            detail.append(
                (
                    "server RSS during those downloads",
                    f"peak {mb(down.rss.peak)}",
                    f"at start {mb(down.rss.start)}"
                    + ("; VmHWM rose during them" if down.rss.hwm_moved else ""),
                )
            )
        for key, label in (
            ("packyard", f"Packyard /pypi/{OWNER}/simple/"),
            ("nginx", "nginx, static PEP 503 files"),
        ):
            detail.append(
                (f"pip download: {label}", median_of(pips[key], "s", 2), "after an unmeasured warm-up round")
            )
        detail.append(
            (
                "static index",
                "PEP 503 + PEP 658" if not args.no_static_metadata else "PEP 503 only",
                "simple/PROJECT/index.html, files/PROJECT/FILE"
                + ("" if args.no_static_metadata else " and FILE.metadata, as Packyard serves them"),
            )
        )
        detail.append(
            (
                "setup: twine-style uploads of the small wheels",
                f"{uploaded.seconds:.1f} s",
                f"{uploaded.files} files, {uploaded.rate:,.1f} files/s, 4 at a time",
            )
        )
        rss, hwm = memory(server.process.pid)
        report.context.append(
            ("packyard memory at the end", f"RSS {mb(rss)}, VmHWM (lifetime peak) {mb(hwm)}")
        )
        if (ended_on := code_version()) != dict(report.context)["code"]:
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
