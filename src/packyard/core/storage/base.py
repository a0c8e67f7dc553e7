"""The storage contract every backend (local folder now, S3 later) implements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    md5: str
    size: int


class Incoming(Protocol):
    """A blob being received: written in chunks, hashed on the way, visible only once committed."""

    @property
    def path(self) -> Path:
        """A local file holding the bytes written so far (parsers need a seekable local file)."""
        ...

    def write(self, chunk: bytes) -> None: ...
    def digest(self) -> BlobRef:
        """Finish writing (durably) and return the digests; the blob is not yet visible."""
        ...

    def commit(self) -> BlobRef:
        """Move the blob into place under its sha256; after this, a row may name it."""
        ...

    def discard(self) -> None:
        """Drop the temp file; a no-op once committed (the receive block calls it on every exit)."""
        ...


class BlobStore(Protocol):
    """What the services and the serving edge call on a store: any backend must provide exactly this.

    `LocalBlobStore` satisfies it structurally; a module-level assignment in `local.py` makes mypy check that.
    """

    def receive(self) -> AbstractContextManager[Incoming]:
        """A context manager yielding an `Incoming` blob; discarded unless committed."""
        ...

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store a small document (a rendered notebook, a side file) in one call, committed."""
        ...

    def open(self, sha256: str) -> IO[bytes]: ...
    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int: ...
    def delete(self, sha256: str) -> None: ...
    def local_path(self, sha256: str) -> Path | None:
        """A path the server can hand to a file response, or None for remote stores."""
        ...

    def iter_blobs(self) -> Iterator[str]:
        """Every stored sha256 (for fsck)."""
        ...

    def iter_temp(self) -> Iterator[Path]:
        """Leftover temp files of uploads that never finished (for fsck)."""
        ...

    def ping(self) -> None:
        """A cheap check that the store answers and can take uploads (the readiness check, `/health/ready`);
        raises `OSError` (or the backend's error) saying what is wrong. Writes nothing."""
        ...


class Hasher:
    """md5 + sha256 + size of a stream, computed in one pass."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)

    def ref(self) -> BlobRef:
        return BlobRef(sha256=self._sha256.hexdigest(), md5=self._md5.hexdigest(), size=self.size)
