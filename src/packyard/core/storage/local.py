"""Blobs in a local folder: ``blobs/ab/cd/abcd…`` (sha256), temp files in ``blobs/tmp/``."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from packyard.core.storage.base import BlobRef, BlobStore, Hasher, Incoming

_SHA256 = re.compile(r"[0-9a-f]{64}")


class LocalIncoming:
    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        self._path = store.tmp / f"{secrets.token_hex(16)}.part"
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
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self._ref = self._hasher.ref()
        assert self._ref is not None
        return self._ref

    def commit(self) -> BlobRef:
        ref = self.digest()
        final = self._store.path_for(ref.sha256)
        created = _make_dirs(final.parent)
        os.replace(self.path, final)  # same content under the same name: replacing is harmless
        _fsync_dir(final.parent)
        for folder in created:  # a new folder's own entry lives in its parent: make that durable too
            _fsync_dir(folder.parent)
        return ref

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.path.unlink(missing_ok=True)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
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

    def open(self, sha256: str) -> IO[bytes]:
        return open(self.path_for(sha256), "rb")

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path_for(sha256).stat().st_size

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def local_path(self, sha256: str) -> Path | None:
        return self.path_for(sha256)

    def iter_blobs(self) -> Iterator[str]:
        for path in self.root.glob("??/??/*"):
            if _SHA256.fullmatch(path.name):
                yield path.name

    def iter_temp(self) -> Iterator[Path]:
        yield from self.tmp.glob("*.part")

    def ping(self) -> None:
        """The folder and its temp folder exist and this process may write there (a lost mount, a read-only
        remount or wrong ownership fail here rather than on the next upload)."""
        for folder in (self.root, self.tmp):
            if not folder.is_dir():
                raise FileNotFoundError(f"blob folder {folder} is missing")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"blob folder {folder} is not writable by this process")


# Structural check: mypy fails here if LocalBlobStore stops satisfying the BlobStore protocol.
_: type[BlobStore] = LocalBlobStore


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
