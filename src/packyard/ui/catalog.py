"""The owner page (`/OWNER`) and search (`/search`): packages filtered, sorted, counted and paged in SQL.

An owner may hold thousands of packages, so nothing here loads them to ask `permissions.can_see` of each: "the
packages this caller may see" is `permissions.can_see_clause`, the same decision as a SQL condition, and the
filters (type, access, platform, label), the ordering and LIMIT/OFFSET are added to it. Counting the matches,
ordering them and the filter choices (how many packages of each type and access, which platforms and labels) still
read every package of the owner (or of the site), so they are computed once per worker for a given owner, filters,
`permissions.Visibility` and latest event serial, and reused until something changes (every change that could
move them writes an event); only the 30 rows shown are read on every request.

The filters are a GET form: every link and the form work without JavaScript; packyard.js only submits the form
when a select changes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from packyard.core import formats, permissions, queries
from packyard.core.auth import Identity
from packyard.core.models import (
    Access,
    Account,
    AccountKind,
    File,
    FileLabel,
    Group,
    GroupMember,
    Label,
    Package,
    package_key,
)
from packyard.ui import channel_reads, mirror_reads
from packyard.ui.memo import Memo, database, latest_serial
from packyard.ui.reads import Listed, listing_query
from packyard.ui.render import page
from packyard.ui.security import page_context
from packyard.web.deps import base_url, services

router = APIRouter(include_in_schema=False)

PER_PAGE = 30
MAX_PAGE = 100_000
ACCESSES = (Access.PUBLIC.value, Access.AUTHENTICATED.value, Access.PRIVATE.value)
SORTS = {"updated": "Recently updated", "name": "Name", "downloads": "Downloads"}
SEARCH_SORTS = {"relevance": "Best match", **SORTS}
TYPE_ALIASES = {"notebook": "ipynb", "environment": "env"}
"""The words the issue and anaconda.org use for a type, besides the canonical `File.package_type` values."""
_PLATFORM = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
MEMBERS_SHOWN = 100


# --- the filters -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the GET form asks for; anything unknown or malformed is dropped rather than refused (a bookmark
    from an older version still opens the page)."""

    q: str = ""
    type: str = ""
    access: str = ""
    platform: str = ""
    label: str = ""
    sort: str = "updated"
    page: int = 1
    default_sort: str = "updated"

    @classmethod
    def parse(cls, params: Mapping[str, str], *, search: bool) -> Filters:
        kind = params.get("type", "").strip().lower()
        kind = TYPE_ALIASES.get(kind, kind)
        platform = params.get("platform", "").strip().lower()
        sorts = SEARCH_SORTS if search else SORTS
        sort = params.get("sort", "")
        raw_page = params.get("page", "1")
        return cls(
            q=params.get("q", "").strip()[:100] if search else "",
            type=kind if kind in formats.distribution_types() else "",
            access=params.get("access", "") if params.get("access", "") in ACCESSES else "",
            platform=platform if _PLATFORM.fullmatch(platform) else "",
            label=params.get("label", "").strip()[:100],
            sort=sort if sort in sorts else next(iter(sorts)),
            page=max(1, min(int(raw_page), MAX_PAGE)) if raw_page.isdigit() and len(raw_page) <= 6 else 1,
            default_sort=next(iter(sorts)),
        )

    @property
    def narrowed(self) -> bool:
        """Does anything besides the ordering restrict the listing?"""
        return bool(self.q or self.type or self.access or self.platform or self.label)

    def link(self, **changes: Any) -> str:
        """The query string of this listing with some values changed (defaults left out: short, stable URLs)."""
        values = replace(self, **changes)
        pairs = [(name, getattr(values, name)) for name in ("q", "type", "access", "platform", "label")]
        pairs.append(("sort", values.sort if values.sort != values.default_sort else ""))
        pairs.append(("page", str(values.page) if values.page != 1 else ""))
        return "?" + urlencode([(name, value) for name, value in pairs if value])


# --- what a listing shows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit(Listed):
    """A package as the owner page and search list it: a listing's row and its download total."""

    downloads: int = 0


@dataclass(frozen=True)
class Facets:
    """Counts and choices over every package the caller may see (of one owner, or everywhere)."""

    total: int
    types: dict[str, int]
    accesses: dict[str, int]
    platforms: list[str]
    labels: list[str]

    @property
    def offers_access(self) -> bool:
        """Only someone who may see a package that is not public is offered the access filter."""
        return any(n for access, n in self.accesses.items() if access != Access.PUBLIC)


