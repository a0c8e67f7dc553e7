"""What the channel and label pages read: an owner's labels and the packages in one, as the caller may see them.

A label (anaconda.org calls it a channel: `OWNER/label/dev`) is not access-controlled itself; what the caller may
see of it is what `core.permissions` lets them see of the packages whose files carry it. So a label whose files
all belong to packages hidden from the caller is not listed, counted or shown to them (the same 404 as a label
that does not exist), unless they may write in the namespace (they manage its labels, as the REST API's
`GET /api/channels/OWNER` lets them). `main` is always listed: it is the bare channel `BASE/OWNER`.

The pages must stay fast for an owner with thousands of packages, so visibility is one WHERE clause:
`permissions.can_see_clause`, `can_see` for every package at once (tests/unit/core/test_visibility_sql.py proves
they agree).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Access, Account, File, FileLabel, Label, Package, Release
from packyard.ui import memo

MAIN = "main"
VIA = "web"


def _visible(ident: Identity, owner_id: int) -> ColumnElement[bool]:
    """A WHERE clause on `Package` keeping the owner's packages the caller may see (core.permissions)."""
    return and_(Package.owner_id == owner_id, permissions.can_see_clause(ident, via=VIA))


def _manages(ident: Identity, owner: Account) -> bool:
    """Namespace writers see every label, empty or not, as they may put files in any of them."""
    return permissions.can(ident, permissions.Permission.WRITE, owner, via=VIA)


def _label_rows(session: Session, owner: Account) -> tuple[int, int]:
    """How many labels the owner has and the newest one's id: part of the cache keys below, because creating or
    removing an empty label changes what a namespace writer sees but moves no file, so it need not write an event."""
    count, newest = session.execute(
        select(func.count(Label.id), func.coalesce(func.max(Label.id), 0)).where(Label.owner_id == owner.id)
    ).one()
    return int(count), int(newest)


@dataclass(frozen=True)
class LabelInfo:
    """One label as the labels page shows it: only what the caller may see is counted."""

    name: str
    is_locked: bool
    packages: int
    files: int
    updated: dt.datetime | None


def labels(session: Session, ident: Identity, owner: Account) -> list[LabelInfo]:
    """Every label of `owner` the caller may know of, `main` first, with counts of what they may see in it;
    cached until the next change (counting reads every labelled file of the owner)."""
    manages = _manages(ident, owner)
    key = ("labels", owner.id, _label_rows(session, owner), permissions.visibility(ident, via=VIA), manages)
    return memo.cached(session, key, lambda: _labels(session, ident, owner, manages))


def _labels(session: Session, ident: Identity, owner: Account, manages: bool) -> list[LabelInfo]:
    rows = session.execute(
        select(Label.id, Label.name, Label.is_locked).where(Label.owner_id == owner.id)
    ).all()
    counts = {
        label_id: (npackages, nfiles, updated)
        for label_id, npackages, nfiles, updated in session.execute(
            select(
                FileLabel.label_id,
                func.count(func.distinct(File.package_id)),
                func.count(File.id),
                func.max(File.uploaded_at),
            )
            .join(File, File.id == FileLabel.file_id)
            .join(Package, Package.id == File.package_id)
            .join(Label, Label.id == FileLabel.label_id)
            .where(Label.owner_id == owner.id, Package.owner_id == owner.id, _visible(ident, owner.id))
            .group_by(FileLabel.label_id)
        )
    }
    out = []
    for label_id, name, locked in rows:
        npackages, nfiles, updated = counts.get(label_id, (0, 0, None))
        if nfiles or manages or name == MAIN:
            out.append(LabelInfo(name, locked, npackages, nfiles, updated))
    if not any(info.name == MAIN for info in out):
        out.append(LabelInfo(MAIN, False, 0, 0, None))  # the bare channel exists before any upload
    return sorted(out, key=lambda info: (info.name != MAIN, info.name.lower()))


@dataclass(frozen=True)
class LabelManagement:
    """What the labels page offers a caller who may manage the owner's labels (ui/label_actions.py)."""

    packages: list[str]
    """The owner's package names (at most 1,000), offered when creating a label on a package's files."""


def label_management(session: Session, ident: Identity, owner: Account) -> LabelManagement | None:
    """None unless `core.permissions` lets the caller manage the owner's labels (ADMIN on the namespace)."""
    if not permissions.can(ident, permissions.Permission.ADMIN, owner, via=VIA):
        return None
    names = session.scalars(
        select(Package.name).where(Package.owner_id == owner.id).order_by(Package.name_key).limit(1000)
    ).all()
    return LabelManagement(list(names))


def label_names(session: Session, ident: Identity, owner: Account) -> list[str]:
    """The names `labels` lists, without counting: one EXISTS per label, cached until the next change (the owner,
    package, label and channel pages show this channel menu on every request)."""
    manages = _manages(ident, owner)
    key = (
        "label-names",
        owner.id,
        _label_rows(session, owner),
        permissions.visibility(ident, via=VIA),
        manages,
    )
    return memo.cached(session, key, lambda: _label_names(session, ident, owner, manages))


