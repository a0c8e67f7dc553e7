"""conda's part of the one write path: keep records, shards and index generations in step with every event.

`on_event` runs inside the transaction that changes the data (see core.services.events), so the records and
shards a channel is built from are exactly the committed files, labels and access levels, with no background
work to lose. Each event touches only its own (owner, label, subdir) slices and, for shards, its package name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from packyard.core import db, indexes, queries
from packyard.core.errors import Conflict
from packyard.core.models import Event, Package
from packyard.formats.conda import index
from packyard.formats.conda.models import CondaMember, CondaRecord, CondaShard, CondaShardHead

FORMAT = "conda"
SUBDIR_PATTERN = r"noarch|[a-z0-9]+-[a-z0-9_]+"
SUBDIR = re.compile(SUBDIR_PATTERN)
"""A subdir as channel URLs name it (fullmatch)."""
CHANNEL_KEY = ""
"""The generation key of channel-wide documents (channeldata.json)."""


def on_event(session: Session, event: Event) -> None:
    kind = event.kind
    if kind in ("file.added", "file.removed", "label.added", "label.removed"):
        if event.data.get("package_type") != "conda" or not event.basename:
            return
        owner_id = queries.owner_id(session, event.owner)
        subdir = event.basename.split("/", 1)[0]
        labels = event.data.get("labels") or [event.data.get("label")]
        if kind == "file.added":
            _add_record(session, owner_id, event)
        file_id = _file_id(session, event)
        name = None
        if file_id is not None:
            name = session.scalar(select(CondaRecord.name).where(CondaRecord.file_id == file_id))
            _set_members(session, kind, owner_id, subdir, file_id, labels)
            if kind == "file.removed":
                session.execute(delete(CondaRecord).where(CondaRecord.file_id == file_id))
        for label in labels:
            touch(session, owner_id, label, subdir, name)
    elif kind == "access.changed":
        # Which slices show this package did not change, but who may see them did: new generations, new ETags.
        owner_id = queries.owner_id(session, event.owner)
        for label, subdir in _package_slices(session, owner_id, event.package or ""):
            _bump(session, owner_id, label, subdir)


def touch(session: Session, owner_id: int, label: str, subdir: str, name: str | None) -> None:
    """A slice changed: bump its generation (and the channel's) and rebuild the one affected shard."""
    _bump(session, owner_id, label, subdir)
    if name is not None:
        rebuild_shard(session, owner_id, label, subdir, name)


def _bump(session: Session, owner_id: int, label: str, subdir: str) -> None:
    indexes.bump(session, FORMAT, owner_id, label, subdir)
    indexes.bump(session, FORMAT, owner_id, label, CHANNEL_KEY)


def _file_id(session: Session, event: Event) -> int | None:
    f = queries.event_file(session, event)
    return f.id if f is not None else None


def _set_members(
    session: Session, kind: str, owner_id: int, subdir: str, file_id: int, labels: Iterable[str]
) -> None:
    """Keep `conda_members` equal to the file's labels: added with the file or a label, removed with either."""
    if kind == "file.removed":
        session.execute(delete(CondaMember).where(CondaMember.file_id == file_id))
    elif kind == "label.removed":
        session.execute(
            delete(CondaMember).where(
                CondaMember.owner_id == owner_id,
                CondaMember.label.in_(list(labels)),
                CondaMember.subdir == subdir,
                CondaMember.file_id == file_id,
            )
        )
    else:
        rows = [
            {"owner_id": owner_id, "label": label, "subdir": subdir, "file_id": file_id} for label in labels
        ]
        session.execute(db.insert(session, CondaMember).values(rows).on_conflict_do_nothing())


def _add_record(session: Session, owner_id: int, event: Event) -> None:
    f = queries.event_file(session, event)
    assert f is not None, "file.added is emitted after the file row is flushed"
    rec = index.record(f.attrs, md5=f.md5, sha256=f.sha256, size=f.size, uploaded=f.uploaded_at)
    session.merge(
        CondaRecord(
            file_id=f.id,
            owner_id=owner_id,
            package_id=f.package_id,
            subdir=f.basename.split("/", 1)[0],
            name=str(rec.get("name", "")),
            filename=f.basename.split("/", 1)[-1],
            record=index.dumps(rec),
        )
    )
    session.flush()


def slice_rows(
    session: Session, owner_id: int, label: str, subdir: str, package_ids: Iterable[int] | None = None
) -> list[index.Row]:
    """The records of one slice, optionally only of some packages."""
    query = (
        select(CondaRecord.name, CondaRecord.filename, CondaRecord.record)
        .join(CondaMember, CondaMember.file_id == CondaRecord.file_id)
        .where(CondaMember.owner_id == owner_id, CondaMember.label == label, CondaMember.subdir == subdir)
    )
    if package_ids is not None:
        query = query.where(CondaRecord.package_id.in_(list(package_ids)))
    return [index.Row(name, filename, record) for name, filename, record in session.execute(query)]


def rebuild_shard(session: Session, owner_id: int, label: str, subdir: str, name: str) -> None:
    rows = session.execute(
        # The name's few records by ix_conda_records_slice, each checked against the slice by primary key (as a
        # join, SQLite would walk the whole slice's membership for every shard).
        select(CondaRecord.package_id, CondaRecord.filename, CondaRecord.record).where(
            CondaRecord.owner_id == owner_id,
            CondaRecord.subdir == subdir,
            CondaRecord.name == name,
            exists().where(
                CondaMember.owner_id == owner_id,
                CondaMember.label == label,
                CondaMember.subdir == subdir,
                CondaMember.file_id == CondaRecord.file_id,
            ),
        )
    ).all()
    key = {"owner_id": owner_id, "label": label, "subdir": subdir, "name": name}
    if not rows:
        session.execute(delete(CondaShardHead).filter_by(**key))
        return
    package_ids = {row.package_id for row in rows}
    if len(package_ids) > 1:
        raise Conflict(f"the conda package name {name!r} is already used by another package of this owner")
    package_id = package_ids.pop()
    data = index.shard(index.Row(name, row.filename, row.record) for row in rows)
    sha = index.shard_sha256(data)
    session.execute(
        db.insert(session, CondaShard)
        .values(sha256=sha, owner_id=owner_id, package_id=package_id, data=data)
        .on_conflict_do_nothing()
    )
    head = session.get(CondaShardHead, (owner_id, label, subdir, name))
    if head is None:
        session.add(CondaShardHead(**key, package_id=package_id, sha256=sha))
    else:
        head.sha256 = sha
        head.package_id = package_id


def _package_slices(session: Session, owner_id: int, package: str) -> set[tuple[str, str]]:
    rows = session.execute(
        select(CondaMember.label, CondaMember.subdir)
        .join(CondaRecord, CondaRecord.file_id == CondaMember.file_id)
        .join(Package, Package.id == CondaRecord.package_id)
        .where(Package.owner_id == owner_id, queries.named_exactly(package))
    )
    return {(label, subdir) for label, subdir in rows}
