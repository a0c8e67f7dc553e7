"""Periodic jobs (core/jobs.py): several nodes offer each job, it runs once per interval across them all.

Each "node" here is a `Database` of its own (its own engine and connections: on PostgreSQL its advisory locks
are its own, as another host's would be) with its own `Scheduler` thread; tests/cluster runs real processes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.app import attach_scheduler, create_app
from packyard.core import jobs
from packyard.core.db import Database
from packyard.core.models import JobRun, LoginFailure, Stage, utcnow
from packyard.core.services.accounts import create_user
from packyard.core.services.sessions import WebSession
from tests.unit.core.conftest import Backend

NODES = 4
INTERVAL = 0.4
RUN_FOR = 2.2


def test_each_job_runs_once_per_interval_across_nodes(backend: Backend) -> None:
    runs: dict[str, list[tuple[dt.datetime, str]]] = {"a": [], "b": []}
    lock = threading.Lock()

    def job(name: str, node: str):
        def run(_db: Database, now: dt.datetime) -> str:
            with lock:
                runs[name].append((now, node))
            time.sleep(0.05)  # long enough for the other nodes' ticks to meet the lock
            return "ok"

        return run

    nodes = [Database(backend.url) for _ in range(NODES)]
    schedulers = [
        jobs.Scheduler(
            db,
            backend.settings.lock_dir,
            [jobs.Job(name, INTERVAL, job(name, f"node{i}")) for name in runs],
            tick_seconds=0.01,
        )
        for i, db in enumerate(nodes)
    ]
    started = time.monotonic()
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(RUN_FOR)
    for scheduler in schedulers:
        scheduler.stop()
    elapsed = time.monotonic() - started
    for db in nodes:
        db.dispose()

    with backend.db.read() as session:
        recorded = {row.name: row.runs for row in session.scalars(select(JobRun))}
    for name, times in runs.items():
        starts = sorted(at for at, _node in times)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert all(gap >= INTERVAL for gap in gaps), (name, gaps)  # never twice within an interval
        # and not starved (about elapsed / INTERVAL runs; a loaded CI machine may delay a tick or two)
        assert 2 <= len(starts) <= elapsed / INTERVAL + 1, (name, len(starts), elapsed)
        assert recorded[name] == len(starts)


def test_a_held_lock_makes_the_others_skip(backend: Backend) -> None:
    ran: list[str] = []
    job = jobs.Job("held", 0, lambda _db, _now: ran.append("x") or "ok")
    other = Database(backend.url)
    try:
        with jobs.job_lock(other, backend.settings.lock_dir, "held") as held:
            assert held
            assert not jobs.run_once(backend.db, backend.settings.lock_dir, job)
            with jobs.job_lock(backend.db, backend.settings.lock_dir, "held") as again:
                assert not again
        assert jobs.run_once(backend.db, backend.settings.lock_dir, job)
    finally:
        other.dispose()
    assert ran == ["x"]


def test_a_failing_job_is_recorded_and_tried_next_interval(backend: Backend) -> None:
    def boom(_db: Database, _now: dt.datetime) -> str:
        raise RuntimeError("disk on fire")

    assert jobs.run_once(backend.db, backend.settings.lock_dir, jobs.Job("boom", 0, boom))
    with backend.db.read() as session:
        row = session.get(JobRun, "boom")
        assert row is not None
        assert row.result == "failed: RuntimeError: disk on fire"
        assert row.runs == 1


def test_housekeeping_removes_only_what_is_past(backend: Backend) -> None:
    account = create_user(backend.db, "alice", "password-123")
    now = utcnow()
    old, fresh = now - dt.timedelta(hours=2), now + dt.timedelta(hours=1)
    with backend.db.write() as session:
        for sid, expires in (("s-old", old), ("s-new", fresh)):
            session.add(
                Stage(
                    id=sid,
                    owner_id=account.id,
                    uploader_id=account.id,
                    package="p",
                    version="1",
                    basename="p-1.tar.bz2",
                    distribution_type="conda",
                    request={},
                    result={},
                    expires_at=expires,
                )
            )
        for hid, expires in (("a" * 64, old), ("b" * 64, fresh)):
            session.add(WebSession(id_hash=hid, account_id=account.id, password_mark="m", expires_at=expires))
        session.add(LoginFailure(login_key="alice", remote_addr="10.0.0.1", at=now - dt.timedelta(hours=3)))
        session.add(LoginFailure(login_key="alice", remote_addr="10.0.0.1", at=now))

    for job in jobs.housekeeping(600, login_failure_window_seconds=3600):
        assert jobs.run_once(backend.db, backend.settings.lock_dir, job)
        assert not jobs.run_once(backend.db, backend.settings.lock_dir, job)  # not again within the interval

    with backend.db.read() as session:
        assert list(session.scalars(select(Stage.id))) == ["s-new"]
        assert list(session.scalars(select(WebSession.id_hash))) == ["b" * 64]
        assert len(list(session.scalars(select(LoginFailure.id)))) == 1
        results = {row.name: row.result for row in session.scalars(select(JobRun))}
    assert results == {
        "expired_stages": "removed 1 expired staged uploads",
        "expired_sessions": "removed 1 expired web sessions",
        "old_login_failures": "removed 1 old failed sign-ins",
    }


def test_the_served_app_runs_the_scheduler_and_a_test_app_does_not(backend: Backend) -> None:
    settings = backend.settings.model_copy(update={"jobs_interval_seconds": 0.2})
    assert create_app(settings, db=backend.db).state.scheduler is None
    app = attach_scheduler(create_app(settings, db=backend.db))
    with TestClient(app):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with backend.db.read() as session:
                if session.scalar(select(JobRun.runs).where(JobRun.name == "expired_sessions")):
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the served app's scheduler never ran a job")
        assert app.state.scheduler._thread is not None
    assert app.state.scheduler._thread is None  # stopped with the app


def test_readiness_checks_the_database_and_the_blob_store(backend: Backend, tmp_path) -> None:
    with TestClient(create_app(backend.settings, db=backend.db)) as client:
        assert client.get("/health/ready").json() == {
            "ok": True,
            "version": client.get("/health").json()["version"],
            "database": "ok",
            "blobs": "ok",
        }
        backend.settings.blob_root.joinpath("tmp").rmdir()  # the mount is gone
        answer = client.get("/health/ready")
        assert answer.status_code == 503
        assert answer.json()["blobs"] == "failed: StoreUnavailable"  # the path only in the log
        assert answer.json()["database"] == "ok"
        assert client.get("/health").status_code == 200  # liveness never depends on them

    broken = Database(
        "postgresql+psycopg://nobody@127.0.0.1:1/none"
        if backend.name == "postgresql"
        else f"sqlite:///{tmp_path}/no/such/folder/x.db"
    )
    with TestClient(create_app(backend.settings, db=broken)) as client:
        answer = client.get("/health/ready")
        assert answer.status_code == 503
        assert answer.json()["database"] == "failed: OperationalError"
