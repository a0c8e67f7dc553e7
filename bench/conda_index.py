"""Benchmark Packyard's conda index (issue #4) against a static file server and a from-files indexer.

Builds a synthetic channel (default 100,000 records in 3 subdirs x 3 labels) in a fresh data folder, starts the
real server on it, and measures:

  a. how long after an upload's commit repodata.json shows the new file, for the full channel and for a channel
     holding only the one slice the upload goes to (same slice size), plus the commit latency itself;
  b. warm full-repodata GETs per second (repodata.json and .zst) against the same bytes served by nginx;
  c. the bytes a sharded client (py-rattler) fetches to install one package, against repodata.json.zst;
  d. the server's memory (VmRSS, VmHWM) after start-up, after the uploads and after the load;
  e. the baseline: conda-index (or rattler-index when conda-index cannot run) indexing the same channel from
     its files, from scratch and after adding one package.

Run from the repository root: `python bench/conda_index.py` (`--quick` for a smoke run); see bench/README.md.
It prints a table and writes the same as markdown to bench/results/conda_index.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bz2
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import zstandard
from common import (  # bench/common.py: the script's folder is first on sys.path
    Load,
    Server,
    free_port,
    memory,
    ms,
    phase,
    start_packyard,
    wait_for,
    wrk,
)
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select

from packyard.core import indexes, migrate
from packyard.core.artifacts import Artifact
from packyard.core.db import Database
from packyard.core.models import Account, Event, File, FileLabel, IndexGeneration, Label, Package, Release
from packyard.core.services.accounts import create_user
from packyard.formats.conda import index, store
from packyard.formats.conda.models import CondaMember, CondaRecord
from packyard.formats.conda.parse import parse as parse_conda

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "conda_index.md"
CONDA_INDEX_VENV = ROOT / "bench" / ".venv-conda-index"

SUBDIRS = ("linux-64", "osx-arm64", "noarch")
LABELS = ("main", "dev", "rc")
FILES_PER_NAME = 20
"""Each name has 20 files: 10 versions x (linux-64, osx-arm64), or 20 noarch versions (every third name)."""
LABEL_SHARES = (("main", 0.7), ("dev", 0.9), ("rc", 1.0))
"""The oldest 70% of a name's versions are in main, the next 20% in dev, the newest 10% in rc."""
OWNER, SOLO = "bench", "solo"
"""The full channel's owner, and an owner holding only a copy of one of its slices."""
PASSWORD = "bench-password-1"
ADMIN_PASSWORD = "bench-admin-password-1"
SLICE = ("main", "linux-64")
"""The slice the visibility and load measurements use (the busiest one)."""
DOCUMENTS = ("repodata.json", "repodata.json.zst")
RETRY_SECONDS = 30.0
"""A load run that completed fewer than 2 requests per connection is repeated over this long a window."""
MTIME = 1_700_000_000
ARCH = {"linux-64": ("x86_64", "linux"), "osx-arm64": ("arm64", "osx"), "noarch": (None, None)}
PLATFORM_DEPENDS = {
    "linux-64": ("libgcc >=13", "__glibc >=2.17,<3.0.a0"),
    "osx-arm64": ("libcxx >=17", "__osx >=11.0"),
    "noarch": ("python >=3.9",),
}
WORDS = (
    "arrow", "boost", "cairo", "dask", "eigen", "fftw", "gdal", "hdf5", "icu", "jpeg", "krb5", "lz4",
    "mpfr", "numpy", "openssl", "pango", "qhull", "re2", "snappy", "tiff", "utf8proc", "vtk", "xz", "yaml",
)  # fmt: skip
PREFIXES = ("lib", "py-", "r-", "", "perl-", "")
PROBE = "bench-probe"
"""The package uploaded through the REST API to measure commit -> visible."""
APP, LIB = "bench-app", "bench-lib"
"""The two packages the sharded client installs (bench-app depends on bench-lib)."""

console = Console(width=None if sys.stdout.isatty() else 150)


# --- the synthetic channel --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One synthetic conda file: everything its info/ holds and where it lives."""

    name: str
    version: str
    build_number: int
    subdir: str
    label: str
    ext: str
    depends: tuple[str, ...]
    constrains: tuple[str, ...]
    run_exports: tuple[str, ...]
    timestamp: int

    @property
    def build(self) -> str:
        if self.subdir == "noarch":
            return f"pyhd8ed1ab_{self.build_number}"
        digest = hashlib.sha1(f"{self.name}{self.version}{self.subdir}".encode()).hexdigest()[:8]
        return f"h{digest}_{self.build_number}"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    @property
    def filename(self) -> str:
        return self.stem + self.ext

    @property
    def basename(self) -> str:
        return f"{self.subdir}/{self.filename}"

    def index_json(self) -> dict[str, Any]:
        arch, plat = ARCH[self.subdir]
        doc: dict[str, Any] = {
            "arch": arch,
            "build": self.build,
            "build_number": self.build_number,
            "depends": list(self.depends),
            "license": "BSD-3-Clause",
            "license_family": "BSD",
            "name": self.name,
            "platform": plat,
            "subdir": self.subdir,
            "timestamp": self.timestamp,
            "version": self.version,
        }
        if self.constrains:
            doc["constrains"] = list(self.constrains)
        if self.subdir == "noarch":
            doc["noarch"] = "python"
        return doc

    def about_json(self) -> dict[str, Any]:
        return {
            "summary": f"{self.name}, a synthetic package for Packyard's benchmark",
            "description": f"{self.name} has files spread over subdirs and labels.",
            "home": f"https://example.org/{self.name}",
            "license": "BSD-3-Clause",
        }

    def artifact(self) -> Artifact:
        """What packyard.formats.conda.parse returns for this file (checked on a sample in `verify_sample`)."""
        attrs = self.index_json()
        if self.run_exports:
            attrs["run_exports"] = {"weak": list(self.run_exports)}
        about = self.about_json()
        return Artifact(
            package_type="conda",
            name=self.name,
            version=self.version,
            basename=self.basename,
            summary=about["summary"],
            description=about["description"],
            license=about["license"],
            home=about["home"],
            attrs=attrs,
            dependencies={"depends": list(self.depends)},
        )


