"""Blob storage: content-addressed by sha256, written through a temp file that is hashed while it streams in.

`BlobStore.receive()` hands out an `Incoming` blob: write chunks to it (md5, sha256 and size are computed on the
way), read it back through `.path` (parsers need a seekable local file), then `commit()` puts it in place under its
sha256: fsync and rename in a local folder (local.py), an upload to its key in an S3 bucket (s3.py). Leaving the
block without commit removes the temp file, so an error at any point leaves nothing behind. The database row naming
a blob is committed only after `commit()` returned. `open_store(url)` builds the store `PACKYARD_BLOB_URL` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packyard.core.storage.base import BlobRef, BlobStore, Incoming, Leftover, StoreUnavailable
from packyard.core.storage.local import LocalBlobStore

__all__ = [
    "BlobRef",
    "BlobStore",
    "Incoming",
    "Leftover",
    "LocalBlobStore",
    "S3Location",
    "StoreUnavailable",
    "open_store",
    "parse_blob_url",
]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    """Empty, or ending in "/"."""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_blob_url(url: str) -> Path | S3Location:
    """`file://PATH` (a folder) or `s3://BUCKET[/PREFIX]`; anything else is a ValueError saying what is expected."""
    expected = "expected file://PATH (a folder) or s3://BUCKET/PREFIX"
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path:
            raise ValueError(f"{url!r} names no folder; {expected}")
        return Path(path)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValueError(f"{bucket!r} is not an S3 bucket name (3-63 of a-z 0-9 . -); {expected}")
        prefix = prefix.strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise ValueError(f"the prefix {prefix!r} has an empty, '.' or '..' segment; {expected}")
        return S3Location(bucket, f"{prefix}/" if prefix else "")
    raise ValueError(f"{url!r}: {expected}")


def open_store(
    url: str,
    *,
    tmp: Path,
    presign_endpoint: str | None = None,
    addressing_style: str = "auto",
) -> BlobStore:
    """The store a blob URL names. An S3 store receives uploads into the local folder `tmp` (parsers need a
    local file); boto3 is imported only here, for S3."""
    where = parse_blob_url(url)
    if isinstance(where, Path):
        return LocalBlobStore(where)
    from packyard.core.storage.s3 import S3BlobStore, make_client

    client = make_client(addressing_style=addressing_style)
    presign = make_client(presign_endpoint, addressing_style=addressing_style) if presign_endpoint else None
    return S3BlobStore(where.bucket, where.prefix, tmp, client=client, presign_client=presign)
