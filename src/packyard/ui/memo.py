"""Per-worker caches of what pages compute from many rows (listing counts, filter choices, label counts, channel
listings), keyed by the latest event serial.

Every change that could move such a value (an upload, a removal, an access, label, group or ownership change)
writes an event, so a key that carries the newest serial is never stale: a change makes every older entry
unreachable and it ages out of the LRU; nothing is ever invalidated by hand. Keys also carry what the caller may
see (`permissions.Visibility`) and, where it matters, whether the caller manages the namespace, so one caller's
value is never shown to another who may see less. Download counts write no event; a value that shows them adds a
time bucket to its key (ui/catalog.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core.models import Event

T = TypeVar("T")


class Memo:
    """A small LRU of computed values, shared by one worker's threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def database(session: Session) -> str:
    """Which database a cached value came from: one process may open several (the tests do), and ids and serials
    repeat from one to the next."""
    bind = session.get_bind()
    return str(bind.engine.url)


def latest_serial(session: Session) -> int:
    """The newest event: every upload, removal, access or label change and transfer writes one."""
    return session.scalar(select(func.max(Event.serial))) or 0


pages = Memo(1024)
"""Values of the label and channel pages and the channel menu."""


def cached(session: Session, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    """`compute()`, or the value computed for `key` in this database since the last change."""
    return pages.get((database(session), latest_serial(session), *key), compute)
