"""Packages, releases and files: the single path by which files are added, and their removal.

Every function is one transaction that also appends its events. Blobs are written (and made durable) before the
transaction that names them; a blob nobody names any more is removed by `packyard fsck --clean`, not inline, so a
concurrent upload of the same bytes can never lose its blob.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from packyard.core import formats, permissions, queries
from packyard.core.artifacts import Artifact
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict, Forbidden, NotFound
from packyard.core.mirrors.models import Mirror
from packyard.core.mirrors.upstream import redacted
from packyard.core.models import (
    Access,
    Account,
    AccountKind,
    File,
    GroupPackage,
    Label,
    Package,
    Release,
    package_key,
    utcnow,
)
from packyard.core.permissions import Permission
from packyard.core.services.events import emit
from packyard.core.services.orgs import list_into_writer_groups
from packyard.core.storage import BlobRef

_Row = TypeVar("_Row", Package, Release, File)

_PACKAGE_FIELDS = (
    "summary",
    "description",
    "license",
    "license_url",
    "license_family",
    "home",
    "dev_url",
    "doc_url",
    "source_git_url",
)


@dataclass
class PackageInfo:
    """What a client may say about a package when it creates or updates it."""

    summary: str | None = None
    description: str | None = None
    license: str | None = None
    license_url: str | None = None
    license_family: str | None = None
    home: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None
    source_git_url: str | None = None
    access: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def _from_artifact(info: PackageInfo, art: Artifact) -> PackageInfo:
    """A new package takes what the client did not say from its first file's own metadata."""
    return PackageInfo(
        summary=info.summary or art.summary,
        description=info.description or art.description,
        license=info.license or art.license,
        home=info.home or art.home,
    )


def validate_package_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}", name):
        raise BadRequest(
            f"{name!r} is not a valid package name: use letters, digits, '_', '.', '+' or '-' (at most 200)"
        )
    return name


def validate_version(version: str) -> str:
    if (
        not version
        or len(version) > 200
        or "/" in version
        or any(c.isspace() or ord(c) < 32 for c in version)
    ):
        raise BadRequest(f"{version!r} is not a valid version: no '/', whitespace or control characters")
    return version


def _apply(pkg: Package, info: PackageInfo) -> None:
    for name in _PACKAGE_FIELDS:
        value = getattr(info, name)
        if value is not None:
            setattr(pkg, name, value if name not in ("summary", "description") else str(value))
    if info.attrs:
        pkg.attrs = {**(pkg.attrs or {}), **info.attrs}


def _lock_owner(session: Session, owner: Account) -> Account:
    return session.get_one(Account, owner.id)


def _current(session: Session, model: type[_Row], row_id: int, what: str) -> _Row:
    """The row as it is inside this write transaction.

    Callers looked the row up in an earlier read; a concurrent request may have removed it since (four clients
    deleting the same release at once). Writers are serialised, so the losers find it gone here: a 404, as if
    they had come a moment later, instead of the ORM's NoResultFound (a 500).
    """
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{what} not found: it was removed by another request")
    return row


def create_package(db: Database, identity: Identity, owner: Account, name: str, info: PackageInfo) -> Package:
    validate_package_name(name)
    permissions.require(identity, Permission.WRITE, owner)
    access = info.access or Access.PUBLIC
    if access not in tuple(Access):
        raise BadRequest(f"access must be one of {', '.join(Access)}")
    with db.write() as session:
        refuse_first_party(session, identity, owner)
        if session.scalar(
            select(Package.id).where(Package.owner_id == owner.id, Package.name_key == package_key(name))
        ):
            raise Conflict(
                f"package {owner.login}/{name} already exists (names differing only in case or '-_.' are one)"
            )
        pkg = Package(
            owner_id=owner.id, name=name, name_key=package_key(name), access=access, package_types=[]
        )
        _apply(pkg, info)
        session.add(pkg)
        session.flush()
        _created(session, identity, owner, pkg)
    return pkg


def _created(session: Session, identity: Identity, owner: Account, pkg: Package) -> None:
    if owner.kind == AccountKind.ORG:
        list_into_writer_groups(session, identity, pkg)
    emit(session, "package.created", identity, owner.login, pkg.name, access=pkg.access)


@dataclass(frozen=True)
class PackageName:
    """Where a package is after a service changed it (a transfer moves it): what an edge needs to show it."""

    owner: str
    name: str


