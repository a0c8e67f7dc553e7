"""The cached upstream indexes (core/mirrors/service.py, `mirror_indexes`): a request whose document is built
already reads only the small columns; the entries (tens of MB for a large conda channel) are read when asked for,
and a 304 from the upstream moves `fetched_at` without writing them again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.mirrors import service
from packyard.core.services.accounts import create_user

ENTRIES = [{"filename": "a-1.0-0.tar.bz2", "sha256": "0" * 64}]


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda conn, cur, sql, *a: seen.append(sql))
    return seen


def test_entries_are_read_only_when_asked_for_and_a_304_does_not_rewrite_them(db: Database) -> None:
    alice = Identity(account=create_user(db, "alice", "password-123"))
    mirror = service.create(db, alice, "mir", {"format": "pypi", "upstream": "http://127.0.0.1:9/simple/"})
    then = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    service.save_index(db, mirror.id, "a", service.CachedIndex(then, ENTRIES, True, '"e1"'))

    seen = _statements(db)
    cached = service.cached_index(db, mirror.id, "a")
    assert cached is not None and cached.fetched_at == then and cached.etag == '"e1"' and cached.found
    assert not any("entries" in sql for sql in seen)  # only fetched_at, found, etag so far
    assert cached.entries == ENTRIES
    assert any("entries" in sql for sql in seen)

    seen.clear()
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    service._touch_index(db, mirror.id, "a", now)
    assert not any("entries" in sql for sql in seen)
    again = service.cached_index(db, mirror.id, "a")
    assert again is not None and again.fetched_at == now and again.entries == ENTRIES
