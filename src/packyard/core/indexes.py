"""Index documents (conda repodata, PyPI pages, CRAN PACKAGES): generations and a shared cache.

A format keeps one pre-serialised record per file, written in the transaction that adds the file. When anything
an index slice shows changes, the same transaction bumps that slice's generation (`bump`). A read compares the
slice's generation with its cached copy and rebuilds only that slice, from the records, when they differ. So an
upload costs O(1) writes, a stale slice costs one rebuild of itself (never of other subdirs or labels), nothing
depends on a background task, and every worker sees a change as soon as it is committed.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import zstandard
from sqlalchemy.orm import Session

from packyard.core import db
from packyard.core.models import IndexGeneration


def bump(session: Session, fmt: str, owner_id: int, label: str, key: str) -> None:
    """Mark a slice stale (an upsert, so concurrent writers never collide)."""
    stmt = db.insert(session, IndexGeneration).values(
        format=fmt, owner_id=owner_id, label=label, key=key, generation=1
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["format", "owner_id", "label", "key"],
            set_={"generation": IndexGeneration.generation + 1},
        )
    )


@dataclass
class Document:
    """One rendered index document with its strong ETag; compressed forms are made on first request."""

    body: bytes
    media_type: str = "application/json"
    etag: str = ""
    _variants: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.etag:
            self.etag = f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'

    def variant(self, encoding: str) -> bytes:
        """The body as is (`json`) or compressed (`zst`, `bz2`, `gz`)."""
        if encoding == "json":
            return self.body
        with self._lock:
            if encoding not in self._variants:
                self._variants[encoding] = _COMPRESSORS[encoding](self.body)
            return self._variants[encoding]

    def variant_etag(self, encoding: str) -> str:
        return self.etag if encoding == "json" else f'{self.etag[:-1]}-{encoding}"'


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zst": _zstd,
    "bz2": lambda data: bz2.compress(data, 9),
    "gz": lambda data: gzip.compress(data, mtime=0),
}


class IndexCache:
    """A byte-bounded LRU of rendered documents, keyed by slice, generation and audience.

    Only a cache: losing it (restart, another worker) costs one rebuild per slice, never correctness.
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Document] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self._building: dict[Hashable, threading.Lock] = {}

    def get_or_build(self, key: Hashable, build: Callable[[], Document]) -> Document:
        """The cached document, or one build of it: concurrent callers of a stale key wait for the first."""
        with self._lock:
            doc = self._items.get(key)
            if doc is not None:
                self._items.move_to_end(key)
                return doc
            building = self._building.get(key)
            if building is None:
                building = self._building[key] = threading.Lock()
                building.acquire()
                owner = True
            else:
                owner = False
        if not owner:
            with building:  # released when the first caller has stored its result (or failed)
                pass
            return self.get_or_build(key, build)
        try:
            doc = build()
            with self._lock:
                self._items[key] = doc
                self._bytes += 2 * len(doc.body)  # the body plus room for its compressed variants
                while self._bytes > self.max_bytes and len(self._items) > 1:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= 2 * len(old.body)
            return doc
        finally:
            with self._lock:
                del self._building[key]
            building.release()
