"""Running the syncs `POST /api/mirrors/NAME/sync` queued (core/mirrors/service.sync): on any node, each once.

A sync can take many minutes (hundreds of packages, their dependencies, a conda solve per platform), longer than
any client waits for an answer, and a node may restart in the middle. So the request only writes a `mirror_syncs`
row (state `queued`), and every node runs a `SyncRunner`: one daemon thread that takes the oldest queued sync,
runs the format's sync (`FormatSpec.mirror_sync`) and writes what came of it (`done` with the files fetched, or
`failed` with the message and status the synchronous call would have answered).

- Claiming: `UPDATE mirror_syncs SET state='running', node=..., started_at=... WHERE id=? AND state='queued'`; the
  node whose UPDATE changed the row runs it (rowcount 1), every other sees 0 and moves on. On SQLite writers are
  serialised (BEGIN IMMEDIATE); on PostgreSQL the second UPDATE waits for the first's row lock and then finds the
  state changed. No lock is held while the sync runs.
- Liveness: while it runs, the node moves `heartbeat_at` every `HEARTBEAT_SECONDS`. A `running` row whose heartbeat
  is older than `STALE_SECONDS` belongs to a node that died (or lost the database): any node's runner **takes it
  up again** (back to `queued`, to be claimed like a new one), because a sync is idempotent (a file already cached
  is not fetched twice) and the person who asked for it still wants it. After `MAX_ATTEMPTS` starts it is marked
  `failed` instead, so a sync that kills its node (memory, say) does not take the cluster's nodes down one by one.
- Fencing: the running node writes its heartbeat and its outcome only `WHERE node = itself AND state='running'`,
  so a node thought dead that comes back cannot overwrite the run that replaced it.
- A node shutting down cleanly (SIGTERM) gives its running sync back at once (`queued`, the attempt not counted)
  rather than leaving it to go stale.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select, update

from packyard.core import formats
from packyard.core.db import Database, rowcount
from packyard.core.errors import BadRequest, PackyardError
from packyard.core.jobs import node_name
from packyard.core.mirrors import service
from packyard.core.mirrors.models import MirrorSync
from packyard.core.models import utcnow
from packyard.core.storage import BlobStore

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 120.0
"""A running sync whose heartbeat is this old lost its node (eight heartbeats missed: clocks may differ a little)."""
MAX_ATTEMPTS = 3


def queued(db: Database, limit: int = 10) -> list[int]:
    """The oldest queued syncs' ids."""
    with db.read() as session:
        return list(
            session.scalars(
                select(MirrorSync.id).where(MirrorSync.state == "queued").order_by(MirrorSync.id).limit(limit)
            )
        )


def claim(db: Database, sync_id: int, node: str, now: dt.datetime | None = None) -> bool:
    """Take queued sync `sync_id` for `node`; True for exactly one of any number of concurrent claimers."""
    now = now or utcnow()
    with db.write() as session:
        changed = rowcount(
            session.execute(
                update(MirrorSync)
                .where(MirrorSync.id == sync_id, MirrorSync.state == "queued")
                .values(
                    state="running",
                    node=node,
                    started_at=now,
                    heartbeat_at=now,
                    attempts=MirrorSync.attempts + 1,
                    error=None,
                    error_status=None,
                )
            )
        )
    return changed == 1


def claim_next(db: Database, node: str) -> int | None:
    """Claim the oldest queued sync another node has not taken first; None when there is none."""
    for sync_id in queued(db):
        if claim(db, sync_id, node):
            return sync_id
    return None


def heartbeat(db: Database, sync_id: int, node: str, now: dt.datetime | None = None) -> bool:
    """`node` still runs `sync_id`; False when it no longer does (taken up by another node after a stall)."""
    with db.write() as session:
        changed = rowcount(
            session.execute(
                update(MirrorSync)
                .where(MirrorSync.id == sync_id, MirrorSync.node == node, MirrorSync.state == "running")
                .values(heartbeat_at=now or utcnow())
            )
        )
    return changed == 1


def finish(
    db: Database,
    sync_id: int,
    node: str,
    *,
    fetched: list[str] | None = None,
    error: str | None = None,
    status: int | None = None,
) -> bool:
    """Write the outcome (`fetched`, or `error` and its HTTP status) if `node` still holds the sync."""
    values: dict[str, object] = {"finished_at": utcnow(), "heartbeat_at": utcnow()}
    if error is None:
        values.update(state="done", fetched=list(fetched or []))
    else:
        values.update(state="failed", error=error[:4000], error_status=status)
    with db.write() as session:
        changed = rowcount(
            session.execute(
                update(MirrorSync)
                .where(MirrorSync.id == sync_id, MirrorSync.node == node, MirrorSync.state == "running")
                .values(**values)
            )
        )
    return changed == 1


def release(db: Database, sync_id: int, node: str) -> bool:
    """A node stopping cleanly gives its running sync back to the queue (the attempt does not count)."""
    with db.write() as session:
        changed = rowcount(
            session.execute(
                update(MirrorSync)
                .where(MirrorSync.id == sync_id, MirrorSync.node == node, MirrorSync.state == "running")
                .values(state="queued", node=None, attempts=MirrorSync.attempts - 1)
            )
        )
    return changed == 1