def _package(session: Session, identity: Identity, owner: str, name: str, *, exact: bool = False) -> Package:
    """The package OWNER/NAME as it is inside this write transaction, if the caller may see it.

    Looked up here, not by the edge, so that a package a concurrent request removed is a 404 (never a row from
    another session, nor a 500). READ is asked first, as every package URL does: who may not see a private
    package learns nothing more from a write to it. `exact`: by its exact name (`queries.named_exactly`, the
    CLI's rule while names collide), not by its key.
    """
    pkg = (
        queries.package_named_exactly(session, owner, name)
        if exact
        else queries.package(session, owner, name)
    )
    permissions.require(identity, Permission.READ, pkg)
    return pkg


def update_package(db: Database, identity: Identity, owner: str, name: str, info: PackageInfo) -> None:
    """Change what is said about OWNER/NAME and, when `info.access` differs, its access (one transaction)."""
    with db.write() as session:
        pkg = _package(session, identity, owner, name)
        permissions.require(identity, Permission.WRITE, pkg)
        if info.access is not None and info.access != pkg.access:
            _check_access(info.access)
            permissions.require(identity, Permission.ADMIN, pkg)
            _set_access_in(session, identity, [pkg], info.access)
        _apply(pkg, info)
        pkg.modified_at = utcnow()
        emit(session, "package.updated", identity, pkg.owner.login, pkg.name)


def _check_access(access: str) -> None:
    if access not in tuple(Access):
        raise BadRequest(f"access must be one of {', '.join(Access)}")


def set_access(db: Database, identity: Identity, owner: str, names: Sequence[str], access: str) -> None:
    """Change the access level of several packages of OWNER at once (all or nothing)."""
    with db.write() as session:
        pkgs = [_package(session, identity, owner, name) for name in names]
        _check_access(access)
        for pkg in pkgs:
            permissions.require(identity, Permission.ADMIN, pkg)
        _set_access_in(session, identity, pkgs, access)


def _set_access_in(session: Session, identity: Identity, pkgs: Sequence[Package], access: str) -> None:
    for pkg in pkgs:
        if pkg.access != access:
            emit(session, "access.changed", identity, pkg.owner.login, pkg.name, old=pkg.access, new=access)
            pkg.access = access
            pkg.modified_at = utcnow()


def delete_package(db: Database, identity: Identity, owner: str, name: str, *, exact: bool = False) -> None:
    """Remove OWNER/NAME with its releases and files (their blobs go at the next `fsck --clean`)."""
    with db.write() as session:
        pkg = _package(session, identity, owner, name, exact=exact)
        permissions.require(identity, Permission.ADMIN, pkg)
        remove_package_in(session, identity, pkg)


def remove_package_in(session: Session, identity: Identity, pkg: Package) -> str:
    """Delete a package the caller was allowed to delete, inside the caller's transaction, with the events a
    removal writes (one `file.removed` per file, so feeds and fsck see each blob go, then `package.removed`): the
    one way packages go, whether one at a time, in a batch, or with their owner's account."""
    for rel in pkg.releases:
        for f in rel.files:
            _emit_file_removed(session, identity, pkg, rel, f)
    login, pkg_name = pkg.owner.login, pkg.name
    session.delete(pkg)
    emit(session, "package.removed", identity, login, pkg_name)
    return pkg_name


def delete_packages(db: Database, identity: Identity, owner: str, names: Sequence[str]) -> list[str]:
    """Remove several packages of OWNER at once, all or nothing: one name the caller may not remove (or may not
    see) refuses the whole batch, naming it, and nothing is removed. Returns the names removed."""
    if not names:
        raise BadRequest("name at least one package to delete")
    with db.write() as session:
        pkgs: dict[int, Package] = {}
        for name in names:
            pkg = _package(session, identity, owner, name)
            permissions.require(identity, Permission.ADMIN, pkg)
            pkgs[pkg.id] = pkg  # a name given twice (or two spellings of one key) is one package
        return [remove_package_in(session, identity, pkg) for pkg in pkgs.values()]


def rekey(db: Database) -> int:
    """Give every package whose stored key predates `package_key` its key, unless that would merge it.

    Migration 0008 leaves colliding packages on their old keys; once an administrator has deleted or
    transferred one of them, the next start (or `packyard migrate`) keys the other. Returns how many changed.
    """
    with db.write() as session:
        _collisions, stale = queries.stale_keys(session)
        for pkg_id, key in stale.items():
            session.execute(update(Package).where(Package.id == pkg_id).values(name_key=key))
    return len(stale)


