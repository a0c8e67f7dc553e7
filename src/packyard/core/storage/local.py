"""Blobs in a local folder: ``blobs/ab/cd/abcd…`` (sha256), temp files in ``blobs/tmp/``."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from packyard.core.storage.base import BlobRef, BlobStore, Hasher, Incoming, Leftover, StoreUnavailable

_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_key(sha256: str) -> str:
    """The key itself, if it is 64 lower-case hex digits; anything else (a path, a traversal) is a ValueError."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return sha256


class TempBlob:
    """The part every store shares: the bytes go to `tmp/<random>.part` and are hashed on the way. A store's
    `Incoming` adds `commit()` (a rename here, an upload for S3)."""

    durable = True
    """fsync before commit: the file itself becomes the blob. A spool that is uploaded elsewhere need not be."""

    def __init__(self, tmp: Path) -> None:
        self._path = tmp / f"{secrets.token_hex(16)}.part"
        self._fh: IO[bytes] | None = open(self._path, "xb")  # noqa: SIM115 - closed in commit/discard
        self._hasher = Hasher()
        self._ref: BlobRef | None = None

    @property
    def path(self) -> Path:
        return self._path

    def write(self, chunk: bytes) -> None:
        assert self._fh is not None, "blob already closed"
        self._fh.write(chunk)
        self._hasher.update(chunk)

    def digest(self) -> BlobRef:
        """Finish writing (flush + fsync) and return the digests; the blob is not yet visible."""
        if self._fh is not None:
            self._fh.flush()
            if self.durable:
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self._ref = self._hasher.ref()
        assert self._ref is not None
        return self._ref

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.path.unlink(missing_ok=True)


class LocalIncoming(TempBlob):
    def __init__(self, store: LocalBlobStore) -> None:
        super().__init__(store.tmp)
        self._store = store

    def commit(self) -> BlobRef:
        ref = self.digest()
        final = self._store.path_for(ref.sha256)
        created = _make_dirs(final.parent)
        os.replace(self.path, final)  # same content under the same name: replacing is harmless
        _fsync_dir(final.parent)
        for folder in created:  # a new folder's own entry lives in its parent: make that durable too
            _fsync_dir(folder.parent)
        return ref


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        """The folder and its temp folder exist and this process may write there (a lost mount, a read-only
        remount or wrong ownership fail here rather than on the next upload)."""
        for folder in (self.root, self.tmp):
            if not folder.is_dir():
                raise StoreUnavailable(f"blob folder {folder} is missing")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StoreUnavailable(f"blob folder {folder} is not writable by this process")

    def path_for(self, sha256: str) -> Path:
        check_key(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    @contextlib.contextmanager
    def receive(self) -> Iterator[Incoming]:
        incoming = LocalIncoming(self)
        try:
            yield incoming
        finally:
            incoming.discard()  # a no-op once committed (the temp file was renamed away)

    def put_bytes(self, data: bytes) -> BlobRef:
        with self.receive() as incoming:
            incoming.write(data)
            return incoming.commit()

    def open(self, sha256: str, start: int = 0, stop: int | None = None) -> IO[bytes]:
        fh = open(self.path_for(sha256), "rb")  # noqa: SIM115 - the caller closes it
        if start or stop is not None:
            fh.seek(start)
            return cast(IO[bytes], Window(fh, None if stop is None else max(stop - start, 0)))
        return fh

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path_for(sha256).stat().st_size

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def modified(self, sha256: str) -> float | None:
        return mtime(self.path_for(sha256))

    def local_path(self, sha256: str) -> Path | None:
        return self.path_for(sha256)

    def iter_blobs(self) -> Iterator[str]:
        for path in self.root.glob("??/??/*"):
            if _SHA256.fullmatch(path.name):
                yield path.name

    def iter_temp(self) -> Iterator[Leftover]:
        yield from temp_files(self.tmp)

    def presigned_url(
        self, sha256: str, expires: int, *, content_type: str, content_disposition: str | None = None
    ) -> str | None:
        check_key(sha256)
        return None  # the server sends local files itself (or nginx, with PACKYARD_ACCEL_REDIRECT)


# Structural check: mypy fails here if LocalBlobStore stops satisfying the BlobStore protocol.
_: type[BlobStore] = LocalBlobStore


def temp_files(tmp: Path) -> Iterator[Leftover]:
    """The `.part` files in `tmp`, as leftovers fsck can age and remove."""
    for path in tmp.glob("*.part"):
        yield Leftover(
            name=str(path),
            modified=functools.partial(mtime, path),
            remove=functools.partial(path.unlink, missing_ok=True),
        )


def mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


class Window(io.RawIOBase):
    """At most `length` bytes of an open file, from where it stands (a Range of a local blob)."""

    def __init__(self, fh: IO[bytes], length: int | None) -> None:
        self._fh = fh
        self._left = length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._left is None:
            return self._fh.read(-1 if size is None else size)
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._fh.read(want)
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def _make_dirs(path: Path) -> list[Path]:
    """mkdir -p, returning the folders that did not exist (innermost first)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
    return missing


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
