"""Consistency check between the database and the blob store (`packyard fsck`).

An upload writes its blob before the row that names it, so a crash can leave a blob nobody names (an orphan) or
a temp file (on S3 also an incomplete multipart upload); it can never leave a row without its blob. fsck reports both kinds of leftovers, and rows whose
blob is missing or corrupt (which would be a real problem: disk loss, manual deletion), and with `clean=True`
removes the leftovers. Blobs younger than `grace_seconds` are left alone: their row may be committing right now.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from packyard.core import snapshots
from packyard.core.db import Database, rowcount
from packyard.core.mirrors import documents as mirror_documents
from packyard.core.models import File, Stage, utcnow
from packyard.core.storage import BlobStore


@dataclass
class Report:
    orphans: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    """Temp files and incomplete multipart uploads, by name (`Leftover.name`)."""
    expired_stages: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    cleaned: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt)


def referenced(db: Database) -> set[str]:
    with db.read() as session:
        return (
            set(_named_by_files(session))
            | set(snapshots.referenced_blobs(session))
            | set(mirror_documents.referenced_blobs(session))
            | _named_by_stages(session)
        )


def _named_by_files(session: Session) -> dict[str, str]:
    """sha256 -> what needs it: every file's blob and its side documents (PEP 658 metadata...)."""
    named: dict[str, str] = {}
    for sha, basename, extra in session.execute(select(File.sha256, File.basename, File.extra)):
        named[sha] = basename
        for name, value in (extra or {}).items():
            if isinstance(value, str):
                named.setdefault(value, f"{basename}: {name}")
    return named


def _named_by_stages(session: Session) -> set[str]:
    refs: set[str] = set()
    for stage in session.scalars(select(Stage).where(Stage.expires_at > utcnow())):
        if stage.sha256:
            refs.add(stage.sha256)
        refs.update(v for v in (stage.result or {}).get("extra", {}).values() if isinstance(v, str))
    return refs


def _old_enough(store: BlobStore, sha: str, grace_seconds: int) -> bool:
    """Stored at least `grace_seconds` ago (a file's mtime, an object's LastModified), and still there."""
    modified = store.modified(sha)
    return modified is not None and time.time() - modified >= grace_seconds


def check(
    db: Database, store: BlobStore, *, clean: bool = False, verify: bool = False, grace_seconds: int = 3600
) -> Report:
    report = Report()
    now = time.time()
    # Rows are read before blobs are listed: a row is committed only after its blob, so every blob a row named
    # at that moment is already in the listing, and a blob missing from it is really missing.
    with db.read() as session:
        files = _named_by_files(session)
        # A removed file stays downloadable through the snapshots that list it: its history names its blob
        # until `packyard snapshots prune` forgets it.
        # A mirror's upstream indexes and rendered documents kept as blobs (core/mirrors/documents.py).
        refs = (
            set(files)
            | set(snapshots.referenced_blobs(session))
            | set(mirror_documents.referenced_blobs(session))
            | _named_by_stages(session)
        )
    stored = set(store.iter_blobs())
    report.orphans = [sha for sha in sorted(stored - refs) if _old_enough(store, sha, grace_seconds)]
    leftovers = []
    for leftover in store.iter_temp():
        age = leftover.age(now)
        if age is not None and age >= grace_seconds:
            leftovers.append(leftover)
    report.temp_files = [leftover.name for leftover in leftovers]
    with db.read() as session:
        report.expired_stages = list(session.scalars(select(Stage.id).where(Stage.expires_at <= utcnow())))
    report.missing = sorted(f"{sha} ({files[sha]})" for sha in set(files) - stored)
    if verify:
        for sha in sorted(refs & stored):
            digest = hashlib.sha256()
            try:
                with store.open(sha) as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
            except FileNotFoundError:
                continue  # deleted since the listing (an expired stage's blob); a file's shows as missing next run
            if digest.hexdigest() != sha:
                report.corrupt.append(sha)
    if clean:
        # The scan (above all --verify) may have taken long: an orphan may have been uploaded again since, or a
        # stage may name it now. Look again right before deleting.
        named_now = referenced(db)
        for sha in report.orphans:
            if sha not in named_now and _old_enough(store, sha, grace_seconds):
                store.delete(sha)
                report.cleaned += 1
        for leftover in leftovers:
            age = leftover.age()
            if age is not None and age >= grace_seconds:
                leftover.remove()
                report.cleaned += 1
        with db.write() as session:
            report.cleaned += rowcount(session.execute(delete(Stage).where(Stage.expires_at <= utcnow())))
    return report
