"""Files in and out without holding them in memory: a reader that reports upload progress, hashes computed
chunk by chunk, and downloads written to a temporary file that becomes the target only once its sha256 matches.

`Progress` is what the CLI's progress bars subscribe to: `callback(bytes_done, total)`, called after every chunk.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from packyard.client import errors

Progress = Callable[[int, int], None]
CHUNK = 1024 * 1024


class ProgressReader(io.RawIOBase):
    """Wraps a binary file so that httpx streams it (`read` in chunks, never whole) and each chunk is reported.

    It has no `fileno`, so httpx learns the length from `seek`/`tell`: the part's Content-Length is right."""

    def __init__(self, file: IO[bytes], total: int, callback: Progress | None) -> None:
        super().__init__()
        self._file = file
        self._total = total
        self._callback = callback
        self._done = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._file.seek(offset, whence)
        if whence == os.SEEK_SET and offset == 0:
            self._done = 0  # httpx rewinds before sending: count from the start again
        return position

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._file.read(CHUNK if size is None or size < 0 else min(size, CHUNK))
        if chunk:
            self._done += len(chunk)
            if self._callback is not None:
                self._callback(self._done, self._total)
        return chunk

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def digests(file: IO[bytes]) -> tuple[str, str, str, int]:
    """(md5 hex, md5 base64, sha256 hex, size) of `file` from its start, read in chunks; the file is rewound."""
    md5, sha256, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
    file.seek(0)
    while chunk := file.read(CHUNK):
        md5.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    file.seek(0)
    return md5.hexdigest(), base64.b64encode(md5.digest()).decode(), sha256.hexdigest(), size


def save(
    chunks: Iterable[bytes], target: Path, *, sha256: str | None, total: int, callback: Progress | None
) -> int:
    """Write `chunks` to `target` through `target.partial`; rename only when the sha256 matches `sha256` (when
    given). On any failure the partial file is removed, so `target` is either the whole file or absent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest, done = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if callback is not None:
                    callback(done, total)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise errors.ChecksumMismatch(
                f"{target.name}: the downloaded bytes have sha256 {digest.hexdigest()}, the server recorded "
                f"{sha256}; nothing was kept (download again, and tell the server's operator if it repeats)"
            )
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return done