def _label_of(version_index: int, versions: int) -> str:
    share = version_index / versions
    return next(label for label, upto in LABEL_SHARES if share < upto)


def plan_channel(records: int, files_per_name: int = FILES_PER_NAME, seed: int = 4) -> list[Spec]:
    """~records files over records/files_per_name names: realistic names, versions, builds, dependencies."""
    rng = random.Random(seed)
    count = max(3, records // files_per_name)
    names = [f"{PREFIXES[i % len(PREFIXES)]}{WORDS[i % len(WORDS)]}{i}" for i in range(count)]
    specs = []
    for i, name in enumerate(names):
        subdirs = ("noarch",) if i % 3 == 2 else ("linux-64", "osx-arm64")
        versions = files_per_name // len(subdirs)
        exports = (f"{name} >=1.0,<2.0a0",) if name.startswith("lib") else ()
        for v in range(versions):
            version = f"{1 + v // 5}.{v % 5}.{rng.randrange(10)}"
            picked = rng.sample(names[:i], min(i, rng.randrange(5)))
            deps = tuple(
                f"{dep} >={rng.randrange(1, 3)}.{rng.randrange(10)},<3.0a0" for dep in sorted(picked)
            )
            constrains = (f"{names[rng.randrange(count)]} >=1.1",) if rng.random() < 0.1 else ()
            build_number = rng.randrange(3)
            for subdir in subdirs:
                specs.append(
                    Spec(
                        name=name,
                        version=version,
                        build_number=build_number,
                        subdir=subdir,
                        label=_label_of(v, versions),
                        ext=".tar.bz2" if rng.random() < 0.25 else ".conda",
                        depends=deps + PLATFORM_DEPENDS[subdir],
                        constrains=constrains,
                        run_exports=exports,
                        timestamp=(MTIME + i * 60 + v * 86_400) * 1000,
                    )
                )
    return specs


# --- package files ----------------------------------------------------------------------------------------------


def _tar(members: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def package_bytes(spec: Spec) -> bytes:
    """A small but genuine conda package (.tar.bz2, or CEP-34 .conda) with one payload file."""
    payload_path = f"share/{spec.name}/{spec.version}.txt"
    payload = f"{spec.name} {spec.version} {spec.subdir}\n".encode()
    paths = {
        "paths": [
            {
                "_path": payload_path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
        "paths_version": 1,
    }
    info = [
        ("info/index.json", _json(spec.index_json())),
        ("info/about.json", _json(spec.about_json())),
        ("info/paths.json", _json(paths)),
        ("info/files", f"{payload_path}\n".encode()),
    ]
    if spec.run_exports:
        info.append(("info/run_exports.json", _json({"weak": list(spec.run_exports)})))
    if spec.ext == ".tar.bz2":
        return bz2.compress(_tar([*info, (payload_path, payload)]), 9)
    compressor = zstandard.ZstdCompressor(level=3)
    out = io.BytesIO()
    stamp = (2024, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo("metadata.json", stamp), b'{"conda_pkg_format_version": 2}')
        archive.writestr(
            zipfile.ZipInfo(f"pkg-{spec.stem}.tar.zst", stamp),
            compressor.compress(_tar([(payload_path, payload)])),
        )
        archive.writestr(zipfile.ZipInfo(f"info-{spec.stem}.tar.zst", stamp), compressor.compress(_tar(info)))
    return out.getvalue()


@dataclass(frozen=True)
class Blob:
    md5: str
    sha256: str
    size: int


def _write_one(job: tuple[Path, Spec]) -> Blob:
    root, spec = job
    data = package_bytes(spec)
    (root / spec.label / spec.subdir / spec.filename).write_bytes(data)
    return Blob(hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), len(data))


def write_channel(specs: Sequence[Spec], root: Path) -> list[Blob]:
    """Write every file as channel/LABEL/SUBDIR/FILE (one conda channel per label), on every core."""
    for label in LABELS:
        for subdir in SUBDIRS:
            (root / label / subdir).mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        return pool.map(_write_one, [(root, spec) for spec in specs], chunksize=256)


def verify_sample(specs: Sequence[Spec], root: Path, count: int = 40) -> None:
    """The server's own parser must read exactly the Artifact we insert rows for."""
    for spec in random.Random(1).sample(list(specs), min(count, len(specs))):
        parsed = parse_conda(root / spec.label / spec.subdir / spec.filename, spec.basename)
        if parsed != spec.artifact():
            raise SystemExit(
                f"synthetic file {spec.basename} parses differently:\n{parsed}\n{spec.artifact()}"
            )


# --- populating the database as the write path would ------------------------------------------------------------


def populate(db: Database, login: str, specs: Sequence[Spec], blobs: Sequence[Blob]) -> None:
    """Insert in bulk the rows add_file and conda's on_event would write for these files, one upload at a time.

    Package, Release, File (attrs = the parsed index.json), FileLabel, Event, CondaRecord and CondaMember rows as
    add_file and store.on_event make them; then what store.touch does in each upload's transaction: indexes.bump of the
    slice and its channel key (once per slice here, so generations start at 1 instead of counting uploads) and
    store.rebuild_shard per (label, subdir, name).
    """
    with db.write() as session:
        owner_id = session.scalar(select(Account.id).where(Account.login_key == login))
        labels = {name: Label(owner_id=owner_id, name=name) for name in LABELS}
        session.add_all(labels.values())
        session.flush()
        next_pkg = (session.scalar(select(func.max(Package.id))) or 0) + 1
        next_rel = (session.scalar(select(func.max(Release.id))) or 0) + 1
        next_file = (session.scalar(select(func.max(File.id))) or 0) + 1
        packages: dict[str, int] = {}
        releases: dict[tuple[str, str], int] = {}
        rows: dict[type, list[dict[str, Any]]] = {
            model: [] for model in (Package, Release, File, FileLabel, Event, CondaRecord, CondaMember)
        }
        base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        for n, (spec, blob) in enumerate(zip(specs, blobs, strict=True)):
            art = spec.artifact()
            uploaded = base + dt.timedelta(seconds=n)
            event = {"actor_id": owner_id, "owner": login, "package": spec.name, "at": uploaded}
            event |= {"version": None, "basename": None}  # executemany: every row has every column
            if spec.name not in packages:
                packages[spec.name] = next_pkg + len(packages)
                rows[Package].append(
                    {
                        "id": packages[spec.name],
                        "owner_id": owner_id,
                        "name": spec.name,
                        "name_key": spec.name.lower(),
                        "summary": art.summary,
                        "description": art.description,
                        "license": art.license,
                        "home": art.home,
                        "access": "public",
                        "package_types": ["conda"],
                        "attrs": {},
                        "created_at": uploaded,
                        "modified_at": uploaded,
                    }
                )
                rows[Event].append({**event, "kind": "package.created", "data": {"access": "public"}})
            pkg_id = packages[spec.name]
            if (spec.name, spec.version) not in releases:
                releases[spec.name, spec.version] = next_rel + len(releases)
                rows[Release].append(
                    {
                        "id": releases[spec.name, spec.version],
                        "package_id": pkg_id,
                        "version": spec.version,
                        "summary": art.summary,
                        "description": art.description,
                        "attrs": {},
                        "created_at": uploaded,
                        "modified_at": uploaded,
                    }
                )
                rows[Event].append({**event, "kind": "release.created", "version": spec.version, "data": {}})
            file_id = next_file + n
            rows[File].append(
                {
                    "id": file_id,
                    "package_id": pkg_id,
                    "release_id": releases[spec.name, spec.version],
                    "basename": spec.basename,
                    "package_type": "conda",
                    "size": blob.size,
                    "md5": blob.md5,
                    "sha256": blob.sha256,
                    "description": None,
                    "attrs": art.attrs,
                    "dependencies": art.dependencies,
                    "extra": {},
                    "uploader_id": owner_id,
                    "uploaded_at": uploaded,
                    "ndownloads": 0,
                }
            )
            rows[FileLabel].append({"file_id": file_id, "label_id": labels[spec.label].id})
            rows[Event].append(
                {
                    **event,
                    "kind": "file.added",
                    "version": spec.version,
                    "basename": spec.basename,
                    "data": {"labels": [spec.label], "sha256": blob.sha256, "package_type": "conda"},
                }
            )
            record = index.record(
                art.attrs, md5=blob.md5, sha256=blob.sha256, size=blob.size, uploaded=uploaded
            )
            rows[CondaRecord].append(
                {
                    "file_id": file_id,
                    "owner_id": owner_id,
                    "package_id": pkg_id,
                    "subdir": spec.subdir,
                    "name": spec.name,
                    "filename": spec.filename,
                    "record": index.dumps(record),
                }
            )
            rows[CondaMember].append(
                {"owner_id": owner_id, "label": spec.label, "subdir": spec.subdir, "file_id": file_id}
            )
        for model, values in rows.items():
            for start in range(0, len(values), 5000):
                session.execute(insert(model.__table__), values[start : start + 5000])
        for label, subdir in sorted({(s.label, s.subdir) for s in specs}):
            indexes.bump(session, store.FORMAT, owner_id, label, subdir)
            indexes.bump(session, store.FORMAT, owner_id, label, store.CHANNEL_KEY)
        for label, subdir, name in sorted({(s.label, s.subdir, s.name) for s in specs}):
            store.rebuild_shard(session, owner_id, label, subdir, name)


def build_database(data: Path, specs: Sequence[Spec], blobs: Sequence[Blob]) -> dict[str, int]:
    """Migrate a fresh database, create the two owners, and populate both; returns record counts per owner."""
    data.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(data / 'packyard.db').resolve()}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        for login in (OWNER, SOLO):
            create_user(db, login, PASSWORD)
        populate(db, OWNER, specs, blobs)
        in_slice = [(s, b) for s, b in zip(specs, blobs, strict=True) if (s.label, s.subdir) == SLICE]
        populate(db, SOLO, [s for s, _ in in_slice], [b for _, b in in_slice])
    finally:
        db.dispose()
    with contextlib.closing(sqlite3.connect(data / "packyard.db")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave the database as a long-running server would
    return {OWNER: len(specs), SOLO: len(in_slice)}


def generations(data: Path, login: str) -> dict[tuple[str, str], int]:
    """(label, key) -> generation, read straight from the database (read-only, beside the running server)."""
    with contextlib.closing(sqlite3.connect(f"file:{data / 'packyard.db'}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            f"SELECT g.label, g.key, g.generation FROM {IndexGeneration.__tablename__} g "
            "JOIN accounts a ON a.id = g.owner_id WHERE a.login_key = ? AND g.format = 'conda'",
            (login,),
        ).fetchall()
    return {(label, key): gen for label, key, gen in rows}


# --- servers ----------------------------------------------------------------------------------------------------


def start_static(root: Path, tmp: Path) -> tuple[Server, str]:
    """nginx (Debian's) serving `root`, or uvicorn + Starlette StaticFiles when nginx is not installed."""
    port = free_port()
    log = tmp / "static.log"
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )
    if nginx:
        prefix = tmp / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    types {{ application/json json; application/zstd zst; }}
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
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""
        )
        cmd = [nginx, "-e", str(prefix / "error.log"), "-p", f"{prefix}/", "-c", str(conf)]
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        name = f"{version.replace('nginx version: ', '')} ({os.cpu_count()} workers, sendfile, access log on)"
    else:
        app = f"from starlette.staticfiles import StaticFiles; app = StaticFiles(directory={str(root)!r})"
        cmd = [
            sys.executable,
            "-c",
            f"import uvicorn; {app}; uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning')",
        ]
        name = "uvicorn + Starlette StaticFiles (nginx not installed)"
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    (root / "ping").write_text("ok")
    server = Server(f"http://127.0.0.1:{port}", process, log)
    wait_for(f"{server.url}/ping", process, log)
    return server, name


Memory = tuple[int, int]


# --- the REST API, as anaconda-client drives it -----------------------------------------------------------------


class Api:
    def __init__(self, url: str, login: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=120)
        response = self.client.post(
            f"{url}/api/authentications", auth=(login, PASSWORD), json={"note": "bench"}
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"token {response.json()['token']}"

    def ensure_package(self, owner: str, name: str) -> None:
        if self.client.get(f"{self.url}/api/package/{owner}/{name}").status_code == 404:
            response = self.client.post(
                f"{self.url}/api/package/{owner}/{name}",
                json={"public": True, "publish": False, "public_attrs": {"summary": "benchmark probe"}},
            )
            response.raise_for_status()

    def send(
        self, owner: str, name: str, version: str, path: Path, subdir: str, label: str
    ) -> Callable[[], None]:
        """Stage and POST the file; returns the commit, to be called (and timed) by the caller."""
        data = path.read_bytes()
        basename = f"{subdir}/{path.name}"
        where = f"{owner}/{name}/{version}/{quote(basename)}"
        staged = self.client.post(
            f"{self.url}/api/stage/{where}",
            json={
                "distribution_type": "conda",
                "description": None,
                "attrs": {},
                "channels": [label],
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
        staged.raise_for_status()
        form = {
            **staged.json()["form_data"],
            "Content-Length": str(len(data)),
            "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
        }
        posted = httpx.post(
            staged.json()["post_url"], data=form, files={"file": (path.name, data)}, timeout=120
        )
        if posted.status_code != 201:
            raise RuntimeError(f"upload POST failed: {posted.status_code} {posted.text}")
        dist_id = staged.json()["dist_id"]

        def commit() -> None:
            response = self.client.post(f"{self.url}/api/commit/{where}", json={"dist_id": dist_id})
            if response.status_code != 200:
                raise RuntimeError(f"commit failed: {response.status_code} {response.text}")

        return commit

    def upload(self, owner: str, path: Path, subdir: str, label: str = "main") -> None:
        name, version, _build = path.name.rsplit("-", 2)
        self.ensure_package(owner, name)
        self.send(owner, name, version, path, subdir, label)()


def channel_url(base: str, owner: str, label: str = "main") -> str:
    return f"{base}/conda/{owner}" + ("" if label == "main" else f"/label/{label}")


def build_probe(tmp: Path, name: str, version: str, subdir: str, depends: Sequence[str] = ()) -> Path:
    """A genuine package from tests/builders.py (what the test suite uploads)."""
    from tests.builders import build_conda  # the repository root is on sys.path (see main)

    folder = tmp / "probes" / f"{name}-{version}-{subdir}"
    folder.mkdir(parents=True, exist_ok=True)
    return build_conda(
        folder,
        name=name,
        version=version,
        subdir=subdir,
        fmt="conda",
        depends=depends,
        files={f"share/{name}/{version}.txt": f"{name} {version}\n".encode()},
        noarch="generic" if subdir == "noarch" else None,
    )


# --- a. commit -> visible ---------------------------------------------------------------------------------------


@dataclass
class Visibility:
    owner: str
    commit: list[float] = field(default_factory=list)
    visible: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    warm_get: float = 0.0
    moved: list[str] = field(default_factory=list)


def measure_visibility(server: Server, data: Path, tmp: Path, owner: str, repeats: int) -> Visibility:
    """Upload PROBE versions into SLICE; after each commit, poll the slice's repodata.json until the file is in it."""
    label, subdir = SLICE
    api = Api(server.url, owner)
    api.ensure_package(owner, PROBE)
    url = f"{channel_url(server.url, owner, label)}/{subdir}/repodata.json"
    client = httpx.Client(timeout=120)
    existing = generations(data, owner)
    others = [
        f"{channel_url(server.url, owner, lab)}/{sub}/repodata.json"
        for lab in LABELS
        for sub in SUBDIRS
        if (lab, sub) != SLICE and (lab, sub) in existing
    ]
    for other in others:  # build and cache every other slice first: none of them may be rebuilt below
        client.get(other).raise_for_status()
    etag = client.get(url).headers["etag"]
    revalidations = []
    for _ in range(5):
        start = time.perf_counter()
        client.get(url, headers={"If-None-Match": etag})
        revalidations.append(time.perf_counter() - start)
    result = Visibility(owner, warm_get=statistics.median(revalidations))
    before = generations(data, owner)
    for i in range(repeats):
        version = f"1.0.{i}"
        path = build_probe(tmp / owner, PROBE, version, subdir)
        commit = api.send(owner, PROBE, version, path, subdir, label)
        t0 = time.perf_counter()
        commit()
        t1 = time.perf_counter()
        polls = 0
        while True:
            polls += 1
            response = client.get(url, headers={"If-None-Match": etag})
            if response.status_code == 200:
                etag = response.headers["etag"]
                if path.name.encode() in response.content:
                    break
            if time.perf_counter() - t1 > 120:
                raise RuntimeError(f"{path.name} did not appear in {url} within 120 s")
        result.visible.append(time.perf_counter() - t1)
        result.commit.append(t1 - t0)
        result.polls.append(polls)
    after = generations(data, owner)
    result.moved = sorted(
        f"{lab}/{key or '(channel)'}" for (lab, key), gen in after.items() if before.get((lab, key)) != gen
    )
    return result


# --- b. load ----------------------------------------------------------------------------------------------------


def load_wrk(url: str, seconds: float, connections: int) -> Load:
    return wrk(url, seconds, connections, threads=max(1, min(connections, os.cpu_count() or 1)))


def load_python(url: str, seconds: float, connections: int) -> Load:
    """The fallback load generator: httpx on asyncio, `connections` concurrent keep-alive loops."""

    async def run() -> Load:
        latencies: list[float] = []
        totals = Counter[str]()
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            start = time.perf_counter()
            deadline = start + seconds

            async def loop() -> None:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    response = await client.get(url)
                    latencies.append(time.perf_counter() - t0)
                    totals["bytes"] += len(response.content)
                    totals["errors"] += response.status_code != 200

            await asyncio.gather(*(loop() for _ in range(connections)))
            elapsed = time.perf_counter() - start
        cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
        return Load(
            f"httpx/asyncio x{connections}",
            len(latencies),
            elapsed,
            totals["bytes"],
            totals["errors"],
            cuts[49],
            cuts[98],
        )

    return asyncio.run(run())


def run_load(url: str, seconds: float, connections: int) -> Load:
    """Requests/s at `connections` concurrent connections for `seconds`, after one warming request.

    A server slower than connections / seconds completes (almost) nothing inside the window, since every
    connection's request finishes at about the same time; such a run is repeated once over a window long
    enough for several rounds (30 s).
    """
    httpx.get(url, timeout=120).raise_for_status()  # warm: built, cached, compressed
    run = load_wrk if shutil.which("wrk") else load_python
    load = run(url, seconds, connections)
    if load.requests < 2 * connections and seconds < RETRY_SECONDS:
        load = run(url, RETRY_SECONDS, connections)
    return load


def measure_load(
    server: Server, tmp: Path, seconds: float, connections: int
) -> tuple[dict[str, Load], str, dict[str, int]]:
    """Packyard's SLICE documents against the same bytes served by a static server; also their sizes."""
    url = f"{channel_url(server.url, OWNER, SLICE[0])}/{SLICE[1]}"
    root = tmp / "static"
    root.mkdir()
    for doc in DOCUMENTS:
        (root / doc).write_bytes(httpx.get(f"{url}/{doc}", timeout=120).content)
    sizes = {doc: (root / doc).stat().st_size for doc in DOCUMENTS}
    static, name = start_static(root, tmp)
    loads = {}
    try:
        for doc in DOCUMENTS:
            loads[f"packyard {doc}"] = run_load(f"{url}/{doc}", seconds, connections)
            loads[f"static {doc}"] = run_load(f"{static.url}/{doc}", seconds, connections)
    finally:
        static.stop()
    return loads, name, sizes


def measure_load_workers2(
    data: Path, tmp: Path, seconds: float, connections: int
) -> tuple[dict[str, Load], Memory]:
    """The same load against `serve --workers 2` (each worker has its own index cache)."""
    server = start_packyard(data, tmp / "server2.log", workers=2, admin_password=ADMIN_PASSWORD)
    try:
        url = f"{channel_url(server.url, OWNER, SLICE[0])}/{SLICE[1]}"
        loads = {}
        for doc in DOCUMENTS:
            for _ in range(4):  # requests land on either worker: warm both caches
                httpx.get(f"{url}/{doc}", timeout=120).raise_for_status()
            loads[f"packyard x2 {doc}"] = run_load(f"{url}/{doc}", seconds, connections)
        return loads, memory(server.process.pid)
    finally:
        server.stop()


# --- c. bytes fetched by a sharded client -----------------------------------------------------------------------


@dataclass
class Sharded:
    requests: list[tuple[str, str, int, int]]
    """(method, path, status, bytes on the wire: status line + headers + body)."""
    full_zst: int
    installed: list[str]

    def total(self, kind: Callable[[str], bool]) -> int:
        return sum(size for _, path, _, size in self.requests if kind(path))


def is_package(path: str) -> bool:
    return path.endswith((".conda", ".tar.bz2"))


_ACCESS = re.compile(r'"(GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3})')


def wire_size(response: httpx.Response, method: str) -> int:
    """Status line, headers and (for GET) body, as the server wrote them."""
    head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n".encode()
    head += b"".join(k + b": " + v + b"\r\n" for k, v in response.headers.raw) + b"\r\n"
    return len(head) + (len(response.content) if method == "GET" else 0)


def measure_sharded(server: Server, tmp: Path) -> Sharded:
    """Install APP (which depends on LIB) with rattler's sharded repodata; count what the server sent for it.

    The requests are read from the server's access log between the start and the end of the install, then
    fetched again to learn their sizes (every document involved is cached and unchanged in between; shards are
    content-addressed), so the count is what the server sent, headers included.
    """
    import rattler

    api = Api(server.url, OWNER)
    api.upload(OWNER, build_probe(tmp, LIB, "1.0", "noarch"), "noarch")
    api.upload(OWNER, build_probe(tmp, APP, "1.0", "linux-64", depends=[f"{LIB} >=1.0"]), "linux-64")
    channel = channel_url(server.url, OWNER)
    offset = server.log.stat().st_size

    async def install() -> list[str]:
        gateway = rattler.Gateway(
            cache_dir=tmp / "rattler-cache", default_config=rattler.SourceConfig(sharded_enabled=True)
        )
        records = await rattler.solve(
            sources=[channel],
            specs=[APP],
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
            gateway=gateway,
        )
        await rattler.install(
            records, target_prefix=tmp / "env", cache_dir=tmp / "rattler-pkgs", show_progress=False
        )
        return sorted(f"{r.name.normalized}={r.version}" for r in records)

    installed = asyncio.run(install())
    time.sleep(0.2)
    with server.log.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace")
    requests = []
    with httpx.Client(timeout=120) as client:
        for method, path, status in _ACCESS.findall(lines):
            response = client.request(method, server.url + path)
            if response.status_code != int(status):
                raise RuntimeError(f"{method} {path} was {status} for rattler but {response.status_code} now")
            requests.append((method, path, int(status), wire_size(response, method)))
        full_zst = sum(
            len(client.get(f"{channel}/{subdir}/repodata.json.zst").content)
            for subdir in ("linux-64", "noarch")
        )
    return Sharded(requests, full_zst, installed)


# --- e. the baseline: indexing the same channel from files -----------------------------------------------------


@dataclass
class Baseline:
    tool: str
    note: str
    full: float
    incremental: float
    files: int


def conda_index_python() -> tuple[Path | None, str]:
    """conda-index in its own venv (bench/.venv-conda-index); (python, "") when it runs, else (None, why)."""
    python = CONDA_INDEX_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CONDA_INDEX_VENV)], check=True, capture_output=True)
    probe = [str(python), "-c", "import conda_index.index, conda_index.cli"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "conda-index"], capture_output=True, text=True
        )
        if pip.returncode != 0:
            return None, f"pip install conda-index failed: {pip.stderr.strip().splitlines()[-1:]}"
    check = subprocess.run(probe, capture_output=True, text=True)
    if check.returncode != 0:
        return None, check.stderr.strip().splitlines()[-1]
    return python, ""


def index_conda_index(python: Path, channel: Path) -> None:
    subprocess.run(
        [str(python), "-m", "conda_index", "--zst", "--write-shards", "--no-current-repodata", str(channel)],
        check=True,
        capture_output=True,
    )


def index_rattler(channel: Path) -> None:
    from rattler.index import index_fs

    asyncio.run(index_fs(channel))


def measure_baseline(root: Path, tmp: Path, files: int) -> Baseline:
    """Index the three label channels from scratch, then add one package to main/linux-64 and index main again."""
    python, why = conda_index_python()
    run: Callable[[Path], None]
    if python is not None:
        version = subprocess.run(
            [str(python), "-m", "pip", "show", "conda-index"], capture_output=True, text=True
        ).stdout
        match = re.search(r"Version: (\S+)", version)
        tool = f"conda-index {match.group(1) if match else '?'}"
        note = "python -m conda_index --zst --write-shards"

        def run(channel: Path) -> None:
            index_conda_index(python, channel)

    else:
        tool = f"rattler-index (py-rattler {importlib.metadata.version('py-rattler')}, index_fs)"
        note = f"conda-index cannot run here ({why}); rattler.index.index_fs with its defaults (zst + shards)"
        run = index_rattler
    start = time.perf_counter()
    for label in LABELS:
        run(root / label)
    full = time.perf_counter() - start
    extra = build_probe(tmp, "bench-extra", "1.0", "linux-64")
    shutil.copy(extra, root / "main" / "linux-64" / extra.name)
    start = time.perf_counter()
    run(root / "main")
    incremental = time.perf_counter() - start
    repodata = json.loads((root / "main" / "linux-64" / "repodata.json").read_bytes())
    if extra.name not in repodata.get("packages.conda", {}):
        raise RuntimeError(f"{tool} did not index {extra.name}")
    return Baseline(tool, note, full, incremental, files)


# --- report -----------------------------------------------------------------------------------------------------


def mb(size: float) -> str:
    return f"{size / 1e6:,.2f} MB" if size >= 1e5 else f"{size / 1e3:,.1f} kB"


@dataclass
class Report:
    sections: list[tuple[str, list[tuple[str, str, str]]]] = field(default_factory=list)
    context: list[tuple[str, str]] = field(default_factory=list)

    def section(self, title: str) -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        self.sections.append((title, rows))
        return rows

    def print(self) -> None:
        info = Table("setting", "value", title="Benchmark context", show_lines=False)
        for key, value in self.context:
            info.add_row(key, value)
        console.print(info)
        table = Table("measurement", "value", "ratio / note", title="Packyard conda index (issue #4)")
        for title, rows in self.sections:
            table.add_section()
            table.add_row(f"[bold]{title}[/bold]", "", "")
            for row in rows:
                table.add_row(*row)
        console.print(table)

    def markdown(self) -> str:
        lines = ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.context]
        lines += ["", "| measurement | value | ratio / note |", "|---|---|---|"]
        for title, rows in self.sections:
            lines.append(f"| **{title}** | | |")
            lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        return "\n".join(lines) + "\n"


