"""Labels (the REST API calls them channels): per owner, attached to files, lockable.

A locked label refuses every change: adding or removing files, copying into it, removing it.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict, NotFound
from packyard.core.models import Account, File, FileLabel, Label, Package, Release, package_key
from packyard.core.permissions import Permission
from packyard.core.services.events import emit
from packyard.core.services.packages import validate_label


def _label(session: Session, owner: Account, name: str, *, create: bool = False) -> Label:
    label = session.scalar(select(Label).where(Label.owner_id == owner.id, Label.name == name))
    if label is None:
        if not create:
            raise NotFound(f"label {owner.login}/{name} not found")
        validate_label(name)
        label = Label(owner_id=owner.id, name=name)
        session.add(label)
        session.flush()
    return label


def _unlocked(label: Label) -> Label:
    if label.is_locked:
        raise Conflict(f"label {label.name!r} is locked; unlock it first")
    return label


def _require_files(
    identity: Identity, owner: Account, files: list[File], spec: tuple[str | None, ...]
) -> None:
    """Labelling named files needs write access to their packages; a whole label needs the namespace."""
    if not any(spec):
        permissions.require(identity, Permission.ADMIN, owner)
        return
    for pkg in {f.package_id: f.release.package for f in files}.values():
        types = {f.package_type for f in files if f.package_id == pkg.id}
        permissions.require(identity, Permission.WRITE, pkg, types=types)


def _matching_files(
    session: Session, owner: Account, package: str | None, version: str | None, basename: str | None
) -> list[File]:
    query = (
        select(File).join(Release, File.release_id == Release.id).join(Package, File.package_id == Package.id)
    )
    query = query.where(Package.owner_id == owner.id)
    if package:
        query = query.where(Package.name_key == package_key(package))
    if version:
        query = query.where(Release.version == version)
    if basename:
        query = query.where(File.basename == basename)
    files = list(session.scalars(query.order_by(File.id)))
    if (package or version or basename) and not files:
        spec = "/".join(x for x in (owner.login, package, version, basename) if x)
        raise NotFound(f"no files match {spec}")
    return files


def _emit(
    session: Session, kind: str, identity: Identity, owner: Account, label: str, files: list[File]
) -> None:
    for f in files:
        emit(
            session,
            kind,
            identity,
            owner.login,
            f.release.package.name,
            f.release.version,
            f.basename,
            label=label,
            package_type=f.package_type,
        )


def add_label(
    db: Database,
    identity: Identity,
    owner: Account,
    name: str,
    package: str | None = None,
    version: str | None = None,
    basename: str | None = None,
) -> int:
    """Put label `name` on the matching files (all of the owner's files when nothing is given)."""
    with db.write() as session:
        return add_label_in(session, identity, owner, name, package, version, basename)


def add_label_in(
    session: Session,
    identity: Identity,
    owner: Account,
    name: str,
    package: str | None = None,
    version: str | None = None,
    basename: str | None = None,
) -> int:
    """`add_label` inside the caller's write transaction (copy labels several files at once, or none)."""
    matched = _matching_files(session, owner, package, version, basename)
    _require_files(identity, owner, matched, (package, version, basename))
    label = _unlocked(_label(session, owner, name, create=True))
    files = [f for f in matched if label not in f.labels]
    for f in files:
        session.add(FileLabel(file_id=f.id, label_id=label.id))
    if files:
        session.flush()
        for f in files:
            session.expire(f, ["labels"])  # the next change in this transaction reads them again
    _emit(session, "label.added", identity, owner, name, files)
    return len(files)


def remove_label(
    db: Database,
    identity: Identity,
    owner: Account,
    name: str,
    package: str | None = None,
    version: str | None = None,
    basename: str | None = None,
) -> None:
    """Take label `name` off the matching files; with nothing given, remove the label altogether."""
    with db.write() as session:
        remove_label_in(session, identity, owner, name, package, version, basename)


def remove_label_in(
    session: Session,
    identity: Identity,
    owner: Account,
    name: str,
    package: str | None = None,
    version: str | None = None,
    basename: str | None = None,
) -> int:
    """`remove_label` inside the caller's write transaction (the Files tab's batches: all files or none)."""
    matched = _matching_files(session, owner, package, version, basename)
    _require_files(identity, owner, matched, (package, version, basename))
    label = _unlocked(_label(session, owner, name))
    every = not (package or version or basename)
    files = [f for f in matched if label in f.labels]
    ids = [f.id for f in files]
    if ids:
        session.execute(delete(FileLabel).where(FileLabel.label_id == label.id, FileLabel.file_id.in_(ids)))
        for f in files:
            session.expire(f, ["labels"])  # the next change in this transaction reads them again
    _emit(session, "label.removed", identity, owner, name, files)
    if every:
        session.delete(label)
    return len(files)


def copy_label(db: Database, identity: Identity, owner: Account, source: str, target: str) -> int:
    if source == target:
        raise BadRequest("source and target label are the same")
    permissions.require(identity, Permission.ADMIN, owner)
    with db.write() as session:
        src = _label(session, owner, source)
        dst = _unlocked(_label(session, owner, target, create=True))
        files = _files_with(session, src)
        files = [f for f in files if dst not in f.labels]
        for f in files:
            session.add(FileLabel(file_id=f.id, label_id=dst.id))
        _emit(session, "label.added", identity, owner, target, files)
        return len(files)


def rename_label(db: Database, identity: Identity, owner: Account, source: str, target: str) -> None:
    """Move every file of `source` to `target` and remove `source` (the `label --rename` of the UI and API)."""
    if source == target:
        raise BadRequest("source and target label are the same")
    permissions.require(identity, Permission.ADMIN, owner)
    with db.write() as session:
        src = _unlocked(_label(session, owner, source))
        dst = _unlocked(_label(session, owner, target, create=True))
        files = _files_with(session, src)
        for f in files:
            if dst not in f.labels:
                session.add(FileLabel(file_id=f.id, label_id=dst.id))
        session.execute(delete(FileLabel).where(FileLabel.label_id == src.id))
        _emit(session, "label.added", identity, owner, target, files)
        _emit(session, "label.removed", identity, owner, source, files)
        session.delete(src)


def set_locked(db: Database, identity: Identity, owner: Account, name: str, locked: bool) -> None:
    permissions.require(identity, Permission.ADMIN, owner)
    with db.write() as session:
        label = _label(session, owner, name)
        if label.is_locked != locked:
            label.is_locked = locked
            emit(session, "label.locked" if locked else "label.unlocked", identity, owner.login, label=name)


def _files_with(session: Session, label: Label) -> list[File]:
    return list(
        session.scalars(select(File).join(FileLabel).where(FileLabel.label_id == label.id).order_by(File.id))
    )
