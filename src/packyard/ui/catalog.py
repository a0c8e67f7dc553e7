"""The owner page (`/OWNER`) and search (`/search`): packages filtered, sorted, counted and paged in SQL.

An owner may hold thousands of packages, so nothing here loads them to ask `permissions.can_see` of each: "the
packages this caller may see" is `permissions.can_see_clause`, the same decision as a SQL condition, and the
filters (type, access, platform, label), the ordering and LIMIT/OFFSET are added to it. What a page shows beside
the listing (how many packages of each type and access, which platforms and labels the filters offer) reads more
rows; it is computed once per worker for a given owner, `permissions.Visibility` and latest event serial and
reused until something changes (every change that could move it writes an event).

The filters are a GET form: every link and the form work without JavaScript; packyard.js only submits the form
when a select changes.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, String, and_, case, cast, distinct, exists, func, or_, select
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
    Event,
    File,
    FileLabel,
    Group,
    GroupMember,
    Label,
    Package,
    package_key,
)
from packyard.ui import channel_reads
from packyard.ui.render import page
from packyard.ui.security import page_context
from packyard.web.deps import services

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
            page=min(int(raw_page), MAX_PAGE) if raw_page.isdigit() and int(raw_page) > 0 else 1,
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
class Hit:
    """A package as the owner page and search list it (also a `permissions.PackageRef`)."""

    id: int
    owner_id: int
    access: str
    owner: str
    name: str
    summary: str
    package_types: list[str]
    modified_at: dt.datetime
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


def _conditions(
    ident: Identity, filters: Filters, owner_id: int | None, owner_login: str | None = None
) -> list[ColumnElement[bool]]:
    """Visible to the caller, of this owner (when given), and every filter that is set."""
    where = [permissions.can_see_clause(ident, via="web")]
    if owner_id is not None:
        where.append(Package.owner_id == owner_id)
    elif owner_login:
        where.append(Account.login_key == owner_login.lower())
    if filters.type:
        # package_types is a JSON list of registry names (letters and digits only, never escaped), so the quoted
        # name occurs in its text exactly when it is an element: one portable test on the row itself.
        where.append(cast(Package.package_types, String).like(f'%"{filters.type}"%'))
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
        where.append(
            exists()
            .where(File.package_id == Package.id, Label.name == filters.label)
            .where(FileLabel.file_id == File.id, Label.id == FileLabel.label_id)
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


def _page(
    session: Session, where: list[ColumnElement[bool]], order: list[Any], filters: Filters
) -> tuple[list[Hit], int, int, int]:
    total = (
        session.scalar(
            select(func.count())
            .select_from(Package)
            .join(Account, Account.id == Package.owner_id)
            .where(*where)
        )
        or 0
    )
    pages = max(1, -(-total // PER_PAGE))
    number = min(filters.page, pages)
    rows = session.execute(
        select(
            Package.id,
            Package.owner_id,
            Package.access,
            Account.login,
            Package.name,
            Package.summary,
            Package.package_types,
            Package.modified_at,
        )
        .join(Account, Account.id == Package.owner_id)
        .where(*where)
        .order_by(*order)
        .limit(PER_PAGE)
        .offset((number - 1) * PER_PAGE)
    ).all()
    counts: dict[int, int] = {}
    if rows:
        counts = dict(
            session.execute(
                select(File.package_id, func.sum(File.ndownloads))
                .where(File.package_id.in_([r[0] for r in rows]))
                .group_by(File.package_id)
            ).all()
        )
    hits = [
        Hit(
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
    ]
    return hits, total, number, pages


# --- facets, cached per worker ---------------------------------------------------------------------------------

T = TypeVar("T")


class _Memo:
    """A small LRU of computed values, shared by one worker's threads. Keys carry the latest event serial, so a
    change anywhere makes every older entry unreachable (it ages out); nothing needs invalidating."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_facets_memo = _Memo(512)


def latest_serial(session: Session) -> int:
    """The newest event: every upload, removal, access or label change and transfer writes one."""
    return session.scalar(select(func.max(Event.serial))) or 0


def facets(session: Session, ident: Identity, owner_id: int | None) -> Facets:
    """The owner's (or the whole site's) visible packages by type and access, and the platforms and labels
    their files have: cached under (owner, what the caller may see, latest serial)."""
    visibility = permissions.visibility(ident, via="web")
    key = (owner_id, visibility, latest_serial(session))
    return _facets_memo.get(key, lambda: _compute_facets(session, visibility.clause(), owner_id))


def _compute_facets(session: Session, visible: ColumnElement[bool], owner_id: int | None) -> Facets:
    where = [visible] if owner_id is None else [visible, Package.owner_id == owner_id]
    accesses = dict(
        session.execute(select(Package.access, func.count()).where(*where).group_by(Package.access)).all()
    )
    types: dict[str, int] = {}
    for (kinds,) in session.execute(select(Package.package_types).where(*where)):
        for kind in kinds or ():
            types[kind] = types.get(kind, 0) + 1
    segment = first_segment(File.basename)
    platforms = session.scalars(
        select(distinct(segment))
        .join(Package, Package.id == File.package_id)
        .where(*where, File.package_type == "conda")
    ).all()
    labels = session.scalars(
        select(distinct(Label.name))
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
    where = _conditions(ident, filters, owner.id)
    hits, total, number, pages = _page(session, where, _order(filters, ""), filters)
    return Listing(hits, total, number, pages, filters, facets(session, ident, owner.id))


def owner_page(request: Request, login: str) -> Response:
    """`/OWNER`: the profile and the packages the caller may see, filtered, sorted and paged."""
    ctx = page_context(request)
    filters = Filters.parse(request.query_params, search=False)
    with services(request).db.read() as session:
        owner = queries.owner(session, login)
        about = profile(session, ctx.identity, owner)
        listing = owner_listing(session, ctx.identity, owner, filters)
        channel_labels = channel_reads.label_names(session, ctx.identity, owner)  # the channel menu
    return page(
        request,
        ctx,
        "owner.html",
        about=about,
        listing=listing,
        action=f"/{owner.login}",
        channel_labels=channel_labels,
    )


# --- search ----------------------------------------------------------------------------------------------------


def search_listing(session: Session, ident: Identity, filters: Filters) -> Listing:
    """Ranked: the exact name first, then names starting with it, then names containing it, then packages whose
    name and summary hold every word; each tier by name, then owner."""
    key, owner, _, words = _search_terms(filters.q)
    where = _conditions(ident, filters, None, owner)
    if key or words:
        where.append(_matches(key, words))
    hits, total, number, pages = _page(session, where, _order(filters, key), filters)
    return Listing(hits, total, number, pages, filters, facets(session, ident, None), dict(SEARCH_SORTS))


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
            listing = Listing([], 0, 1, 1, filters, facets(session, ctx.identity, None), dict(SEARCH_SORTS))
    return page(request, ctx, "search.html", q=filters.q, listing=listing, action="/search")