@dataclass(frozen=True)
class Listing:
    hits: list[Hit]
    total: int
    page: int
    pages: int
    filters: Filters
    facets: Facets
    sorts: dict[str, str] = field(default_factory=lambda: dict(SORTS))

    @property
    def first(self) -> int:
        return (self.page - 1) * PER_PAGE + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * PER_PAGE, self.total)


# --- SQL -------------------------------------------------------------------------------------------------------


class first_segment(FunctionElement[str]):
    """The part of a path before its first '/': a conda file's basename starts with its subdir (`linux-64/...`),
    the platform the filters offer. No portable SQL spells it, so each backend gets its own."""

    type = String()
    inherit_cache = True
    name = "first_segment"


@compiles(first_segment)
def _first_segment_sqlite(element: first_segment, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"substr({arg}, 1, instr({arg}, '/') - 1)"


@compiles(first_segment, "postgresql")
def _first_segment_postgresql(element: first_segment, compiler: SQLCompiler, **kw: Any) -> str:
    return f"split_part({compiler.process(next(iter(element.clauses)), **kw)}, '/', 1)"


def _has_type(kind: str) -> ColumnElement[bool]:
    """Does the package hold files of this type? package_types is a JSON list of registry names (letters and
    digits, never escaped), so the quoted name occurs in its text exactly when it is an element: one portable
    test on the row itself."""
    return cast(Package.package_types, String).like(f'%"{kind}"%')


def _conditions(
    visibility: permissions.Visibility, filters: Filters, owner_id: int | None, owner_login: str | None = None
) -> list[ColumnElement[bool]]:
    """Visible to the caller (`permissions.can_see_clause`), of this owner (when given), and every filter set."""
    where = [visibility.clause()]
    if owner_id is not None:
        where.append(Package.owner_id == owner_id)
    elif owner_login:
        where.append(Account.login_key == owner_login.lower())
    if filters.type:
        where.append(_has_type(filters.type))
    if filters.access:
        where.append(Package.access == filters.access)
    if filters.platform:
        prefix = filters.platform + "/"
        where.append(
            exists().where(
                File.package_id == Package.id,
                File.package_type == "conda",
                func.substr(File.basename, 1, len(prefix)) == prefix,
            )
        )
    if filters.label:
        # The label's ids first (one per owner that has it): the test per package is then an index range of
        # file_labels per file rather than a join through labels for every file.
        ids = select(Label.id).where(Label.name == filters.label)
        if owner_id is not None:
            ids = ids.where(Label.owner_id == owner_id)
        where.append(
            exists()
            .where(File.package_id == Package.id, FileLabel.file_id == File.id)
            .where(FileLabel.label_id.in_(ids.scalar_subquery()))
        )
    return where


def _search_terms(q: str) -> tuple[str, str | None, str, list[str]]:
    """(the name key to rank by, an owner when the query reads OWNER/NAME, the name part, the words)."""
    owner, _, name = q.rpartition("/") if "/" in q else ("", "", q)
    name = name.strip()
    return package_key(name), owner.strip() or None, name, [w.lower() for w in name.split() if w]


def _matches(key: str, words: list[str]) -> ColumnElement[bool]:
    text = func.lower(Package.name + " " + func.coalesce(Package.summary, ""))
    by_name = Package.name_key.contains(key, autoescape=True)
    if not words:
        return by_name
    return or_(by_name, and_(*(text.contains(word, autoescape=True) for word in words)))


def _downloads() -> Any:
    return (
        select(func.coalesce(func.sum(File.ndownloads), 0))
        .where(File.package_id == Package.id)
        .scalar_subquery()
    )


def _order(filters: Filters, key: str) -> list[Any]:
    if filters.sort == "name":
        return [Package.name_key, Account.login_key, Package.id]
    if filters.sort == "downloads":
        return [_downloads().desc(), Package.name_key, Package.id]
    if filters.sort == "relevance" and key:
        rank = case(
            (Package.name_key == key, 0),
            (Package.name_key.startswith(key, autoescape=True), 1),
            (Package.name_key.contains(key, autoescape=True), 2),
            else_=3,
        )
        return [rank, Package.name_key, Account.login_key, Package.id]
    return [Package.modified_at.desc(), Package.id.desc()]


@dataclass(frozen=True)
class _Slice:
    total: int
    page: int
    pages: int
    ids: tuple[int, ...]


def _slice(session: Session, where: list[ColumnElement[bool]], order: list[Any], filters: Filters) -> _Slice:
    """Count the matches and take one page of their ids, in order (the expensive part of a listing)."""
    matching = select(Package.id).join(Account, Account.id == Package.owner_id).where(*where)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    pages = max(1, -(-total // PER_PAGE))
    number = min(filters.page, pages)
    ids = session.scalars(matching.order_by(*order).limit(PER_PAGE).offset((number - 1) * PER_PAGE)).all()
    return _Slice(total, number, pages, tuple(ids))


def _hits(session: Session, ids: tuple[int, ...], visible: ColumnElement[bool]) -> list[Hit]:
    """The rows of one page (by primary key) with their download totals, read fresh on every request; asked
    again whether the caller may see each, so a cached page of ids can never show more than it may."""
    if not ids:
        return []
    rows = session.execute(listing_query().where(Package.id.in_(ids), visible)).all()
    counts = dict(
        session.execute(
            select(File.package_id, func.sum(File.ndownloads))
            .where(File.package_id.in_(ids))
            .group_by(File.package_id)
        ).all()
    )
    by_id = {
        pid: Hit(
            pid,
            oid,
            access,
            login,
            name,
            summary or "",
            list(types or []),
            modified,
            int(counts.get(pid) or 0),
        )
        for pid, oid, access, login, name, summary, types, modified in rows
    }
    return [by_id[pid] for pid in ids if pid in by_id]


def _listing(
    session: Session,
    visibility: permissions.Visibility,
    filters: Filters,
    where: list[ColumnElement[bool]],
    order: list[Any],
    scope: Hashable,
    sorts: dict[str, str],
) -> Listing:
    """One page of a listing: which ids, and how many in all, are cached under (scope, filters, what the caller
    may see, latest event serial), and for the downloads sort also the minute, since counting a download writes no
    event; the rows themselves are read on every request."""
    serial = latest_serial(session)
    minute = int(time.time() // 60) if filters.sort == "downloads" else 0
    key = (database(session), scope, filters, visibility, serial, minute)
    found = _slices_memo.get(key, lambda: _slice(session, where, order, filters))
    listed = facets(session, visibility, scope, serial)
    return Listing(
        _hits(session, found.ids, where[0]), found.total, found.page, found.pages, filters, listed, sorts
    )


# --- facets, cached per worker ---------------------------------------------------------------------------------

_facets_memo = Memo(512)
_slices_memo = Memo(2048)


def facets(session: Session, visibility: permissions.Visibility, scope: Hashable, serial: int) -> Facets:
    """The owner's (or the whole site's) visible packages by type and access, and the platforms and labels
    their files have: cached under (owner, what the caller may see, latest serial)."""
    owner_id = scope if isinstance(scope, int) else None
    return _facets_memo.get(
        (database(session), scope, visibility, serial),
        lambda: _compute_facets(session, visibility.clause(), owner_id),
    )


def _compute_facets(session: Session, visible: ColumnElement[bool], owner_id: int | None) -> Facets:
    where = [visible] if owner_id is None else [visible, Package.owner_id == owner_id]
    accesses = dict(
        session.execute(select(Package.access, func.count()).where(*where).group_by(Package.access)).all()
    )
    # One scan counting every type at once, with the type filter's own test (decoding 5,000 JSON lists in
    # Python instead costs ~30 ms).
    known = formats.distribution_types()
    counted = session.execute(
        select(*(func.count().filter(_has_type(kind)) for kind in known)).select_from(Package).where(*where)
    ).one()
    types = {kind: int(n) for kind, n in zip(known, counted, strict=True) if n}
    segment = first_segment(File.basename)
    platforms = session.scalars(
        select(segment)
        .distinct()
        .join(Package, Package.id == File.package_id)
        .where(*where, File.package_type == "conda")
    ).all()
    labels = session.scalars(
        select(Label.name)
        .distinct()
        .join(FileLabel, FileLabel.label_id == Label.id)
        .join(File, File.id == FileLabel.file_id)
        .join(Package, Package.id == File.package_id)
        .where(*where)
    ).all()
    order = {kind: i for i, kind in enumerate(formats.distribution_types())}
    return Facets(
        total=sum(accesses.values()),
        types=dict(sorted(types.items(), key=lambda item: (order.get(item[0], 99), item[0]))),
        accesses={access: accesses.get(access, 0) for access in ACCESSES},
        platforms=sorted(p for p in platforms if p),
        labels=sorted(labels, key=lambda name: (name != "main", name)),
    )


# --- the owner page ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    owner: Account
    is_org: bool
    members: list[Account] | None
    """An organization's members, for those who may see its groups (None: not shown)."""
    member_of: list[Account]
    """The organizations a user belongs to that the caller may know about."""


def profile(session: Session, ident: Identity, owner: Account) -> Profile:
    """Memberships are not public: an organization's members show to its members (and administrators), a
    user's organizations to whoever may know of each membership (permissions.can_see_membership)."""
    if owner.kind == AccountKind.ORG:
        members = None
        if permissions.is_member(ident, owner):
            members = list(
                session.scalars(
                    select(Account)
                    .where(
                        Account.id.in_(
                            select(GroupMember.account_id)
                            .join(Group, Group.id == GroupMember.group_id)
                            .where(Group.org_id == owner.id)
                        )
                    )
                    .order_by(Account.login_key)
                    .limit(MEMBERS_SHOWN + 1)
                )
            )
        return Profile(owner, True, members, [])
    orgs = session.scalars(
        select(Account)
        .where(
            Account.id.in_(
                select(Group.org_id)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.account_id == owner.id)
            )
        )
        .order_by(Account.login_key)
    ).all()
    return Profile(owner, False, None, [o for o in orgs if permissions.can_see_membership(ident, owner, o)])


def owner_listing(session: Session, ident: Identity, owner: Account, filters: Filters) -> Listing:
    visibility = permissions.visibility(ident, via="web")
    where = _conditions(visibility, filters, owner.id)
    return _listing(session, visibility, filters, where, _order(filters, ""), owner.id, dict(SORTS))


def manageable(identity: Identity, hits: list[Hit]) -> set[int]:
    """The listed packages the caller may delete and change the access of (ADMIN, what the services behind the
    bulk actions require, ui/package_bulk.py): only these get a checkbox, so the page never offers what the server
    would refuse. Asked only of a signed-in caller through a session: a token in the URL cannot post forms."""
    if identity.account is None:
        return set()
    return {hit.id for hit in hits if permissions.can(identity, permissions.Permission.ADMIN, hit, via="web")}


def owner_page(request: Request, login: str) -> Response:
    """`/OWNER`: the profile and the packages the caller may see, filtered, sorted and paged."""
    ctx = page_context(request)
    filters = Filters.parse(request.query_params, search=False)
    with services(request).db.read() as session:
        owner = queries.owner(session, login)
        about = profile(session, ctx.identity, owner)
        listing = owner_listing(session, ctx.identity, owner, filters)
        channel_labels = channel_reads.label_names(session, ctx.identity, owner)  # the channel menu
        mirrors = mirror_reads.banners(session, ctx.identity, owner, base_url(request))
        is_mirror = bool(mirrors) or bool(mirror_reads.mirrors_of(session, owner))
    return page(
        request,
        ctx,
        "owner.html",
        about=about,
        listing=listing,
        action=f"/{owner.login}",
        channel_labels=channel_labels,
        mirrors=mirrors,  # the "Mirror of UPSTREAM" banners (ui/mirror_reads.py)
        # the "Upload to OWNER" link (ui/upload.py): whoever may create packages here, unless a mirror refuses them
        may_upload=not is_mirror
        and permissions.namespace_level(ctx.identity, owner) >= permissions.Permission.WRITE,
        manageable=manageable(ctx.identity, listing.hits) if ctx.via_session else set(),
    )


# --- search ----------------------------------------------------------------------------------------------------


def search_listing(session: Session, ident: Identity, filters: Filters) -> Listing:
    """Ranked: the exact name first, then names starting with it, then names containing it, then packages whose
    name and summary hold every word; each tier by name, then owner."""
    key, owner, _, words = _search_terms(filters.q)
    visibility = permissions.visibility(ident, via="web")
    where = _conditions(visibility, filters, None, owner)
    if key or words:
        where.append(_matches(key, words))
    return _listing(session, visibility, filters, where, _order(filters, key), "search", dict(SEARCH_SORTS))


@router.get("/search")
def search_page(request: Request) -> Response:
    """`/search?q=...`: every format, the owner page's filters, exact names first."""
    ctx = page_context(request)
    filters = Filters.parse(request.query_params, search=True)
    listing = None
    with services(request).db.read() as session:
        if filters.narrowed:
            listing = search_listing(session, ctx.identity, filters)
        else:
            everywhere = facets(
                session, permissions.visibility(ctx.identity, via="web"), "search", latest_serial(session)
            )
            listing = Listing([], 0, 1, 1, filters, everywhere, dict(SEARCH_SORTS))
    return page(request, ctx, "search.html", q=filters.q, listing=listing, action="/search")
