"""Snapshots: an owner's files as they were at event serial N, kept so that a pinned URL never changes.

A snapshot is "the files visible at serial N". `files` rows are deleted on removal, so `record` keeps a history
beside them (`FileHistory` with its label intervals and yank flags), called by `core.services.events.emit` for
every event in the transaction that makes the change: an upload, a removal (of a file, release or package, with
its owner too), a transfer (the file leaves one owner and joins another, as its events say), label changes
(added, removed, renamed, copied, moved), an access change and a PEP 592 yank all reach it, and none can be
committed without it.

Reading (`files_at`) gives the formats the rows their own pure renderers take; who may read them is asked of
`core.permissions` with the package's current access while the package exists, else the last access the
history knows (`refs`). `prune` forgets the history of files removed before a serial, and records that older
snapshots are no longer complete, so they are refused rather than served with files missing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from packyard.core import queries
from packyard.core.db import Database, rowcount
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import (
    Access,
    Account,
    Event,
    File,
    FileHistory,
    FileLabelHistory,
    FileYankHistory,
    Package,
    Release,
    SnapshotPrune,
    utcnow,
)


class Gone(NotFound):
    """A snapshot older than the operator's last `packyard snapshots prune`."""

    status = 410


# --- writing: one call per event, in its transaction ------------------------------------------------------------


def record(session: Session, event: Event) -> None:
    """Keep the history in step with one event (see the module docstring); events of other kinds are ignored."""
    kind = event.kind
    if kind == "file.added":
        _opened(session, event)
    elif kind == "file.removed":
        row = _open_row(session, event)
        if row is not None:
            row.removed_serial = event.serial
            _close_labels(session, row.id, event.serial, None)
    elif kind == "label.added":
        row = _open_row(session, event)
        label = str(event.data.get("label") or "")
        if row is not None and label and not _label_open(session, row.id, label):
            session.add(FileLabelHistory(history_id=row.id, label=label, added_serial=event.serial))
    elif kind == "label.removed":
        row = _open_row(session, event)
        if row is not None:
            _close_labels(session, row.id, event.serial, str(event.data.get("label") or ""))
    elif kind == "file.yanked":
        row = _open_row(session, event)
        if row is not None:
            yanked = bool(event.data.get("yanked"))
            reason = event.data.get("reason") if yanked else None
            session.add(FileYankHistory(history_id=row.id, serial=event.serial, yanked=yanked, reason=reason))
    elif kind == "access.changed" and event.package:
        new = event.data.get("new")
        pkg_id = session.scalar(
            select(Package.id)
            .join(Account, Account.id == Package.owner_id)
            .where(Account.login_key == event.owner.lower(), queries.named_exactly(event.package))
        )
        if pkg_id is not None and isinstance(new, str):
            session.execute(update(FileHistory).where(FileHistory.package_id == pkg_id).values(access=new))


def _event_file(session: Session, event: Event) -> File | None:
    """The file an event names, by owner, package, version and basename (a basename may recur per release)."""
    query = (
        select(File)
        .join(Package, Package.id == File.package_id)
        .join(Account, Account.id == Package.owner_id)
        .where(
            Account.login_key == event.owner.lower(),
            queries.named_exactly(event.package or ""),
            File.basename == event.basename,
        )
    )
    if event.version is not None:
        query = query.join(Release, Release.id == File.release_id).where(Release.version == event.version)
    return session.scalar(query)


def _open_row(session: Session, event: Event) -> FileHistory | None:
    if not event.basename:
        return None
    f = _event_file(session, event)
    if f is None:
        return None
    return session.scalar(
        select(FileHistory).where(FileHistory.file_id == f.id, FileHistory.removed_serial.is_(None))
    )


def _opened(session: Session, event: Event) -> None:
    f = _event_file(session, event) if event.basename else None
    if f is None:
        return
    pkg = session.get_one(Package, f.package_id)
    # A file row is only ever live once: close a row a reused id may have left open (never expected).
    session.execute(
        update(FileHistory)
        .where(FileHistory.file_id == f.id, FileHistory.removed_serial.is_(None))
        .values(removed_serial=event.serial)
    )
    row = FileHistory(
        owner_id=pkg.owner_id,
        file_id=f.id,
        package_id=pkg.id,
        package_name=pkg.name,
        package_key=pkg.name_key,
        version=event.version or f.release.version,
        basename=f.basename,
        package_type=f.package_type,
        size=f.size,
        md5=f.md5,
        sha256=f.sha256,
        attrs=dict(f.attrs or {}),
        extra=dict(f.extra or {}),
        uploaded_at=f.uploaded_at,
        access=pkg.access,
        added_serial=event.serial,
    )
    session.add(row)
    session.flush()
    labels = event.data.get("labels")
    names = [str(n) for n in labels] if isinstance(labels, list) else [label.name for label in f.labels]
    for name in sorted(set(names)):
        session.add(FileLabelHistory(history_id=row.id, label=name, added_serial=event.serial))


