"""Copy every blob of one store into an S3 bucket (`packyard blobs migrate --to s3://...`).

Resumable: a blob already in the bucket with its size is skipped, so an interrupted run is simply run again.
Verified: each blob is hashed while it streams up and an upload whose bytes do not hash to the blob's name is
abandoned before it completes (`S3BlobStore.copy_in`), so the bucket never holds an object under a wrong name.
The server may keep running on the old store meanwhile; blobs it adds later are copied by the next run, which the
operator makes just before switching `PACKYARD_BLOB_URL` (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from packyard.core.storage import BlobStore
from packyard.core.storage.s3 import CorruptBlob, S3BlobStore


@dataclass
class CopyReport:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    corrupt: list[str] = field(default_factory=list)
    """Blobs whose bytes do not hash to their name: not copied (`packyard fsck --verify` reports them too)."""
    vanished: list[str] = field(default_factory=list)
    """Blobs deleted from the source while the copy ran (fsck --clean removing an orphan)."""

    @property
    def ok(self) -> bool:
        return not self.corrupt


Progress = Callable[[str, str, int, int, int], None]
"""(what happened: "copied", "skipped", "corrupt", "vanished"; sha256; size; blobs done; blobs in all)"""


def copy_blobs(source: BlobStore, dest: S3BlobStore, progress: Progress | None = None) -> CopyReport:
    report = CopyReport()
    blobs = sorted(source.iter_blobs())
    for done, sha in enumerate(blobs, 1):
        try:
            size = source.size(sha)
            with source.open(sha) as fh:
                copied = dest.copy_in(sha, fh, size)
        except FileNotFoundError:
            report.vanished.append(sha)
            outcome, size = "vanished", 0
        except CorruptBlob:
            report.corrupt.append(sha)
            outcome = "corrupt"
        else:
            if copied:
                report.copied += 1
                report.copied_bytes += size
            else:
                report.skipped += 1
            outcome = "copied" if copied else "skipped"
        if progress is not None:
            progress(outcome, sha, size, done, len(blobs))
    return report
