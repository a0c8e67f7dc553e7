"""Crash safety: `kill -9` a real `packyard serve` in the middle of concurrent uploads, restart it, and check that
nothing half-done is visible.

Why: an upload writes its blob before the row that names it (core/fsck.py), and a stage's commit is one
transaction, so a crash at any instant may leave leftovers (orphan blobs, temp files) but never a row without its
blob, a corrupt blob, or a lost upload the client was told succeeded. Each seed kills the server at a different
moment; both upload paths (anaconda-client's stage -> POST -> commit, and the one-request POST /api/repo/OWNER)
run side by side.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from packyard.config import Settings, build_store
from packyard.core.db import Database
from packyard.core.fsck import Report, check
from tests.builders import build_conda
from tests.conftest import ADMIN_PASSWORD, LiveServer, start_server

WORKERS = 24
"""Concurrent clients; half use the REST flow, half the one-request upload."""
PER_WORKER = 6
OWNER = "admin"
SEEDS = (1, 2, 3)


@dataclass
class Upload:
    path: str
    """/api/download/OWNER/NAME/VERSION/BASENAME"""
    sha256: str


@dataclass
class Outcome:
    confirmed: list[Upload] = field(default_factory=list)
    """Uploads the server answered with success: these must survive the crash."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, upload: Upload) -> None:
        with self.lock:
            self.confirmed.append(upload)


