"""Blob storage: content-addressed by sha256, written through a temp file that is hashed while it streams in.

`BlobStore.receive()` hands out an `Incoming` blob: write chunks to it (md5, sha256 and size are computed on the
way), read it back through `.path` (parsers need a seekable local file), then `commit()` fsyncs and moves it into
place under its sha256. Leaving the block without commit removes the temp file, so an error at any point leaves
nothing behind. The database row naming a blob is committed only after `commit()` returned.
"""

from __future__ import annotations

from packyard.core.storage.base import BlobRef, BlobStore, Incoming
from packyard.core.storage.local import LocalBlobStore

__all__ = ["BlobRef", "BlobStore", "Incoming", "LocalBlobStore"]
