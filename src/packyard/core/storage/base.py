"""The storage contract every backend (local folder now, S3 later) implements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    md5: str
    size: int


class Incoming(Protocol):
    path: Path

    def write(self, chunk: bytes) -> None: ...
    def digest(self) -> BlobRef: ...
    def commit(self) -> BlobRef: ...


class BlobStore(Protocol):
    def receive(self) -> Incoming:
        """A context manager yielding an `Incoming` blob; discarded unless committed."""
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
