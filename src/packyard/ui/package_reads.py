"""What the package page shows, read with SQL: counts and sums as aggregates, the ten newest files with LIMIT, the
latest version per label from the distinct (label, version) pairs, the notebook/environment/project sections from
the files of their own type.

Why not `core.queries.package`: that loads the whole release -> file graph, which the protocol indexes need but a
page showing ten files does not. With 200 files the graph cost the page 32 ms of its 47 (docs/benchmarks.md, "Web
pages"); here the page's reads grow with the number of versions and labels, not with the number of files.
Versions compare as versions (PEP 440 / conda order), which SQL cannot do, so "latest" is picked in Python from the
distinct version strings only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, joinedload

from packyard.core import auth, permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Account, File, FileLabel, Label, Package, Release, package_key

RECENT_FILES = 10


def visible_package(
    session: Session, ident: Identity, owner: str, name: str, *, with_files: bool = False
) -> Package:
    """The package, or the same 404 whether it does not exist or the caller may not know that it does.

    Without `with_files` only the package row (and its owner) is read; the pages read the files they show with
    SQL. `with_files` loads the whole graph, for code that walks it (badges' platforms, the download route).
    """
    missing = NotFound(f"package {owner}/{name} not found")
    if owner.lower() in auth.reserved_logins():  # a format registered after the page routes were built
        raise missing
    if with_files:
        try:
            pkg = queries.package(session, owner, name)
        except NotFound:
            raise missing from None
    else:
        found = session.scalar(
            select(Package)
            .options(joinedload(Package.owner))
            .join(Account, Account.id == Package.owner_id)
            .where(Account.login_key == owner.lower(), Package.name_key == package_key(name))
        )
        if found is None:
            raise missing
        pkg = found
    if not permissions.can_see(ident, pkg, via="web"):
        raise missing
    return pkg


@dataclass(frozen=True)
class Facts:
    """The numbers and lists of the package page's overview."""

    latest: str | None
    per_label: list[tuple[str, str]]
    """(label, its highest version), `main` first."""
    types: list[str]
    downloads: int
    nfiles: int
    nversions: int
    latest_files: list[tuple[str, str]]
    """(version, basename) of the latest version's files: the install lines name them."""
    recent_files: list[RecentFile]


def facts(session: Session, pkg: Package) -> Facts:
    nfiles, downloads = session.execute(
        select(func.count(File.id), func.coalesce(func.sum(File.ndownloads), 0)).where(
            File.package_id == pkg.id
        )
    ).one()
    versions = list(session.scalars(select(Release.version).where(Release.package_id == pkg.id)))
    latest = latest_version(session, pkg, versions)
    types = list(pkg.package_types) or sorted(
        session.scalars(select(File.package_type).distinct().where(File.package_id == pkg.id)).all()
    )
    latest_files = (
        [
            (latest, basename)
            for basename in session.scalars(
                select(File.basename)
                .join(Release, Release.id == File.release_id)
                .where(File.package_id == pkg.id, Release.version == latest)
                .order_by(File.basename)
            )
        ]
        if latest is not None
        else []
    )
    return Facts(
        latest=latest,
        per_label=sorted(
            latest_per_label(session, pkg).items(), key=lambda item: (item[0] != "main", item[0])
        ),
        types=types,
        downloads=int(downloads),
        nfiles=int(nfiles),
        nversions=len(versions),
        latest_files=latest_files,
        recent_files=recent_files(session, pkg),
    )


def latest_version(session: Session, pkg: Package, versions: list[str] | None = None) -> str | None:
    """`queries.latest_version` without the graph: the highest version that has a file, else the highest one."""
    with_files = session.scalars(
        select(Release.version).where(
            Release.package_id == pkg.id, exists().where(File.release_id == Release.id)
        )
    ).all()
    if versions is None and not with_files:
        versions = list(session.scalars(select(Release.version).where(Release.package_id == pkg.id)))
    candidates = with_files or versions or []
    return max(candidates, key=queries.version_key) if candidates else None


def latest_per_label(session: Session, pkg: Package) -> dict[str, str]:
    """Label name -> the highest version with a file in it, from the distinct (label, version) pairs."""
    pairs = session.execute(
        select(Label.name, Release.version)
        .distinct()
        .join(FileLabel, FileLabel.label_id == Label.id)
        .join(File, File.id == FileLabel.file_id)
        .join(Release, Release.id == File.release_id)
        .where(File.package_id == pkg.id)
    ).all()
    per_label: dict[str, str] = {}
    for label, version in pairs:
        current = per_label.get(label)
        if current is None or queries.version_key(version) > queries.version_key(current):
            per_label[label] = version
    return per_label


@dataclass(frozen=True)
class RecentFile:
    basename: str
    version: str
    labels: list[str]
    size: int
    uploaded_at: dt.datetime


def recent_files(session: Session, pkg: Package, limit: int = RECENT_FILES) -> list[RecentFile]:
    """The newest files (by upload) as the page lists them: plain rows, no ORM objects (a file row carries its
    metadata JSON, which the list does not show)."""
    rows = session.execute(
        select(File.id, File.basename, Release.version, File.size, File.uploaded_at)
        .join(Release, Release.id == File.release_id)
        .where(File.package_id == pkg.id)
        .order_by(File.uploaded_at.desc(), File.id.desc())
        .limit(limit)
    ).all()
    by_file: dict[int, list[str]] = {row[0]: [] for row in rows}
    if by_file:
        for file_id, name in session.execute(
            select(FileLabel.file_id, Label.name)
            .join(Label, Label.id == FileLabel.label_id)
            .where(FileLabel.file_id.in_(list(by_file)))
            .order_by(Label.name)
        ):
            by_file[file_id].append(name)
    return [
        RecentFile(basename, version, by_file[fid], size, at) for fid, basename, version, size, at in rows
    ]


def files_of(session: Session, pkg: Package, package_type: str) -> list[tuple[Release, File]]:
    """The package's files of one type, newest version first, the most recent upload first within one version:
    the order `formats.serving.pick` uses for "the latest" (the /notebooks and /envs URLs)."""
    pairs = [
        (rel, f)
        for f, rel in session.execute(
            select(File, Release)
            .join(Release, Release.id == File.release_id)
            .options(joinedload(File.uploader))
            .where(File.package_id == pkg.id, File.package_type == package_type)
        ).all()
    ]
    return sorted(
        pairs,
        key=lambda pair: (queries.version_key(pair[0].version), pair[1].uploaded_at, pair[1].id),
        reverse=True,
    )


def has_version(session: Session, pkg: Package, version: str) -> bool:
    return (
        session.scalar(select(Release.id).where(Release.package_id == pkg.id, Release.version == version))
        is not None
    )


def first_pypi_core(session: Session, pkg: Package) -> dict[str, object] | None:
    """The core metadata of the first wheel or sdist of the oldest release whose description is the package's:
    where PyPI says which format the description is in (`views.description_type`)."""
    if not pkg.description:
        return None
    attrs = session.scalar(
        select(File.attrs)
        .join(Release, Release.id == File.release_id)
        .where(
            Release.package_id == pkg.id,
            Release.description == pkg.description,
            File.package_type == "pypi",
        )
        .order_by(Release.created_at, Release.id, File.uploaded_at, File.id)
        .limit(1)
    )
    if attrs is None:
        return None
    core = (attrs or {}).get("core")
    return core if isinstance(core, dict) else {}
