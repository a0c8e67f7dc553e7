"""Many concurrent downloads on every byte-serving route of a live server, with a database pool of 5.

A download route must hold at most one database connection at a time, and none while the bytes stream. When a
route asked for a second connection while its read session still held the first, 30 concurrent clients wedged
the server: every worker thread held one connection and waited for another, until the pool timed out (500).
Here 100 clients fetch each URL at once through a pool of 5 connections; every answer must be a 200. On SQLite,
whose reads and writes use separate pools, only a nested *read* wedged it; the in-process test below catches any
nesting, by counting the connections a request's thread holds at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from packyard.config import Settings
from packyard.core.db import WORKER_THREADS, Database
from tests.builders import build_conda, build_r_source, build_wheel
from tests.conftest import LiveServer, start_server
from tests.unit.api.helpers import login, upload
from tests.unit.formats.named_support import env_yaml, notebook_bytes, project_tar_gz

CLIENTS = 100
POOL = 5
PASSWORD = "password-123"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    env = {"PACKYARD_DB_POOL_SIZE": str(POOL)}
    if request.param == "postgresql":
        env["PACKYARD_DATABASE_URL"] = request.getfixturevalue("pg_url")
    live = start_server(tmp_path, extra_env=env)
    yield live
    live.stop()


def _repo_upload(
    http: httpx.Client, token: str, owner: str, filetype: str, path_or_name: str, data: bytes, **fields: str
) -> None:
    response = http.post(
        f"/api/repo/{owner}",
        headers={"Authorization": f"token {token}"},
        data={"filetype": filetype, **fields},
        files={"content": (path_or_name, data)},
    )
    assert response.status_code == 200, response.text


def _publish(http: httpx.Client, owner: str, tmp_path: Path) -> list[str]:
    """One public file of every kind in `owner`'s namespace; returns the URLs that serve their bytes."""
    token = login(http, owner, PASSWORD)  # httpx.Client speaks TestClient's API
    conda = build_conda(tmp_path, "dlconda", "1.0", "0", "noarch")
    committed = upload(http, token, owner, "dlconda", "1.0", conda, f"noarch/{conda.name}", "conda")
    assert committed.status_code == 200, committed.text
    wheel = build_wheel(tmp_path, "dl-wheel", "1.0")
    _repo_upload(http, token, owner, "bdist_wheel", wheel.name, wheel.read_bytes())
    r_source = build_r_source(tmp_path, "dlR", "1.0")
    _repo_upload(http, token, owner, "cran_source_package", r_source.name, r_source.read_bytes())
    _repo_upload(http, token, owner, "ipynb", "nb.ipynb", notebook_bytes(), name="dlnb", version="1")
    _repo_upload(http, token, owner, "env", "environment.yml", env_yaml("dlenv"), name="dlenv", version="1")
    _repo_upload(http, token, owner, "file", "data.csv", b"a,b\n1,2\n", name="dlfile", version="1")
    _repo_upload(http, token, owner, "project", "proj.tar.gz", project_tar_gz(), name="dlproj", version="1")
    return [
        f"/conda/{owner}/noarch/{conda.name}",
        f"/pypi/{owner}/files/dl-wheel/{wheel.name}",
        f"/pypi/{owner}/files/dl-wheel/{wheel.name}.metadata",
        f"/api/repo/{owner}/files/dl-wheel/{wheel.name}",
        f"/cran/{owner}/src/contrib/{r_source.name}",
        f"/api/download/{owner}/dlconda/1.0/noarch/{conda.name}",
        f"/{owner}/dlconda/1.0/download/noarch/{conda.name}",
        f"/notebooks/{owner}/dlnb?download",
        f"/notebooks/{owner}/dlnb",
        f"/envs/{owner}/dlenv",
        f"/api/download/{owner}/dlfile/1/data.csv",
        f"/{owner}/dlfile/1/download/data.csv",
        f"/api/download/{owner}/dlproj/1/proj.tar.gz",
    ]


