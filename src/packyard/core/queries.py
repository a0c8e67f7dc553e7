"""Read-only lookups shared by every interface. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence

from packaging.version import InvalidVersion, Version
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from packyard.core.errors import NotFound
from packyard.core.models import Account, Event, File, Label, Package, Release


def owner(session: Session, login: str) -> Account:
    account = session.scalar(select(Account).where(Account.login_key == login.lower()))
    if account is None:
        raise NotFound(f"user or organization {login!r} not found")
    return account


def package_query() -> Select[tuple[Package]]:
    return select(Package).options(
        selectinload(Package.releases).selectinload(Release.files).selectinload(File.labels)
    )


def package(session: Session, login: str, name: str) -> Package:
    found = session.scalar(
        package_query()
        .join(Package.owner)
        .where(Account.login_key == login.lower(), Package.name_key == name.lower())
    )
    if found is None:
        raise NotFound(f"package {login}/{name} not found")
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


def event_file(session: Session, event: Event) -> File | None:
    """The file an event is about (file.*, label.* events), while it still exists in the transaction."""
    return session.scalar(
        select(File)
        .join(Package, Package.id == File.package_id)
        .join(Account, Account.id == Package.owner_id)
        .where(
            Account.login_key == event.owner.lower(),
            Package.name_key == (event.package or "").lower(),
            File.basename == event.basename,
        )
    )
