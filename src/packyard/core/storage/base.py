"""The storage contract every backend (a local folder, an S3 bucket) implements."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    md5: str
    size: int


class StoreUnavailable(OSError):
    """The store could not be reached or refused a request (an S3 endpoint down, wrong credentials): an
    `OSError`, like a local disk error, so callers that already cope with those cope with this too."""


@dataclass(frozen=True)
class Leftover:
    """What an upload that never finished left in a store: a local temp file, or an incomplete S3 multipart
    upload. fsck reports it by `name` and, once it is older than the grace period, calls `remove()`."""

    name: str
    """What the operator sees: a temp file's path, or the key and id of a multipart upload."""
    modified: Callable[[], float | None]
    """When it was last written (seconds since the epoch), asked afresh each call; None once it is gone."""
    remove: Callable[[], None]
    """Delete the temp file or abort the multipart upload; nothing happens if it is already gone."""

    def age(self, now: float | None = None) -> float | None:
        """Seconds since it was last written, or None if it is gone (an upload finished, another fsck...)."""
        when = self.modified()
        return None if when is None else (time.time() if now is None else now) - when


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

    def check(self) -> None:
        """Raise StoreUnavailable (an OSError) saying what is wrong unless the store answers and can take uploads:
        the folders exist and this process may write there, the bucket answers to these credentials. Cheap and
        writes nothing: `packyard serve` calls it at start-up and `/health/ready` on every probe."""
        ...

    def receive(self) -> AbstractContextManager[Incoming]:
        """A context manager yielding an `Incoming` blob; discarded unless committed."""
        ...

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store a small document (a rendered notebook, a side file) in one call, committed."""
        ...

    def open(self, sha256: str, start: int = 0, stop: int | None = None) -> IO[bytes]:
        """The stored bytes from `start` up to `stop` (exclusive; None: the end), as a file to read and close.
        A missing blob raises FileNotFoundError; a store that cannot be reached, StoreUnavailable."""
        ...

    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int: ...
    def delete(self, sha256: str) -> None: ...
    def modified(self, sha256: str) -> float | None:
        """When the blob was last stored (seconds since the epoch; committing it again counts), None if it is
        absent: fsck leaves blobs younger than its grace period alone."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """A path the server can hand to a file response, or None for remote stores."""
        ...

    def iter_blobs(self) -> Iterator[str]:
        """Every stored sha256 (for fsck)."""
        ...

    def iter_temp(self) -> Iterator[Leftover]:
        """What uploads that never finished left behind: temp files, incomplete multipart uploads (for fsck)."""
        ...

    def presigned_url(
        self, sha256: str, expires: int, *, content_type: str, content_disposition: str | None = None
    ) -> str | None:
        """A URL that fetches the blob without credentials for `expires` seconds, answered with these
        Content-Type and Content-Disposition headers; None for a store whose bytes the server sends itself."""
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