async def _storm(base: str, path: str) -> Counter[int | str]:
    """CLIENTS anonymous GETs of one URL at once; the statuses (or error names) they ended with."""
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=90) as http:

        async def one() -> int | str:
            try:
                response = await http.get(path)
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return response.status_code

        return Counter(await asyncio.gather(*(one() for _ in range(CLIENTS))))


def test_every_download_route_serves_100_clients_through_a_pool_of_5(
    server: LiveServer, tmp_path: Path
) -> None:
    owner = f"dl{uuid.uuid4().hex[:6]}"
    server.create_user(owner, PASSWORD)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        paths = _publish(http, owner, tmp_path)
        for path in paths:
            response = http.get(path)
            assert response.status_code == 200, (path, response.text)
    for path in paths:  # one URL at a time, so a failure names the route
        assert asyncio.run(_storm(server.url, path)) == Counter({200: CLIENTS}), path


class Holdings:
    """How many pooled connections each thread holds (read and write pools together), and the most it held."""

    def __init__(self, db: Database) -> None:
        self._lock = threading.Lock()
        self._owner: dict[int, int] = {}
        self._held: Counter[int] = Counter()
        self.most = 0
        for engine in {db.engine, db.write_engine}:
            event.listen(engine, "checkout", self._checkout)
            event.listen(engine, "checkin", self._checkin)

    def _checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        thread = threading.get_ident()
        with self._lock:
            self._owner[id(record)] = thread
            self._held[thread] += 1
            self.most = max(self.most, self._held[thread])

    def _checkin(self, _dbapi: Any, record: Any) -> None:
        with self._lock:
            thread = self._owner.pop(id(record), None)
            if thread is not None:
                self._held[thread] -= 1


def test_a_download_never_holds_two_connections(
    client: TestClient, db: Database, make_user: Any, tmp_path: Path
) -> None:
    """The deterministic form of the test above: one request, and the most connections its thread held."""
    make_user("holder", PASSWORD)
    paths = _publish(client, "holder", tmp_path)
    holdings = Holdings(db)
    most = {}
    for path in paths:
        holdings.most = 0
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        most[path] = holdings.most
    assert most == dict.fromkeys(paths, 1)


def test_the_pool_is_sized_from_the_worker_threads(tmp_path: Path) -> None:
    async def limiter_tokens() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert anyio.run(limiter_tokens) == WORKER_THREADS  # the default pool assumes anyio's thread count
    url = f"sqlite:///{tmp_path / 'p.db'}"
    sized, default = Database(url, pool_size=5), Database(url)
    try:
        assert [e.pool.size() for e in (sized.engine, sized.write_engine)] == [5, 5]
        assert [e.pool.size() for e in (default.engine, default.write_engine)] == [WORKER_THREADS + 2] * 2
        assert Settings(data=tmp_path, db_pool_size=5).db_pool_size == 5
    finally:
        sized.dispose()
        default.dispose()


def test_a_download_does_not_wait_for_a_writer(
    client: TestClient, db: Database, make_user: Any, tmp_path: Path
) -> None:
    """Issue #11: counting a download took the global writer lock (BEGIN IMMEDIATE / the advisory lock), so every
    file GET queued behind an upload in progress. With a write transaction held open, downloads complete."""
    make_user("waiter", PASSWORD)
    paths = [p for p in _publish(client, "waiter", tmp_path) if "metadata" not in p]
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.write() as session:
            session.connection()  # SQLite: BEGIN IMMEDIATE now, not at the first statement
            held.set()
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        for path in paths:
            started = time.monotonic()
            response = client.get(path)
            assert (response.status_code, time.monotonic() - started < 5) == (200, True), path
    finally:
        release.set()
        thread.join()
    downloads = client.app.state.services.downloads
    assert sum(downloads.pending().values()) == len(paths) - 1  # the notebook page is not a download
    downloads.flush()
    assert downloads.pending() == {}
    conda = client.get("/api/package/waiter/dlconda").json()["files"][0]
    assert conda["ndownloads"] == 3  # from the channel, /api/download and /OWNER/NAME/VER/download