def _label_names(session: Session, ident: Identity, owner: Account, manages: bool) -> list[str]:
    has_visible_file = (
        select(FileLabel.file_id)
        .join(File, File.id == FileLabel.file_id)
        .join(Package, Package.id == File.package_id)
        .where(FileLabel.label_id == Label.id, _visible(ident, owner.id))
        .exists()
    )
    query = select(Label.name).where(Label.owner_id == owner.id)
    if not manages:
        query = query.where(or_(Label.name == MAIN, has_visible_file))
    names = set(session.scalars(query)) | {MAIN}
    return sorted(names, key=lambda name: (name != MAIN, name.lower()))


@dataclass(frozen=True)
class InChannel:
    """A package as the channel page lists it: what of it carries the label."""

    name: str
    summary: str
    access: str
    files: int
    latest: str
    types: list[str]
    platforms: list[str]
    updated: dt.datetime


@dataclass(frozen=True)
class ChannelPage:
    owner: Account
    label: str
    is_locked: bool
    packages: list[InChannel]
    total: int
    page: int
    pages: int
    types: set[str] = field(default_factory=set)
    """Every file type in the label the caller may see (not only this page's): which install lines apply."""
    any_private: bool = False
    """Whether a package the caller sees in the label is not public: its URLs then need a token."""


@dataclass(frozen=True)
class _Listing:
    packages: list[InChannel]
    total: int
    page: int
    pages: int
    types: set[str]
    any_private: bool


def channel(
    session: Session, ident: Identity, login: str, label: str, *, page: int, per_page: int = 50
) -> ChannelPage:
    """The packages in `login`'s `label` the caller may see; the same 404 for a missing label and a hidden one.
    The listing (an aggregate over every file in the label) is cached until the next change."""
    owner = queries.owner(session, login)
    row = session.scalar(select(Label).where(Label.owner_id == owner.id, Label.name == label))
    if row is None and label != MAIN:
        raise NotFound(f"label {owner.login}/{label} not found")
    manages = _manages(ident, owner)
    visibility = permissions.visibility(ident, via=VIA)
    key = ("channel", owner.id, row.id if row is not None else 0, visibility, manages, page, per_page)
    found = memo.cached(session, key, lambda: _listing(session, ident, owner, row, page, per_page))
    if not found.total and label != MAIN and not manages:
        raise NotFound(f"label {owner.login}/{label} not found")
    return ChannelPage(
        owner,
        label,
        row.is_locked if row is not None else False,
        found.packages,
        found.total,
        found.page,
        found.pages,
        found.types,
        found.any_private,
    )


def _listing(
    session: Session, ident: Identity, owner: Account, row: Label | None, page: int, per_page: int
) -> _Listing:
    visible = _visible(ident, owner.id)
    listed = (
        session.execute(
            select(
                Package.id,
                Package.name,
                Package.summary,
                Package.access,
                func.count(File.id),
                func.max(File.uploaded_at),
            )
            .join(File, File.package_id == Package.id)
            .join(FileLabel, FileLabel.file_id == File.id)
            .where(Package.owner_id == owner.id, FileLabel.label_id == row.id, visible)
            .group_by(Package.id, Package.name, Package.summary, Package.access, Package.name_key)
            .order_by(Package.name_key)
        ).all()
        if row is not None
        else []
    )
    pages = max(1, -(-len(listed) // per_page))
    page = min(max(page, 1), pages)
    shown = listed[(page - 1) * per_page : page * per_page]
    details = _files_of(session, row.id, [item.id for item in shown]) if row is not None else {}
    types: set[str] = set()
    if row is not None:
        types = set(
            session.scalars(
                select(File.package_type)
                .join(FileLabel, FileLabel.file_id == File.id)
                .join(Package, Package.id == File.package_id)
                .where(FileLabel.label_id == row.id, visible)
                .distinct()
            )
        )
    packages = []
    for pkg_id, name, summary, access, nfiles, updated in shown:
        versions, kinds, platforms = details.get(pkg_id, ([], set(), set()))
        latest = max(versions, key=queries.version_key) if versions else ""
        packages.append(
            InChannel(name, summary or "", access, nfiles, latest, sorted(kinds), sorted(platforms), updated)
        )
    any_private = any(access != Access.PUBLIC for _, _, _, access, _, _ in listed)
    return _Listing(packages, len(listed), page, pages, types, any_private)


def _files_of(
    session: Session, label_id: int, package_ids: list[int]
) -> dict[int, tuple[list[str], set[str], set[str]]]:
    """Per package of one page: the versions, file types and conda subdirs of its files in the label."""
    out: dict[int, tuple[list[str], set[str], set[str]]] = defaultdict(lambda: ([], set(), set()))
    if not package_ids:
        return out
    for pkg_id, version, kind, basename in session.execute(
        select(File.package_id, Release.version, File.package_type, File.basename)
        .join(Release, Release.id == File.release_id)
        .join(FileLabel, FileLabel.file_id == File.id)
        .where(FileLabel.label_id == label_id, File.package_id.in_(package_ids))
    ):
        versions, kinds, platforms = out[pkg_id]
        versions.append(version)
        kinds.add(kind)
        if kind == "conda" and "/" in basename:
            platforms.add(basename.split("/", 1)[0])
    return out
