"""Download counts, batched in memory and written by one background thread: a download never waits for the writer.

Writers are serialized (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock: core.db), so counting each download
in its own write transaction made every file GET queue behind any upload in progress, and cost a write per GET.
Each process instead adds the download to a per-file tally in memory (`DownloadCounter.add`, a dict update under
a lock), and a daemon thread folds the tallies into `files.ndownloads` in one write transaction every few seconds,
sooner when many are pending, and at shutdown (`close`). On several workers or nodes each flushes its own.
Counts read through the API (`ndownloads`, XML-RPC's release_downloads and top_packages) lag by at most one
interval; a crash loses at most the tallies of that interval.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import cast

from sqlalchemy import Table, bindparam, update

from packyard.core.db import Database
from packyard.core.models import File

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0
"""How long a download may stay in memory before it is written."""
FLUSH_PENDING = 1000
"""Downloads pending that wake the writer thread before the interval is up."""

_FILES = cast(Table, File.__table__)  # a mapped class's __table__ is a Table; SQLAlchemy types it FromClause
_ADD = (
    update(_FILES)
    .where(_FILES.c.id == bindparam("file_id"))
    .values(ndownloads=_FILES.c.ndownloads + bindparam("count"))
)


class DownloadCounter:
    """The per-process tally of downloads not yet written, and the thread that writes them."""

    def __init__(
        self, db: Database, interval: float = FLUSH_SECONDS, max_pending: int = FLUSH_PENDING
    ) -> None:
        self.db = db
        self.interval = interval
        self.max_pending = max_pending
        self._pending: Counter[int] = Counter()
        self._count = 0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, file_id: int) -> None:
        """Count one download of the file; cheap and never touches the database."""
        with self._lock:
            self._pending[file_id] += 1
            self._count += 1
            many = self._count >= self.max_pending
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="packyard-downloads", daemon=True)
                self._thread.start()
        if many:
            self._wake.set()

    def pending(self) -> dict[int, int]:
        with self._lock:
            return dict(self._pending)

    def flush(self) -> None:
        """Write every pending count in one transaction; on failure they stay pending for the next try."""
        with self._flushing:
            with self._lock:
                batch, self._pending, self._count = self._pending, Counter(), 0
            if not batch:
                return
            try:
                with self.db.write() as session:
                    session.connection().execute(
                        _ADD, [{"file_id": file_id, "count": n} for file_id, n in sorted(batch.items())]
                    )
            except Exception:
                with self._lock:
                    self._pending.update(batch)
                    self._count += sum(batch.values())
                raise

    def close(self) -> None:
        """Stop the thread and write what is pending (the app's shutdown)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        self.flush()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._lock:
                closed = self._closed
            if closed:
                return
            try:
                self.flush()
            except Exception:  # the database is busy or gone: keep the counts, try again next time
                log.exception("writing download counts failed; they are kept for the next try")
