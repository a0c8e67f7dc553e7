"""Engine and session factory: SQLite in WAL mode with foreign keys by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

WORKER_THREADS = 40
"""anyio's default thread limiter: how many sync routes (and run_in_threadpool calls) a worker runs at once."""


def default_pool_size() -> int:
    """One connection per worker thread, plus two for the event loop (formats/front.py reads there on SQLite).

    A request holds at most one connection at a time (routes close their read session before they count a
    download), so with this many no thread ever waits for the pool.
    """
    return WORKER_THREADS + 2


def make_engine(url: str, *, immediate: bool = False, pool_size: int | None = None) -> Engine:
    size = pool_size or default_pool_size()
    # A fixed size and no overflow: PACKYARD_DB_POOL_SIZE is the real cap per pool and worker process.
    pool = {"pool_size": size, "max_overflow": 0}
    if url.startswith("sqlite"):
        memory = make_url(url).database in (None, "", ":memory:")  # a single-connection pool, not a queue
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **({} if memory else pool)
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue on busy_timeout instead of
        # failing with "database is locked" when a read transaction upgrades to a write.
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE statement: `Session.execute` types its answer as a plain `Result`."""
    assert isinstance(result, CursorResult), "rowcount of a statement that is not an UPDATE or DELETE"
    return result.rowcount


def insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """INSERT in the session's dialect, which has ON CONFLICT (upserts that concurrent writers cannot trip)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# PostgreSQL's counterpart of SQLite's BEGIN IMMEDIATE: every write transaction first takes this transaction-level
# advisory lock, so writers run one at a time (across processes too). The services check-then-insert (does the
# package / release / label exist? create it) and rely on that; under READ COMMITTED alone two concurrent uploads of
# one new version would both insert the release and one would fail on the unique constraint.
WRITE_LOCK_KEY = 0x7061636B79617264  # "packyard"
_PG_WRITE_LOCK = (
    text("SET LOCAL lock_timeout = '30s'"),  # like SQLite's busy_timeout: fail rather than wait forever
    text(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"),
)


class Database:
    """The engines and sessions. Reads and writes use separate SQLite pools so only writers take the lock.

    Writers are serialized on both backends (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock). Code holds
    one session at a time: a `read()` or `write()` opened while another is open takes a second connection, and
    once every worker thread waits for its second one the pool is exhausted for good (until its timeout).
    """

    def __init__(self, url: str, *, pool_size: int | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.write_engine = (
            make_engine(url, immediate=True, pool_size=pool_size) if url.startswith("sqlite") else self.engine
        )
        self._serialize_writers = self.engine.dialect.name == "postgresql"
        self._readers = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._readers() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: commits when the block ends, rolls back if it raises."""
        with self._writers() as session, session.begin():
            if self._serialize_writers:
                for statement in _PG_WRITE_LOCK:
                    session.execute(statement)
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.write_engine.dispose()