def _rest_upload(client: httpx.Client, token: str, path: Path, version: str, outcome: Outcome) -> None:
    """anaconda-client's flow; a success is a 200 to the commit."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    basename = f"noarch/{path.name}"
    headers = {"Authorization": f"token {token}"}
    staged = client.post(
        f"/api/stage/{OWNER}/demo/{version}/{quote(basename)}",
        headers=headers,
        json={"distribution_type": "conda", "description": None, "attrs": {}, "channels": [], "sha256": sha},
    )
    staged.raise_for_status()
    form = staged.json()
    fields = dict(form["form_data"])
    fields["Content-Length"] = str(len(data))
    fields["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
    posted = client.post(form["post_url"], data=fields, files={"file": (path.name, data)})
    posted.raise_for_status()
    committed = client.post(
        f"/api/commit/{OWNER}/demo/{version}/{quote(basename)}",
        headers=headers,
        json={"dist_id": form["dist_id"]},
    )
    if committed.status_code == 200:
        outcome.add(Upload(f"/api/download/{OWNER}/demo/{version}/{basename}", sha))
    else:
        committed.raise_for_status()


def _repo_upload(client: httpx.Client, token: str, worker: str, index: int, outcome: Outcome) -> None:
    """`curl -F filetype=file ... /api/repo/OWNER`; a success is a 200."""
    version = f"{worker}.{index}"
    filename = f"data-{worker}-{index}.csv"
    data = (f"worker,index\n{worker},{index}\n" + "x" * (1000 * index)).encode()
    response = client.post(
        f"/api/repo/{OWNER}",
        headers={"X-Auth": token},
        data={"filetype": "file", "name": "data", "version": version},
        files={"content": (filename, data, "application/octet-stream")},
    )
    if response.status_code == 200:
        outcome.add(
            Upload(f"/api/download/{OWNER}/data/{version}/{filename}", hashlib.sha256(data).hexdigest())
        )
    else:
        response.raise_for_status()


def _worker(
    url: str,
    token: str,
    round_: int,
    worker: int,
    packages: list[tuple[Path, str]],
    outcome: Outcome,
    dead: threading.Event,
) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(PER_WORKER):
            if dead.is_set():
                return
            try:
                if worker % 2:
                    _repo_upload(client, token, f"{round_}.{worker}", index, outcome)
                else:
                    path, version = packages[index]
                    _rest_upload(client, token, path, version, outcome)
            except (httpx.TransportError, httpx.HTTPStatusError):
                if dead.is_set():
                    return  # the server died under us: expected
                raise


def _token(server: LiveServer) -> str:
    response = httpx.post(
        f"{server.url}/api/authentications",
        auth=("admin", ADMIN_PASSWORD),
        json={"note": "crash", "scopes": ["all"]},
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _count(report: str, problem: str) -> int:
    for line in report.splitlines():
        cells = [c.strip() for c in line.replace("\u2502", "|").split("|") if c.strip()]
        if cells and cells[0] == problem:
            return int(cells[1])
    raise AssertionError(f"no {problem!r} line in the fsck report:\n{report}")


def _storm(server: LiveServer, rng: random.Random, builds: Path, round_: int) -> Outcome:
    """WORKERS clients upload until the server is killed at a seeded instant; returns what it confirmed."""
    token = _token(server)
    packages: dict[int, list[tuple[Path, str]]] = {}
    for worker in range(0, WORKERS, 2):
        packages[worker] = []
        for index in range(PER_WORKER):
            version = f"{round_}.{worker}.{index}"
            folder = builds / version
            folder.mkdir(parents=True)
            extra = {"share/demo/payload.txt": rng.randbytes(2000 * (index + 1))}
            packages[worker].append((build_conda(folder, version=version, files=extra), version))
    outcome, dead = Outcome(), threading.Event()
    threads = [
        threading.Thread(
            target=_worker,
            args=(server.url, token, round_, w, packages.get(w, []), outcome, dead),
            daemon=True,
        )
        for w in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(0.3, 2.0))  # a different instant of the upload storm each seed
    dead.set()
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    return outcome


def _check(server: LiveServer, confirmed: list[Upload]) -> None:
    """fsck (the CLI) finds no missing or corrupt blob; once its leftovers are cleaned the store holds exactly the
    blobs rows name; every confirmed upload and every listed file downloads whole."""
    done = server.cli("fsck", "--verify", "--clean", "--grace", "0", check=False)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"fsck failed after the crash:\n{report}"
    assert _count(report, "missing blobs") == 0, report
    assert _count(report, "corrupt blobs") == 0, report
    settings = Settings(data=server.data, blob_url=server.env.get("PACKYARD_BLOB_URL"))
    database = Database(settings.sqlalchemy_url)
    try:
        again = check(database, build_store(settings), verify=True, grace_seconds=0)
    finally:
        database.dispose()
    assert again == Report(), f"after fsck --clean: {again}"  # the crash left nothing but cleanable leftovers
    with httpx.Client(base_url=server.url, headers={"X-Auth": _token(server)}, timeout=30) as client:
        for upload in confirmed:
            response = client.get(upload.path)
            assert response.status_code == 200, f"{upload.path} was confirmed but is gone: {response.text}"
            assert hashlib.sha256(response.content).hexdigest() == upload.sha256, upload.path
        for name in ("demo", "data"):
            package = client.get(f"/api/package/{OWNER}/{name}")
            if package.status_code == 404:
                continue  # no upload of this kind finished before the first kill
            assert package.status_code == 200, package.text
            for row in package.json()["files"]:
                got = client.get(f"/api/download/{OWNER}/{name}/{row['version']}/{row['basename']}")
                assert got.status_code == 200, row["basename"]
                assert hashlib.sha256(got.content).hexdigest() == row["sha256"], row["basename"]


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest) -> dict[str, str]:
    """The server's environment for its blob store: the data folder, or a bucket of a real SeaweedFS (whose AWS_*
    variables are also set in this process, for the test's own fsck)."""
    if request.param == "local":
        return {}
    bucket = request.getfixturevalue("seaweed").new_bucket()
    return {**request.getfixturevalue("s3_env"), "PACKYARD_BLOB_URL": f"s3://{bucket}/blobs"}


def test_kill_9_during_concurrent_uploads_loses_nothing_confirmed(
    tmp_path: Path, blobs: dict[str, str]
) -> None:
    """Three rounds on one data folder, seeds 1-3: upload storm, kill -9, restart, check."""
    server = start_server(tmp_path, extra_env=blobs)
    confirmed: list[Upload] = []
    try:
        token = _token(server)
        created = httpx.post(
            f"{server.api}/package/{OWNER}/demo",
            headers={"Authorization": f"token {token}"},
            json={"public": True, "publish": False, "public_attrs": {"summary": "crash test"}},
        )
        assert created.status_code == 200, created.text
        for seed in SEEDS:
            confirmed += _storm(server, random.Random(seed), tmp_path / "builds", seed).confirmed
            server = start_server(tmp_path, extra_env=blobs)
            _check(server, confirmed)
        assert confirmed, "no upload finished before any kill: the storms are too short to test anything"
    finally:
        if server.process.poll() is None:
            server.process.terminate()
            server.process.wait(10)