def _label_open(session: Session, history_id: int, label: str) -> bool:
    found = session.scalar(
        select(FileLabelHistory.id).where(
            FileLabelHistory.history_id == history_id,
            FileLabelHistory.label == label,
            FileLabelHistory.removed_serial.is_(None),
        )
    )
    return found is not None


def _close_labels(session: Session, history_id: int, serial: int, label: str | None) -> None:
    query = update(FileLabelHistory).where(
        FileLabelHistory.history_id == history_id, FileLabelHistory.removed_serial.is_(None)
    )
    if label is not None:
        query = query.where(FileLabelHistory.label == label)
    session.execute(query.values(removed_serial=serial))


# --- which serial a URL means -----------------------------------------------------------------------------------


def current_serial(session: Session) -> int:
    """The newest event serial (0 before the first event)."""
    return session.scalar(select(func.max(Event.serial))) or 0


def serial_time(session: Session, serial: int) -> dt.datetime | None:
    return session.scalar(select(Event.at).where(Event.serial == serial))


def horizon(session: Session) -> int:
    """The oldest serial a snapshot may be taken at: 0, or where the last prune stopped."""
    return session.scalar(select(func.max(SnapshotPrune.before_serial))) or 0


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]00:?00)$")
HINT = "give an event serial (GET /api/serial says the newest) or a UTC time such as 2026-12-01T00:00:00Z"


@dataclass(frozen=True)
class At:
    """A snapshot's point: the serial, and whether the URL named it (immutable) or a time (mapped to it)."""

    serial: int
    by_serial: bool


def parse_point(text: str) -> tuple[int | None, dt.datetime | None]:
    """A URL's N: (serial, None) or (None, UTC time); BadRequest saying what to write otherwise."""
    if text.isdigit() and len(text) <= 18:
        return int(text), None
    when: dt.datetime | None = None
    try:
        if _DATE.match(text):
            when = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
        elif _DATETIME.match(text):
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        when = None
    if when is None:
        raise BadRequest(f"{text[:40]!r} is not a snapshot point: {HINT}")
    return None, when


def resolve(session: Session, text: str) -> At:
    """The serial a snapshot URL names: a serial as given, or the newest serial at or before a UTC time.

    A serial after the newest, or a time in the future, is refused: the view would not be frozen yet, and a
    CI job pinning it would silently follow the live channel.
    """
    serial, when = parse_point(text)
    newest = current_serial(session)
    if serial is not None:
        if serial > newest:
            raise NotFound(f"serial {serial} does not exist yet: the newest is {newest}; {HINT}")
        at = At(serial, by_serial=True)
    else:
        assert when is not None
        if when > utcnow():
            raise BadRequest(f"{text} is in the future: a snapshot is of the past; {HINT}")
        found = session.scalar(select(func.max(Event.serial)).where(Event.at <= when))
        at = At(found or 0, by_serial=False)
    oldest = horizon(session)
    if at.serial < oldest:
        raise Gone(
            f"the history before serial {oldest} is not kept (it starts where snapshots were introduced, or "
            f"where the operator pruned it with `packyard snapshots prune`): pick a serial of at least {oldest}"
        )
    return at


# --- reading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapFile:
    """A file as a snapshot lists it: its history row's fields and its yank state at that serial."""

    id: int
    """The history row's id (a file id of the past may have been reused: never serve by it)."""
    owner_id: int
    package_id: int
    package_name: str
    version: str
    basename: str
    package_type: str
    size: int
    md5: str
    sha256: str
    attrs: dict[str, Any]
    extra: dict[str, Any]
    uploaded_at: dt.datetime
    yanked: bool
    yanked_reason: str | None
    added_serial: int


def _live_at(serial: int, added: Any, removed: Any) -> Any:
    return and_(added <= serial, or_(removed.is_(None), removed > serial))


def files_at(
    session: Session,
    owner_id: int,
    serial: int,
    label: str,
    package_type: str,
    *,
    basename: str | None = None,
    package_ids: Iterable[int] | None = None,
) -> list[SnapFile]:
    """The owner's files of one type that carried `label` at `serial` (optionally one basename, some packages)."""
    labels = aliased(FileLabelHistory)
    query = (
        select(FileHistory)
        .join(labels, labels.history_id == FileHistory.id)
        .where(
            FileHistory.owner_id == owner_id,
            FileHistory.package_type == package_type,
            _live_at(serial, FileHistory.added_serial, FileHistory.removed_serial),
            labels.label == label,
            _live_at(serial, labels.added_serial, labels.removed_serial),
        )
        .order_by(FileHistory.id)
    )
    if basename is not None:
        query = query.where(FileHistory.basename == basename)
    if package_ids is not None:
        query = query.where(FileHistory.package_id.in_(list(package_ids)))
    rows = list(session.scalars(query))
    yanks = _yanks(session, [r.id for r in rows], serial)
    out = []
    for r in rows:
        attrs = dict(r.attrs or {})
        yanked, reason = yanks.get(r.id, (bool(attrs.get("yanked")), attrs.get("yanked_reason")))
        out.append(
            SnapFile(
                r.id,
                r.owner_id,
                r.package_id,
                r.package_name,
                r.version,
                r.basename,
                r.package_type,
                r.size,
                r.md5,
                r.sha256,
                attrs,
                dict(r.extra or {}),
                r.uploaded_at,
                yanked,
                reason if yanked else None,
                r.added_serial,
            )
        )
    return out