def recover_stale(
    db: Database,
    now: dt.datetime | None = None,
    *,
    stale_seconds: float = STALE_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
) -> tuple[list[int], list[int]]:
    """Running syncs whose node stopped beating: queued again to be taken up, or failed after `max_attempts`
    starts. Returns (requeued, failed) ids. Each row changes only if its heartbeat is still the stale one, so two
    nodes recovering at once, or a late heartbeat, change nothing twice."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    with db.read() as session:
        stale = session.execute(
            select(MirrorSync.id, MirrorSync.node, MirrorSync.attempts, MirrorSync.heartbeat_at).where(
                MirrorSync.state == "running", MirrorSync.heartbeat_at < cutoff
            )
        ).all()
    requeued: list[int] = []
    failed: list[int] = []
    for sync_id, node, attempts, beat in stale:
        guard = (MirrorSync.id == sync_id, MirrorSync.state == "running", MirrorSync.heartbeat_at == beat)
        if attempts < max_attempts:
            values: dict[str, object] = {"state": "queued", "node": None}
        else:
            values = {
                "state": "failed",
                "finished_at": now,
                "error": f"the node running it ({node}) stopped during each of its {attempts} attempts; "
                "see that node's log, then ask again with fewer packages",
                "error_status": 500,
            }
        with db.write() as session:
            if rowcount(session.execute(update(MirrorSync).where(*guard).values(**values))) == 1:
                (requeued if values["state"] == "queued" else failed).append(sync_id)
    for sync_id in requeued:
        log.warning("mirror sync %s: its node stopped beating; queued again", sync_id)
    for sync_id in failed:
        log.warning("mirror sync %s: its node stopped beating %s times; failed", sync_id, max_attempts)
    return requeued, failed


@contextmanager
def _beating(db: Database, sync_id: int, node: str, every: float) -> Iterator[None]:
    """Move the sync's heartbeat every `every` seconds while the block runs (a thread of its own: the format's
    sync is one blocking call)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                if not heartbeat(db, sync_id, node):
                    return  # taken from us (we stalled past STALE_SECONDS): the outcome will not be written
            except Exception:  # the database is away for a moment: the next beat tries again
                log.exception("mirror sync %s: heartbeat failed", sync_id)

    thread = threading.Thread(target=beat, name=f"packyard-sync-{sync_id}-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def run(
    db: Database, store: BlobStore, sync_id: int, node: str, *, heartbeat_seconds: float = HEARTBEAT_SECONDS
) -> str:
    """Run claimed sync `sync_id` to its end and record it; its final state ('done', 'failed'), or 'lost' when
    another node took it meanwhile (or its mirror was deleted)."""
    with db.read() as session:
        row = session.get(MirrorSync, sync_id)
        if row is None:
            return "lost"  # its mirror was deleted (the rows cascade)
        mirror_id, body = row.mirror_id, dict(row.body or {})
    error: str | None = None
    status: int | None = None
    fetched: list[str] = []
    with _beating(db, sync_id, node, heartbeat_seconds):
        try:
            mirror, _owner = service.by_id(db, mirror_id)
            sync = formats.spec_for(mirror.format).mirror_sync
            if sync is None:
                raise BadRequest(f"{mirror.format} mirrors cannot be synced on this server")
            fetched = sync(db, store, mirror_id, service.sync_request(body))
        except PackyardError as exc:  # what the synchronous call answered as a 4xx/5xx
            error, status = exc.message, exc.status
        except Exception as exc:  # a bug or a broken store: recorded (not a silent loss), and logged in full
            log.exception("mirror sync %s failed", sync_id)
            error, status = f"the sync failed on the server ({type(exc).__name__}: {exc})", 500
    if not finish(db, sync_id, node, fetched=fetched, error=error, status=status):
        return "lost"
    return "done" if error is None else "failed"


class SyncRunner:
    """One daemon thread per process: takes up stale syncs, claims the oldest queued one, runs it; between syncs
    it waits `poll_seconds` or until `wake()` (the route that queued one calls it, so a one-node server starts at
    once). One sync at a time per process: each is heavy (downloads, a solver), and a cluster runs one per
    process at the same time."""

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        poll_seconds: float = 5.0,
        *,
        node: str | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stale_seconds: float = STALE_SECONDS,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db, self.store = db, store
        self.poll_seconds = poll_seconds
        self.node = node or node_name()
        self.heartbeat_seconds, self.stale_seconds = heartbeat_seconds, stale_seconds
        self.now = now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: int | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="packyard-mirror-syncs", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking syncs; a sync still running after `timeout` is given back to the queue for another node
        (or this one, restarted) rather than left to go stale."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            running = self.current
            if self._thread.is_alive() and running is not None:
                try:
                    release(self.db, running, self.node)
                except Exception:
                    log.exception("mirror sync %s could not be given back", running)
            self._thread = None

    def tick(self) -> str | None:
        """Recover stale syncs, then claim and run one; what became of it, or None when none was queued."""
        recover_stale(self.db, self.now(), stale_seconds=self.stale_seconds)
        sync_id = claim_next(self.db, self.node)
        if sync_id is None:
            return None
        self.current = sync_id
        try:
            return run(self.db, self.store, sync_id, self.node, heartbeat_seconds=self.heartbeat_seconds)
        finally:
            self.current = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.tick()
            except Exception:  # the database is down or busy: wait, then try again
                log.exception("mirror syncs could not be offered")
                ran = None
            if ran is None and not self._stop.is_set():
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
