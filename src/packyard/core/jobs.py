"""Periodic jobs, run once per interval across every node of a cluster.

Some rows outlive their use: staged uploads whose hour is up, web sessions past their expiry, failed passwords
older than the throttling window. Each node runs a `Scheduler` (one daemon thread, like the download counter's)
that wakes every few seconds and, for each job whose interval has passed *by its own clock*, tries the job's lock
without waiting:

- on PostgreSQL a session-level advisory lock, `pg_try_advisory_lock(KEY)` with a key derived from the job's
  name, on a connection of its own (a node that dies loses its connection, and PostgreSQL frees the lock);
- on SQLite (one host by definition) an exclusive `flock` on `DATA/jobs/NAME.lock`, freed by the kernel when
  the process dies.

The node that gets the lock reads the job's row in `job_runs`; only if the last run (by any node) is older than
the interval does it run the job and write the row, committing before it lets the lock go. A node that misses
the lock, or finds a fresh row, skips. So however many nodes there are, a job runs at most once per interval,
and at least once per interval plus one tick while any node is up. Jobs must be idempotent and short: they are
deletes of rows whose time is past, each one write transaction.

What is *not* here: the download counter (each process folds its own in-memory tallies; core/services/downloads.py)
and the blob clean-up (`packyard fsck --clean`, which lists the whole store: run it from cron on one host).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, text

from packyard.core.db import Database, rowcount
from packyard.core.models import JobRun, LoginFailure, Stage, utcnow
from packyard.core.services.sessions import WebSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval_seconds: float
    run: Callable[[Database, dt.datetime], str]
    """Does the work (its own write transactions) and says what it did, for `job_runs.result`."""


def lock_key(name: str) -> int:
    """The job's PostgreSQL advisory lock key: a signed 64-bit number from its name (never the writers' key)."""
    return int.from_bytes(hashlib.sha256(f"packyard-job:{name}".encode()).digest()[:8], "big", signed=True)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


@contextlib.contextmanager
def _pg_lock(db: Database, name: str) -> Iterator[bool]:
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(name)}).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(name)})


@contextlib.contextmanager
def _file_lock(folder: Path, name: str) -> Iterator[bool]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def job_lock(db: Database, lock_dir: Path, name: str) -> contextlib.AbstractContextManager[bool]:
    """Whether this process holds the job's cluster-wide lock for the block (never waits for it)."""
    if db.engine.dialect.name == "postgresql":
        return _pg_lock(db, name)
    return _file_lock(lock_dir, name)


def run_once(db: Database, lock_dir: Path, job: Job, now: Callable[[], dt.datetime] = utcnow) -> bool:
    """Run `job` if no node has run it within its interval and no node is running it; True if this call ran it."""
    with job_lock(db, lock_dir, job.name) as held:
        if not held:
            return False
        with db.read() as session:
            last = session.scalar(select(JobRun.last_run_at).where(JobRun.name == job.name))
        started = now()
        if last is not None and started - last < dt.timedelta(seconds=job.interval_seconds):
            return False
        try:
            result = job.run(db, started)
        except Exception as exc:  # recorded and logged; the next interval tries again
            log.exception("periodic job %s failed", job.name)
            result = f"failed: {type(exc).__name__}: {exc}"[:2000]
        with db.write() as session:
            row = session.get(JobRun, job.name)
            if row is None:
                row = JobRun(name=job.name, runs=0)
                session.add(row)
            row.last_run_at = started
            row.runs += 1
            row.node = node_name()
            row.result = result
        return True


class Scheduler:
    """One daemon thread per process that offers each job to `run_once` when its interval has passed here."""

    def __init__(
        self, db: Database, lock_dir: Path, jobs: list[Job], tick_seconds: float | None = None
    ) -> None:
        self.db = db
        self.lock_dir = lock_dir
        self.jobs = jobs
        shortest = min((job.interval_seconds for job in jobs), default=60.0)
        self.tick_seconds = tick_seconds if tick_seconds is not None else max(0.05, min(30.0, shortest / 4))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.jobs:
            self._thread = threading.Thread(target=self._loop, name="packyard-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def tick(self) -> list[str]:
        """Offer every job once; the names of those this process ran."""
        ran = []
        for job in self.jobs:
            if self._stop.is_set():
                break
            try:
                if run_once(self.db, self.lock_dir, job):
                    ran.append(job.name)
            except Exception:  # the database is down or busy: the next tick tries again
                log.exception("periodic job %s could not be offered", job.name)
        return ran

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick()


# The jobs. Each is one write transaction deleting rows whose time has passed.


def expired_stages(db: Database, now: dt.datetime) -> str:
    """Staged uploads never committed within their time (`PACKYARD_STAGE_TTL_SECONDS`). Their received blobs,
    named by nothing now, are orphans for `packyard fsck --clean`."""
    with db.write() as session:
        n = rowcount(session.execute(delete(Stage).where(Stage.expires_at <= now)))
    return f"removed {n} expired staged uploads"


def expired_sessions(db: Database, now: dt.datetime) -> str:
    """Web sign-ins past their expiry (they no longer open anything; sign-in only swept them before)."""
    with db.write() as session:
        n = rowcount(session.execute(delete(WebSession).where(WebSession.expires_at <= now)))
    return f"removed {n} expired web sessions"


def old_login_failures(window_seconds: int) -> Callable[[Database, dt.datetime], str]:
    """Failed passwords older than the throttling window: they no longer count toward any delay."""

    def run(db: Database, now: dt.datetime) -> str:
        since = now - dt.timedelta(seconds=window_seconds)
        with db.write() as session:
            n = rowcount(session.execute(delete(LoginFailure).where(LoginFailure.at < since)))
        return f"removed {n} old failed sign-ins"

    return run


def housekeeping(interval_seconds: float, login_failure_window_seconds: int) -> list[Job]:
    """The periodic jobs every node offers."""
    return [
        Job("expired_stages", interval_seconds, expired_stages),
        Job("expired_sessions", interval_seconds, expired_sessions),
        Job("old_login_failures", interval_seconds, old_login_failures(login_failure_window_seconds)),
    ]