def _yanks(session: Session, ids: Sequence[int], serial: int) -> dict[int, tuple[bool, str | None]]:
    if not ids:
        return {}
    found: dict[int, tuple[int, bool, str | None]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        rows = session.execute(
            select(
                FileYankHistory.history_id,
                FileYankHistory.serial,
                FileYankHistory.yanked,
                FileYankHistory.reason,
            ).where(FileYankHistory.history_id.in_(chunk), FileYankHistory.serial <= serial)
        )
        for hid, at, yanked, reason in rows:
            if hid not in found or at > found[hid][0]:
                found[hid] = (at, yanked, reason)
    return {hid: (yanked, reason) for hid, (_, yanked, reason) in found.items()}


def label_existed(session: Session, owner_id: int, label: str, serial: int) -> bool:
    """Did any file of the owner carry `label` at `serial`? ("main" always exists, as for the live channels.)"""
    if label == "main":
        return True
    found = session.scalar(
        select(FileLabelHistory.id)
        .join(FileHistory, FileHistory.id == FileLabelHistory.history_id)
        .where(
            FileHistory.owner_id == owner_id,
            FileLabelHistory.label == label,
            _live_at(serial, FileLabelHistory.added_serial, FileLabelHistory.removed_serial),
        )
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class Ref:
    """A snapshot's package as `core.permissions` reads it (a `PackageRef`)."""

    id: int
    owner_id: int
    access: str


def refs(session: Session, files: Iterable[SnapFile]) -> dict[int, Ref]:
    """package id -> what access decisions read: the package's access now while it exists (same owner, same
    package), else the last access its history knows."""
    last: dict[int, tuple[int, str]] = {}
    for f in files:
        last.setdefault(f.package_id, (f.owner_id, Access.PUBLIC))
    if not last:
        return {}
    history = session.execute(
        select(FileHistory.package_id, FileHistory.access, FileHistory.id)
        .where(FileHistory.package_id.in_(list(last)))
        .order_by(FileHistory.id)
    )
    access = {pid: acc for pid, acc, _ in history}
    now = session.execute(
        select(Package.id, Package.owner_id, Package.access).where(Package.id.in_(list(last)))
    )
    current = {pid: (owner_id, acc) for pid, owner_id, acc in now}
    out = {}
    for pid, (owner_id, _) in last.items():
        live = current.get(pid)
        chosen = live[1] if live is not None and live[0] == owner_id else access.get(pid, Access.PRIVATE)
        out[pid] = Ref(pid, owner_id, chosen)
    return out


# --- operators ---------------------------------------------------------------------------------------------------


def referenced_blobs(session: Session) -> dict[str, str]:
    """sha256 -> what needs it, for fsck: every blob a history row (so some snapshot) may still serve."""
    named: dict[str, str] = {}
    for sha, basename, extra in session.execute(
        select(FileHistory.sha256, FileHistory.basename, FileHistory.extra)
    ):
        named.setdefault(sha, f"{basename} (snapshot history)")
        for name, value in (extra or {}).items():
            if isinstance(value, str):
                named.setdefault(value, f"{basename}: {name} (snapshot history)")
    return named


def prune(db: Database, before: int) -> int:
    """Forget files removed before serial `before`; snapshots older than it are refused from now on. Returns how
    many history rows went (their blobs become orphans that `packyard fsck --clean` removes)."""
    with db.write() as session:
        newest = current_serial(session)
        if before < 0 or before > newest + 1:
            raise BadRequest(f"--before {before} is not a serial up to the newest, {newest}")
        old = select(FileHistory.id).where(
            FileHistory.removed_serial.is_not(None), FileHistory.removed_serial <= before
        )
        # The children first: SQLite enforces ON DELETE CASCADE only when its foreign keys are switched on.
        session.execute(delete(FileLabelHistory).where(FileLabelHistory.history_id.in_(old)))
        session.execute(delete(FileYankHistory).where(FileYankHistory.history_id.in_(old)))
        gone = rowcount(session.execute(delete(FileHistory).where(FileHistory.id.in_(old))))
        session.add(SnapshotPrune(before_serial=before, removed_rows=gone))
        return gone


def prune_point(db: Database, text: str) -> int:
    """`--before SERIAL|TIME` as a serial: a time means the newest serial at or before it (files removed by then
    go; the snapshot at that time stays complete)."""
    serial, when = parse_point(text)
    if serial is not None:
        return serial
    assert when is not None
    with db.read() as session:
        found = session.scalar(select(func.max(Event.serial)).where(Event.at <= when))
    return found or 0
