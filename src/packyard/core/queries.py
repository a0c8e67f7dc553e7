"""Read-only lookups shared by every interface. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version
from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from packyard.core.errors import NotFound, unseen_package
from packyard.core.models import Account, Event, File, Label, Package, Release, package_key

_OWNER = select(Account).where(Account.login_key == bindparam("login_key"))
"""Built once: every routed request looks its owner up, and building the expression costs more than running it."""


def owner(session: Session, login: str) -> Account:
    account = session.scalar(_OWNER, {"login_key": login.lower()})
    if account is None:
        raise NotFound(f"user or organization {login!r} not found")
    return account


def package_query() -> Select[Package]:
    return select(Package).options(
        selectinload(Package.releases).selectinload(Release.files).selectinload(File.labels)
    )


def package(session: Session, login: str, name: str, *, with_labels: bool = True) -> Package:
    """The package with its releases and files; `with_labels=False` leaves each file's labels unloaded until read
    (the package page reads them for a few files only)."""
    query = (
        package_query()
        if with_labels
        else select(Package).options(
            selectinload(Package.releases).selectinload(Release.files).lazyload(File.labels)
        )
    )
    found = session.scalar(
        query.join(Package.owner).where(
            Account.login_key == login.lower(), Package.name_key == package_key(name)
        )
    )
    if found is None:
        raise unseen_package(f"{login}/{name}")
    return found


def release(pkg: Package, version: str) -> Release:
    for rel in pkg.releases:
        if rel.version == version:
            return rel
    raise NotFound(f"release {pkg.owner.login}/{pkg.name}/{version} not found")


def file(rel: Release, basename: str) -> File:
    for f in rel.files:
        if f.basename == basename:
            return f
    raise NotFound(f"file {rel.package.owner.login}/{rel.package.name}/{rel.version}/{basename} not found")


def package_file(pkg: Package, basename: str) -> File | None:
    """A basename is unique within a package across its releases (conda and PyPI filenames carry the version)."""
    for rel in pkg.releases:
        for f in rel.files:
            if f.basename == basename:
                return f
    return None


def labels(session: Session, owner_id: int) -> Sequence[Label]:
    return session.scalars(select(Label).where(Label.owner_id == owner_id).order_by(Label.name)).all()


def version_key(version: str) -> tuple[int, Version | str]:
    """Sort PEP 440-ish versions properly and anything else after them, lexically."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def latest_version(pkg: Package) -> str | None:
    versions = [r.version for r in pkg.releases if r.files] or [r.version for r in pkg.releases]
    return max(versions, key=version_key) if versions else None


def owner_id(session: Session, login: str) -> int:
    """The id of an account by login, or 0 (events name owners by login)."""
    return session.scalar(select(Account.id).where(Account.login_key == login.lower())) or 0


def named_exactly(name: str) -> ColumnElement[bool]:
    """The package (with an owner condition) whose name is exactly `name`, as events and the CLI give it.

    Looked up through both key rules so that a package still keyed by the old, lower-case rule (one of a name
    collision `packyard names check` lists) is never mistaken for the package whose key it collides with,
    e.g. while an administrator deletes one of the two.
    """
    return and_(Package.name_key.in_({package_key(name), name.lower()}), Package.name == name)


def package_named_exactly(session: Session, login: str, name: str) -> Package:
    found = session.scalar(
        package_query().join(Package.owner).where(Account.login_key == login.lower(), named_exactly(name))
    )
    if found is None:
        raise NotFound(f"no package of {login} is named exactly {name!r}")
    return found


@dataclass(frozen=True)
class NamedPackage:
    id: int
    name: str
    package_types: list[str]
    files: int


@dataclass(frozen=True)
class NameCollision:
    """Packages of one owner whose names share a key: left apart by migration 0008 for an administrator."""

    owner: str
    key: str
    packages: list[NamedPackage]


def stale_keys(session: Session) -> tuple[list[NameCollision], dict[int, str]]:
    """Name collisions, and the other packages whose stored key is not `package_key(name)` (id -> key).

    Read in Python because SQL has no portable way to collapse runs of '-_.'; it is one pass over the
    packages' names, done at start-up and by `packyard names check`.
    """
    files = select(func.count(File.id)).where(File.package_id == Package.id).scalar_subquery()
    rows = session.execute(
        select(Account.login, Package.id, Package.name, Package.name_key, Package.package_types, files)
        .join(Account, Account.id == Package.owner_id)
        .order_by(Account.login_key, Package.id)
    ).all()
    groups: dict[tuple[str, str], list[tuple[NamedPackage, str]]] = defaultdict(list)
    for login, pkg_id, name, stored, types, count in rows:
        groups[(login, package_key(name))].append(
            (NamedPackage(pkg_id, name, list(types or []), count), stored)
        )
    collisions = [
        NameCollision(login, key, [pkg for pkg, _ in members])
        for (login, key), members in groups.items()
        if len(members) > 1
    ]
    stale = {
        members[0][0].id: key
        for (_, key), members in groups.items()
        if len(members) == 1 and members[0][1] != key
    }
    return collisions, stale


def name_collisions(session: Session) -> list[NameCollision]:
    return stale_keys(session)[0]


def event_file(session: Session, event: Event) -> File | None:
    """The file an event is about (file.*, label.* events), while it still exists in the transaction."""
    return session.scalar(
        select(File)
        .join(Package, Package.id == File.package_id)
        .join(Account, Account.id == Package.owner_id)
        .where(
            Account.login_key == event.owner.lower(),
            named_exactly(event.package or ""),
            File.basename == event.basename,
        )
    )