def transfer(
    db: Database, identity: Identity, owner: str, name: str, to: str, *, exact: bool = False
) -> PackageName:
    """Give OWNER/NAME to the owner TO, which the caller administers too; its files keep their labels' names."""
    with db.write() as session:
        row = _package(session, identity, owner, name, exact=exact)
        dest = queries.owner(session, to)
        permissions.require(identity, Permission.ADMIN, row)
        permissions.require(identity, Permission.ADMIN, dest)
        if dest.id == row.owner_id:
            raise BadRequest(f"{row.owner.login}/{row.name} already belongs to {dest.login}")
        if session.scalar(
            select(Package.id).where(Package.owner_id == dest.id, Package.name_key == package_key(row.name))
        ):
            raise Conflict(f"{dest.login} already has a package named {row.name}")
        files = [f for rel in row.releases for f in rel.files]
        _check_unlocked(session, files)
        old = row.owner.login
        labels = {f.id: [label.name for label in f.labels] for f in files}
        for f in files:
            _emit_file_removed(session, identity, row, f.release, f)
        session.execute(delete(GroupPackage).where(GroupPackage.package_id == row.id))
        row.owner_id = dest.id
        row.name_key = package_key(
            row.name
        )  # a package left on the old key by migration 0008 gets the new one
        row.modified_at = utcnow()
        session.flush()
        for f in files:
            f.labels = _get_labels(session, dest, labels[f.id], for_change=True)
            session.flush()
            emit(
                session,
                "file.added",
                identity,
                dest.login,
                row.name,
                f.release.version,
                f.basename,
                labels=labels[f.id],
                sha256=f.sha256,
                package_type=f.package_type,
            )
        emit(session, "package.transferred", identity, dest.login, row.name, old_owner=old)
        return PackageName(dest.login, row.name)