def describe_machine(args: argparse.Namespace) -> list[tuple[str, str]]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    loops = [m for m in ("uvloop", "httptools") if _importable(m)]
    return [
        ("machine", f"{os.cpu_count()} cores ({cpu}); the load generator and the servers share them"),
        ("python", f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"),
        (
            "server",
            f"packyard serve (uvicorn, {'+'.join(loops) if loops else 'asyncio + h11: uvloop/httptools not installed'})",
        ),
        ("records", f"{args.records:,} requested"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def add_setup(
    report: Report, specs: Sequence[Spec], counts: dict[str, int], timings: dict[str, float]
) -> None:
    slices = Counter((s.label, s.subdir) for s in specs)
    names = len({s.name for s in specs})
    report.context += [
        ("channel", f"{counts[OWNER]:,} records, {names:,} names, owner `{OWNER}`: 3 subdirs x 3 labels"),
        ("slices", ", ".join(f"{lab}/{sub} {slices[lab, sub]:,}" for lab in LABELS for sub in SUBDIRS)),
        (
            "small channel",
            f"owner `{SOLO}`: a copy of {OWNER}'s {'/'.join(SLICE)} only ({counts[SOLO]:,} records)",
        ),
    ]
    rows = report.section("setup (not goals)")
    rows.append(
        (
            "write the package files",
            f"{timings['files']:.1f} s",
            f"{len(specs):,} files, {os.cpu_count()} processes",
        )
    )
    rows.append(
        ("populate the database", f"{timings['db']:.1f} s", "bulk rows + bump + rebuild_shard, both owners")
    )


def add_visibility(report: Report, full: Visibility, solo: Visibility) -> None:
    uploads = len(full.visible)
    rows = report.section(f"a. commit -> visible in {'/'.join(SLICE)}/repodata.json ({uploads} uploads each)")
    for v, what in ((full, "full channel (9 slices)"), (solo, "one-slice channel")):
        rows.append(
            (
                f"visible after commit, {what}",
                f"median {ms(statistics.median(v.visible))}, max {ms(max(v.visible))}",
                f"goal <= 1 s; GETs per upload: {max(v.polls)} at most",
            )
        )
    for v, what in ((full, "full channel"), (solo, "one-slice channel")):
        commits = f"median {ms(statistics.median(v.commit))}, max {ms(max(v.commit))}"
        rows.append((f"commit latency, {what}", commits, "POST /api/commit"))
    ratio = statistics.median(full.visible) / statistics.median(solo.visible)
    rows.append(("visible: full / one-slice channel", f"{ratio:.2f}x", "1.00x = independent of other slices"))
    rows.append(
        ("generations the uploads moved", ", ".join(full.moved), "only the slice and its channel key")
    )
    for v, what in ((full, "full channel"), (solo, "one-slice channel")):
        rows.append(
            (
                f"warm 304 of the slice, {what}",
                ms(v.warm_get),
                "median of 5: the per-request cost without a body",
            )
        )


def add_load(
    report: Report, loads: dict[str, Load], static_name: str, sizes: dict[str, int], seconds: float
) -> None:
    tool = next(iter(loads.values())).tool
    rows = report.section(f"b. warm full-repodata GETs, {tool}, {seconds:g} s each (30 s when slower)")
    servers = {"packyard": "Packyard, 1 worker", "static": "static", "packyard x2": "Packyard, --workers 2"}
    for doc in DOCUMENTS:
        static = loads[f"static {doc}"]
        for server, name in servers.items():
            load = loads.get(f"{server} {doc}")
            if load is None:
                continue
            note = (
                f"{load.requests:,} in {load.seconds:.0f} s, {load.mbps:,.0f} MB/s, "
                f"p50 {ms(load.p50)}, p99 {ms(load.p99)}, errors {load.errors}"
            )
            if server != "static":
                note = f"{load.rps / static.rps:.4f}x static; {note}"
            rows.append((f"{doc}: {name}", f"{load.rps:,.1f} req/s", note))
    rows.append(("static server", static_name, "the same bytes, written to files"))
    rows.append(("document sizes", ", ".join(f"{doc} {size:,} B" for doc, size in sizes.items()), ""))


def add_sharded(report: Report, sharded: Sharded) -> None:
    rows = report.section(f"c. sharded install of {APP} (+ {LIB}) with py-rattler")
    index_bytes = sharded.total(lambda p: not is_package(p))
    ratio = index_bytes / sharded.full_zst
    for method, path, status, size in sharded.requests:
        if not is_package(path):
            shown = re.sub(
                r"/shards/([0-9a-f]{12})[0-9a-f]{52}", r"/shards/\1...", path.split("/conda/", 1)[-1]
            )
            rows.append((f"{method} {shown}", f"{size:,} B", f"HTTP {status}"))
    rows.append(
        (
            "index bytes fetched (headers included)",
            f"{index_bytes:,} B",
            f"{ratio:.2%} of the full .zst (goal <= 2%)",
        )
    )
    rows.append(
        (
            "repodata.json.zst, linux-64 + noarch",
            f"{sharded.full_zst:,} B",
            "what a non-sharded client fetches",
        )
    )
    rows.append(("package files fetched", f"{sharded.total(is_package):,} B", ", ".join(sharded.installed)))


def add_memory(report: Report, memories: dict[str, Memory]) -> None:
    rows = report.section("d. server memory (VmRSS, VmHWM = peak)")
    for when, (rss, hwm) in memories.items():
        rows.append((f"RSS {when}", mb(rss), f"peak {mb(hwm)}"))


def add_baseline(report: Report, baseline: Baseline, visible: float) -> None:
    rows = report.section(f"e. baseline: {baseline.tool}")
    rows.append(
        (
            "index the channel from scratch (3 labels)",
            f"{baseline.full:.1f} s",
            f"{baseline.files:,} files; {baseline.note}",
        )
    )
    rows.append(
        (
            "index main again after adding one package",
            f"{baseline.incremental:.1f} s",
            f"Packyard commit -> visible median {ms(visible)}: {baseline.incremental / visible:,.0f}x faster",
        )
    )


# --- main -------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=None, help="records in the channel (default 100,000)")
    parser.add_argument(
        "--quick", action="store_true", help="5,000 records, 3 uploads, 3 s loads: a smoke run"
    )
    parser.add_argument(
        "--files-per-name",
        type=int,
        default=FILES_PER_NAME,
        help=f"files per package name, over subdirs and labels ({FILES_PER_NAME}); sets the shard index size",
    )
    parser.add_argument("--repeats", type=int, default=None, help="uploads per visibility measurement (10)")
    parser.add_argument("--seconds", type=float, default=None, help="duration of each load run (10)")
    parser.add_argument(
        "--connections", type=int, default=32, help="concurrent connections for the load (32)"
    )
    parser.add_argument("--workers2", action="store_true", help="also load `serve --workers 2` (b.)")
    parser.add_argument("--no-baseline", action="store_true", help="skip e., indexing the files from scratch")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"markdown output (default {RESULTS.relative_to(ROOT)})"
    )
    args = parser.parse_args(argv)
    args.records = args.records or (5_000 if args.quick else 100_000)
    args.repeats = args.repeats or (3 if args.quick else 10)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))  # for tests.builders
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="packyard-bench-conda-"))
    report = Report(context=describe_machine(args))
    timings: dict[str, float] = {}
    servers: list[Server] = []
    try:
        data, channel = tmp / "data", tmp / "channel"
        specs = plan_channel(args.records, args.files_per_name)
        with phase(f"writing {len(specs):,} package files", timings, "files"):
            blobs = write_channel(specs, channel)
            verify_sample(specs, channel)
        with phase("populating the database", timings, "db"):
            counts = build_database(data, specs, blobs)
        add_setup(report, specs, counts, timings)

        memories: dict[str, Memory] = {}
        with phase("starting packyard", timings):
            server = start_packyard(data, tmp / "server.log", admin_password=ADMIN_PASSWORD)
            servers.append(server)
            memories["idle, after start-up"] = memory(server.process.pid)
        with phase("a. commit -> visible", timings):
            solo = measure_visibility(server, data, tmp, SOLO, args.repeats)
            full = measure_visibility(server, data, tmp, OWNER, args.repeats)
            memories["after the uploads (a.), every slice built once"] = memory(server.process.pid)

        with phase("b. load", timings):
            loads, static_name, sizes = measure_load(server, tmp, args.seconds, args.connections)
            memories["after the load (b.)"] = memory(server.process.pid)
        with phase("c. sharded install", timings):
            sharded = measure_sharded(server, tmp)
        memories["at the end"] = memory(server.process.pid)
        server.stop()
        if args.workers2:
            with phase("b. load, serve --workers 2", timings):
                more, memories["serve --workers 2, after its load (all processes)"] = measure_load_workers2(
                    data, tmp, args.seconds, args.connections
                )
                loads |= more

        add_visibility(report, full, solo)
        add_load(report, loads, static_name, sizes, args.seconds)
        add_sharded(report, sharded)
        add_memory(report, memories)

        if not args.no_baseline:
            with phase("e. baseline", timings):
                baseline = measure_baseline(channel, tmp, len(specs))
            add_baseline(report, baseline, statistics.median(full.visible))
        report.context.append(("load average at end", " ".join(f"{x:.2f}" for x in os.getloadavg())))
        report.context.append(("run", f"{time.perf_counter() - started:.0f} s in all, {dt.date.today()}"))
    finally:
        for server in servers:
            if server.process.poll() is None:
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
