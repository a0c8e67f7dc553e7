"""Consistency check between the database and the blob store (`packyard fsck`).

An upload writes its blob before the row that names it, so a crash can leave a blob nobody names (an orphan) or
a temp file; it can never leave a row without its blob. fsck reports both kinds of leftovers, and rows whose
blob is missing or corrupt (which would be a real problem: disk loss, manual deletion), and with `clean=True`
removes the leftovers. Blobs younger than `grace_seconds` are left alone: their row may be committing right now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select

from packyard.core.db import Database
from packyard.core.models import File, Stage, utcnow
from packyard.core.storage import BlobStore


@dataclass
class Report:
    orphans: list[str] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    expired_stages: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    cleaned: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt)


def referenced(db: Database) -> set[str]:
    with db.read() as session:
        refs = set(session.scalars(select(File.sha256)))
        for extra in session.scalars(select(File.extra)):
            refs.update(v for v in (extra or {}).values() if isinstance(v, str))
        for stage in session.scalars(select(Stage).where(Stage.expires_at > utcnow())):
            if stage.sha256:
                refs.add(stage.sha256)
            refs.update(v for v in (stage.result or {}).get("extra", {}).values() if isinstance(v, str))
    return refs


def check(
    db: Database, store: BlobStore, *, clean: bool = False, verify: bool = False, grace_seconds: int = 3600
) -> Report:
    report = Report()
    now = time.time()
    refs = referenced(db)
    stored = set(store.iter_blobs())
    for sha in sorted(stored - refs):
        path = store.local_path(sha)
        if path is not None and now - path.stat().st_mtime < grace_seconds:
            continue
        report.orphans.append(sha)
    report.temp_files = [p for p in store.iter_temp() if now - p.stat().st_mtime >= grace_seconds]
    with db.read() as session:
        report.expired_stages = list(session.scalars(select(Stage.id).where(Stage.expires_at <= utcnow())))
        names = {sha: basename for sha, basename in session.execute(select(File.sha256, File.basename))}
    report.missing = sorted(
        f"{sha} ({names.get(sha, 'side document')})" for sha in refs - stored if sha in names
    )
    if verify:
        for sha in sorted(refs & stored):
            digest = hashlib.sha256()
            with store.open(sha) as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != sha:
                report.corrupt.append(sha)
    if clean:
        for sha in report.orphans:
            store.delete(sha)
        for path in report.temp_files:
            path.unlink(missing_ok=True)
        with db.write() as session:
            cutoff = utcnow() - dt.timedelta(seconds=0)
            session.execute(delete(Stage).where(Stage.expires_at <= cutoff))
        report.cleaned = len(report.orphans) + len(report.temp_files) + len(report.expired_stages)
    return report