def create_release(
    db: Database,
    identity: Identity,
    pkg: Package,
    version: str,
    *,
    summary: str = "",
    description: str = "",
    announce: str | None = None,
    home: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> Release:
    validate_version(version)
    # An empty release touches no file of any type: a conda token may open 2.0 of a package with wheels too.
    permissions.require(identity, Permission.WRITE, pkg, types=())
    with db.write() as session:
        if session.scalar(select(Release.id).where(Release.package_id == pkg.id, Release.version == version)):
            raise Conflict(f"release {pkg.owner.login}/{pkg.name}/{version} already exists")
        rel = _new_release(session, identity, pkg, version)
        rel.summary, rel.description, rel.announce, rel.home = (
            summary or "",
            description or "",
            announce,
            home,
        )
        rel.attrs = attrs or {}
        _announced(session, identity, pkg, version, announce)
    return rel


ANNOUNCE_MAX = 2000
"""An announcement's text kept in its event (the release row keeps all of it)."""


def _announced(session: Session, identity: Identity, pkg: Package, version: str, text: str | None) -> None:
    """`announce` (anaconda-client's add_release) is news for the package's people: an event of its own, which the
    dashboards of the owner's members and the package's collaborators show with the text (ui/activity.py)."""
    if text and text.strip():
        emit(
            session,
            "release.announced",
            identity,
            pkg.owner.login,
            pkg.name,
            version,
            text=text.strip()[:ANNOUNCE_MAX],
        )


def _new_release(session: Session, identity: Identity, pkg: Package, version: str) -> Release:
    rel = Release(package_id=pkg.id, version=version, attrs={})
    session.add(rel)
    session.flush()
    emit(session, "release.created", identity, pkg.owner.login, pkg.name, version)
    return rel


def update_release(db: Database, identity: Identity, rel: Release, attrs: dict[str, Any]) -> None:
    with db.write() as session:
        row = _current(session, Release, rel.id, f"release {rel.version}")
        pkg = row.package
        permissions.require(identity, Permission.WRITE, pkg, types=_types(row.files))
        if attrs.get("announce") is not None and str(attrs["announce"]) != (row.announce or ""):
            _announced(session, identity, pkg, row.version, str(attrs["announce"]))
        for key in ("summary", "description", "announce", "home"):
            if key in attrs and attrs[key] is not None:
                setattr(row, key, str(attrs[key]))
        row.attrs = {
            **(row.attrs or {}),
            **{k: v for k, v in attrs.items() if k not in ("summary", "description")},
        }
        row.modified_at = utcnow()
        emit(session, "release.updated", identity, pkg.owner.login, pkg.name, rel.version)


def delete_release(db: Database, identity: Identity, rel: Release) -> None:
    with db.write() as session:
        row = _current(session, Release, rel.id, f"release {rel.version}")
        pkg = row.package
        permissions.require(identity, Permission.WRITE, pkg, types=_types(row.files))
        _check_unlocked(session, row.files)
        for f in row.files:
            _emit_file_removed(session, identity, pkg, row, f)
        session.delete(row)
        emit(session, "release.removed", identity, pkg.owner.login, pkg.name, rel.version)
        _touch(session, pkg.id)


@dataclass(frozen=True)
class NewFile:
    """A file ready to be added: the server's own parse of it and its durable blob."""

    artifact: Artifact
    blob: BlobRef
    labels: Sequence[str] = ("main",)
    description: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    """Side documents already stored as blobs: name -> sha256."""


def add_file(
    db: Database,
    identity: Identity,
    owner: Account,
    new: NewFile,
    *,
    package_name: str | None = None,
    version: str | None = None,
    replace: bool = False,
    create_package: bool = True,
    package_info: PackageInfo | None = None,
    via: str = "api",
) -> File:
    """The one way a file enters Packyard (REST stage/commit, twine, curl, copy all end here).

    `package_name`/`version` are what the URL says; they must agree with what the file says.
    """
    with db.write() as session:
        return add_file_in(
            session,
            identity,
            owner,
            new,
            package_name=package_name,
            version=version,
            replace=replace,
            create_package=create_package,
            package_info=package_info,
            via=via,
        )


def add_file_in(
    session: Session,
    identity: Identity,
    owner: Account,
    new: NewFile,
    *,
    package_name: str | None = None,
    version: str | None = None,
    replace: bool = False,
    create_package: bool = True,
    package_info: PackageInfo | None = None,
    via: str = "api",
) -> File:
    """`add_file` inside the caller's write transaction: a service adding several files (copy) adds them all or
    none. Only services call it, with a session from `db.write()`."""
    art = new.artifact
    name = art.name
    if package_name is not None and package_key(package_name) != package_key(name):
        raise BadRequest(f"the file is package {name!r} but the upload is for package {package_name!r}")
    if version is not None and version != art.version:
        raise BadRequest(f"the file is version {art.version!r} but the upload is for version {version!r}")
    if package_name is not None:
        name = package_name
    validate_package_name(name)
    validate_version(art.version)
    labels = _validate_labels(new.labels)
    refuse_first_party(session, identity, owner)
    pkg = session.scalar(
        select(Package).where(Package.owner_id == owner.id, Package.name_key == package_key(name))
    )
    if pkg is None:
        permissions.require(identity, Permission.WRITE, owner, via=via, types=[art.package_type])
        if not create_package:
            raise NotFound(f"package {owner.login}/{name} not found")
        pkg = Package(
            owner_id=owner.id,
            name=name,
            name_key=package_key(name),
            package_types=[],
            access=Access.PUBLIC,
        )
        info = package_info or PackageInfo()
        _apply(pkg, info)
        _apply(pkg, _from_artifact(info, art))
        pkg.access = info.access or Access.PUBLIC
        session.add(pkg)
        session.flush()
        _created(session, identity, owner, pkg)
    else:
        permissions.require(identity, Permission.WRITE, pkg, via=via, types=[art.package_type])
    same_name = select(File).where(File.package_id == pkg.id, File.basename == art.basename)
    if formats.basename_per_release(art.package_type):
        same_name = same_name.join(Release, Release.id == File.release_id).where(
            Release.version == art.version
        )
    existing = session.scalar(same_name)
    if existing is not None:
        if not replace:
            raise Conflict(
                f"{owner.login}/{pkg.name}/{existing.release.version}/{art.basename} already exists; "
                "remove it first or upload with --force"
            )
        _check_unlocked(session, [existing])
        _emit_file_removed(session, identity, pkg, existing.release, existing)
        session.delete(existing)
        session.flush()
    rel = session.scalar(select(Release).where(Release.package_id == pkg.id, Release.version == art.version))
    if rel is None:
        rel = _new_release(session, identity, pkg, art.version)
        rel.summary = art.summary or ""
        rel.description = art.description or ""
    label_rows = _get_labels(session, owner, labels, for_change=True)
    f = File(
        package_id=pkg.id,
        release_id=rel.id,
        basename=art.basename,
        package_type=art.package_type,
        size=new.blob.size,
        md5=new.blob.md5,
        sha256=new.blob.sha256,
        description=new.description,
        attrs=art.attrs,
        dependencies=art.dependencies,
        extra=dict(new.extra),
        uploader_id=identity.account.id if identity.account else None,
        labels=label_rows,
    )
    session.add(f)
    if art.package_type not in pkg.package_types:
        pkg.package_types = [*pkg.package_types, art.package_type]
    if not pkg.summary and art.summary:
        pkg.summary = art.summary
    pkg.modified_at = utcnow()
    session.flush()
    emit(
        session,
        "file.added",
        identity,
        owner.login,
        pkg.name,
        art.version,
        art.basename,
        labels=labels,
        sha256=new.blob.sha256,
        package_type=art.package_type,
    )
    return f


def _types(files: Iterable[File]) -> set[str]:
    """The package types a change to these files concerns: a token's scopes must cover each of them."""
    return {f.package_type for f in files}


def remove_file(db: Database, identity: Identity, f: File) -> None:
    with db.write() as session:
        remove_file_in(session, identity, f.id, f.basename)


def remove_file_in(session: Session, identity: Identity, file_id: int, basename: str = "") -> None:
    """`remove_file` inside the caller's write transaction (the Files tab deletes several files, or none)."""
    row = session.get(File, file_id)
    if row is None:
        raise NotFound(f"file {basename or file_id} not found")
    pkg = row.release.package
    permissions.require(identity, Permission.WRITE, pkg, types=[row.package_type])
    _check_unlocked(session, [row])
    _emit_file_removed(session, identity, pkg, row.release, row)
    session.delete(row)
    _touch(session, pkg.id)


def _emit_file_removed(session: Session, identity: Identity, pkg: Package, rel: Release, f: File) -> None:
    emit(
        session,
        "file.removed",
        identity,
        pkg.owner.login,
        pkg.name,
        rel.version,
        f.basename,
        labels=[label.name for label in f.labels],
        sha256=f.sha256,
        package_type=f.package_type,
    )


def _touch(session: Session, package_id: int) -> None:
    session.execute(update(Package).where(Package.id == package_id).values(modified_at=utcnow()))


def refuse_first_party(session: Session, identity: Identity, owner: Account) -> None:
    """A mirror's owner takes files from its upstream only (core/mirrors): every other writer is refused here, in
    the one write path, naming the upstream; the mirror's own fetcher passes."""
    if permissions.is_mirror_fetcher(identity, owner):
        return
    row = session.scalar(select(Mirror).where(Mirror.account_id == owner.id).order_by(Mirror.format))
    if row is not None:
        raise Forbidden(
            f"{owner.login} is a mirror of {redacted(row.upstream)} ({row.format}): its packages come from there "
            "only; upload to another owner"
        )


def _check_unlocked(session: Session, files: Iterable[File]) -> None:
    for f in files:
        for label in f.labels:
            if label.is_locked:
                raise Conflict(f"label {label.name!r} is locked; unlock it before changing its files")


def _validate_labels(labels: Sequence[str]) -> list[str]:
    out = sorted(set(labels or ())) or ["main"]
    for label in out:
        validate_label(label)
    return out


def validate_label(label: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", label):
        raise BadRequest(f"{label!r} is not a valid label: letters, digits, '_', '.' and '-' only")
    return label


def _get_labels(session: Session, owner: Account, names: Sequence[str], *, for_change: bool) -> list[Label]:
    rows = []
    for name in names:
        label = session.scalar(select(Label).where(Label.owner_id == owner.id, Label.name == name))
        if label is None:
            label = Label(owner_id=owner.id, name=name)
            session.add(label)
            session.flush()
        elif for_change and label.is_locked:
            raise Conflict(f"label {name!r} is locked; unlock it before adding files to it")
        rows.append(label)
    return rows


def set_yanked(db: Database, identity: Identity, f: File, yanked: bool, reason: str | None = None) -> None:
    """PEP 592: a yanked file stays downloadable, but installers skip it unless it is pinned exactly."""
    with db.write() as session:
        row = _current(session, File, f.id, f"file {f.basename}")
        pkg = row.release.package
        permissions.require(identity, Permission.WRITE, pkg, types=[row.package_type])
        row.attrs = {**(row.attrs or {}), "yanked": yanked, "yanked_reason": reason if yanked else None}
        emit(
            session,
            "file.yanked",
            identity,
            pkg.owner.login,
            pkg.name,
            row.release.version,
            row.basename,
            yanked=yanked,
            reason=reason if yanked else None,
            package_type=row.package_type,
        )
