"""Mirror syncs as jobs (core/mirrors/syncs.py): one node claims each queued sync; a sync whose node died is taken
up again (or failed after MAX_ATTEMPTS); a node thought dead cannot overwrite the run that replaced it; a node
stopping cleanly gives its sync back.

Each "node" is a `Database` of its own (its own engine and connections), on SQLite and on PostgreSQL. The syncs run
the real PyPI format's sync against an upstream that refuses connections or never answers, so what they record is
what the format raised."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from packyard.config import build_store
from packyard.core import auth, queries
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.mirrors import service, syncs
from packyard.core.mirrors.models import MirrorSync
from packyard.core.models import utcnow
from packyard.core.services.accounts import create_user
from tests.unit.core.conftest import Backend

NODES = 6


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mirror(backend: Backend) -> str:
    """A PyPI mirror whose upstream refuses connections; its creator's login is `alice`."""
    alice = create_user(backend.db, "alice", "password-123")
    identity = Identity(account=alice, scopes=frozenset({"all"}))
    body = {"format": "pypi", "upstream": f"http://127.0.0.1:{_closed_port()}/simple/", "exclude": ["bad-*"]}
    service.create(backend.db, identity, "mirror-a", body)
    return "mirror-a"


def _alice(db: Database) -> Identity:
    """alice as a request would see her now: with her grants (the organization she owns) loaded."""
    with db.read() as session:
        account = queries.owner(session, "alice")
    return auth.identity_for(db, account)


def _queue(db: Database, packages: list[str]) -> int:
    return service.sync(db, _alice(db), "mirror-a", None, {"packages": packages}).id


def _row(db: Database, sync_id: int) -> MirrorSync:
    with db.read() as session:
        row = session.scalars(select(MirrorSync).where(MirrorSync.id == sync_id)).one()
        session.expunge(row)
        return row


@pytest.fixture
def nodes(backend: Backend) -> Iterator[list[Database]]:
    made = [Database(backend.url) for _ in range(NODES)]
    yield made
    for db in made:
        db.dispose()


def _race(nodes: list[Database], sync_id: int) -> list[str]:
    """Every node claims `sync_id` at the same moment; the nodes that got it."""
    start = threading.Barrier(len(nodes), timeout=30)
    won: list[str] = []

    def claim(db: Database, node: str) -> None:
        start.wait()
        if syncs.claim(db, sync_id, node):
            won.append(node)

    threads = [threading.Thread(target=claim, args=(db, f"node-{i}")) for i, db in enumerate(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_concurrent_claimers_one_wins(backend: Backend, mirror: str, nodes: list[Database]) -> None:
    for _round in range(3):
        sync_id = _queue(backend.db, ["pk-one"])
        won = _race(nodes, sync_id)
        assert len(won) == 1, won
        row = _row(backend.db, sync_id)
        assert (row.state, row.node, row.attempts) == ("running", won[0], 1)
        assert syncs.claim(backend.db, sync_id, "late") is False  # running: nobody claims it again


def test_a_sync_fails_with_the_message_and_status_the_format_raised(backend: Backend, mirror: str) -> None:
    store = build_store(backend.settings)
    runner = syncs.SyncRunner(backend.db, store, node="n1")
    refused = _queue(backend.db, ["bad-thing"])
    unreachable = _queue(backend.db, ["pk-one"])
    assert [runner.tick(), runner.tick(), runner.tick()] == ["failed", "failed", None]
    row = _row(backend.db, refused)
    assert row.state == "failed" and row.error_status == 403
    assert row.error == "bad-thing is excluded by mirror mirror-a's rule 'bad-*'"
    row = _row(backend.db, unreachable)
    assert row.state == "failed" and row.error_status == 502
    assert "pk-one is not cached by mirror mirror-a and its upstream is unreachable" in (row.error or "")
    assert row.finished_at is not None and row.node == "n1" and row.attempts == 1


def test_a_sync_whose_node_died_is_taken_up_again_then_failed(
    backend: Backend, mirror: str, nodes: list[Database]
) -> None:
    store = build_store(backend.settings)
    sync_id = _queue(backend.db, ["bad-thing"])
    dead, alive = nodes[0], nodes[1]
    assert syncs.claim(dead, sync_id, "dead-node")  # ... and the node dies: no heartbeat, no outcome
    runner = syncs.SyncRunner(alive, store, node="alive-node", stale_seconds=0.3)
    assert runner.tick() is None  # its heartbeat is fresh: still its node's
    assert _row(backend.db, sync_id).state == "running"
    time.sleep(0.5)
    assert runner.tick() == "failed"  # taken up again (queued, claimed) and run to its end here
    row = _row(backend.db, sync_id)
    assert (row.state, row.node, row.attempts) == ("failed", "alive-node", 2)
    assert "excluded by mirror" in (row.error or "")
    # The dead node comes back: its outcome and heartbeat are refused, the replacing run's stays.
    assert syncs.finish(dead, sync_id, "dead-node", fetched=["x.whl"]) is False
    assert syncs.heartbeat(dead, sync_id, "dead-node") is False
    assert _row(backend.db, sync_id).fetched == []

    # Every start dies: after MAX_ATTEMPTS it is failed, saying why, rather than taken up forever.
    again = _queue(backend.db, ["pk-one"])
    for attempt in range(1, syncs.MAX_ATTEMPTS + 1):
        assert syncs.claim(dead, again, "dead-node")
        old = utcnow() - dt.timedelta(seconds=syncs.STALE_SECONDS + 1)
        with backend.db.write() as session:
            session.execute(update(MirrorSync).where(MirrorSync.id == again).values(heartbeat_at=old))
        requeued, failed = syncs.recover_stale(alive)
        if attempt < syncs.MAX_ATTEMPTS:
            assert (requeued, failed) == ([again], [])
            assert _row(backend.db, again).state == "queued"
        else:
            assert (requeued, failed) == ([], [again])
    row = _row(backend.db, again)
    assert row.state == "failed" and row.attempts == syncs.MAX_ATTEMPTS and row.error_status == 500
    assert "stopped during each of its 3 attempts" in (row.error or "")
    assert syncs.recover_stale(alive) == ([], [])  # nothing twice


def test_a_running_sync_keeps_its_heartbeat_and_a_stopping_node_gives_it_back(
    backend: Backend, mirror: str
) -> None:
    """An upstream that accepts the connection and never answers keeps the sync running; meanwhile its heartbeat
    moves; the node stops; the sync is queued again with the attempt not counted."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    alice = _alice(backend.db)
    service.update(backend.db, alice, "mirror-a", None, {"upstream": f"http://127.0.0.1:{port}/simple/"})
    sync_id = _queue(backend.db, ["pk-one"])
    runner = syncs.SyncRunner(
        backend.db, build_store(backend.settings), poll_seconds=0.05, node="n1", heartbeat_seconds=0.1
    )
    runner.start()
    thread = runner._thread
    try:
        deadline = time.monotonic() + 10
        while _row(backend.db, sync_id).state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        first = _row(backend.db, sync_id).heartbeat_at
        time.sleep(0.5)
        assert _row(backend.db, sync_id).heartbeat_at > first  # type: ignore[operator]
        runner.stop(timeout=0.3)
        row = _row(backend.db, sync_id)
        assert (row.state, row.node, row.attempts) == ("queued", None, 0)
    finally:
        silent.close()  # the blocked request ends; its outcome is refused (the sync is no longer n1's)
        if thread is not None:
            thread.join(timeout=60)
    row = _row(backend.db, sync_id)
    assert (row.state, row.error) == ("queued", None)
