"""Mirrors as the REST API and the formats' proxies use them: one write path, every decision asked of permissions.

A mirror is organization NAME's channel for one format (a row of `mirrors`). `create` makes the organization
(core/services/orgs.create_org, the caller its owner) and the mirror in one call. Packages reach the mirror only
through `store_fetched`, as the mirror's fetcher (`fetcher`: an identity acting as the organization itself), by
the normal `add_file` path; every other writer is refused there (core/services/packages.refuse_first_party). `delete` removes the
mirror's configuration and upstream index rows only: the packages it cached stay in the organization as ordinary
packages (a frozen copy an air-gapped site may still need), removable like any others. `sync` checks a pre-fetch
request and queues it (`mirror_syncs`); core/mirrors/syncs.py runs it on whichever node claims it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from packyard.core import formats, permissions, queries
from packyard.core.artifacts import InvalidPackage
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadGateway, BadRequest, Conflict, Forbidden, GatewayTimeout, NotFound
from packyard.core.mirrors import rules as mirror_rules
from packyard.core.mirrors import upstream as http
from packyard.core.mirrors.models import Mirror, MirrorIndex, MirrorSync
from packyard.core.models import Access, Account, AccountKind, File, Package, utcnow
from packyard.core.permissions import Permission
from packyard.core.services import labels as label_service
from packyard.core.services import orgs, packages, uploads
from packyard.core.storage import BlobRef, BlobStore

MIRROR_FORMATS = ("conda", "pypi", "cran")
DEFAULT_TTL = 600
MAX_TTL = 30 * 24 * 3600


@dataclass(frozen=True)
class MirrorInfo:
    """A mirror as its routes read it: plain values, usable after the session that read them is closed."""

    id: int
    owner_id: int
    name: str
    format: str
    upstream: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    ttl: int
    public: bool
    created_at: dt.datetime
    created_by: str | None
    last_ok_at: dt.datetime | None
    last_error: str | None

    @property
    def rules(self) -> mirror_rules.Rules:
        return mirror_rules.parse(self.format, list(self.include), list(self.exclude))

    def as_json(self, *, admin: bool) -> dict[str, Any]:
        """What `GET /api/mirrors/NAME` says; credentials in the upstream URL only to the administrators."""
        return {
            "name": self.name,
            "format": self.format,
            "upstream": self.upstream if admin else http.redacted(self.upstream),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "ttl": self.ttl,
            "public": self.public,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "last_ok_at": _iso(self.last_ok_at),
            "last_error": self.last_error,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _info(session: Session, row: Mirror, owner: Account) -> MirrorInfo:
    creator = session.get(Account, row.created_by) if row.created_by is not None else None
    return MirrorInfo(
        row.id,
        row.account_id,
        owner.login,
        row.format,
        row.upstream,
        tuple(row.include or ()),
        tuple(row.exclude or ()),
        row.ttl,
        row.public,
        row.created_at,
        creator.login if creator is not None else None,
        row.last_ok_at,
        row.last_error,
    )


# --- validation -----------------------------------------------------------------------------------------------


def _mirrorable(fmt: str) -> bool:
    try:
        return formats.spec_for(fmt).mirror_sync is not None
    except InvalidPackage:  # the format is not installed on this server
        return False


def validate_format(fmt: object) -> str:
    mirrorable = [f for f in MIRROR_FORMATS if _mirrorable(f)]
    if not isinstance(fmt, str) or fmt not in MIRROR_FORMATS:
        raise BadRequest(f"format must be one of {', '.join(MIRROR_FORMATS)}")
    if fmt not in mirrorable:
        raise BadRequest(f"{fmt} mirrors are not supported yet; this server mirrors {', '.join(mirrorable)}")
    return fmt


def validate_upstream(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise BadRequest("upstream must be the upstream index's URL, e.g. https://pypi.org/simple/")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"upstream {url!r} must be an http:// or https:// URL with a host")
    if parts.fragment or parts.query:
        raise BadRequest(f"upstream {url!r} must not have a query or a fragment")
    if len(url) > 1000:
        raise BadRequest("upstream is longer than 1000 characters")
    return url if url.endswith("/") else url + "/"


def validate_ttl(ttl: object) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        raise BadRequest(f"ttl must be a whole number of seconds from 0 to {MAX_TTL} (30 days)")
    return ttl


def _validate_public(public: object) -> bool:
    if not isinstance(public, bool):
        raise BadRequest("public must be true or false")
    return public


def _rule_texts(rules: Sequence[mirror_rules.Rule]) -> list[str]:
    return [r.text for r in rules]


# --- create, show, edit, delete, list -------------------------------------------------------------------------


def create(db: Database, identity: Identity, name: str, body: Mapping[str, Any]) -> MirrorInfo:
    """Organization NAME (created, the caller its owner) proxies `upstream` for `format`.

    NAME may already be a mirror organization the caller administers, mirroring another format; any other
    existing login is taken (an ordinary organization has first-party packages a mirror would refuse)."""
    unknown = sorted(set(body) - {"format", "upstream", "include", "exclude", "ttl", "public"})
    if unknown:
        raise BadRequest(
            f"unknown field {unknown[0]!r}; a mirror has format, upstream, include, exclude, ttl, public"
        )
    fmt = validate_format(body.get("format"))
    upstream_url = validate_upstream(body.get("upstream"))
    parsed = mirror_rules.parse(fmt, body.get("include"), body.get("exclude"))
    ttl = validate_ttl(body.get("ttl", DEFAULT_TTL))
    public = _validate_public(body.get("public", True))
    if identity.is_anonymous:
        permissions.require_unrestricted(identity, "creating a mirror")
    with db.read() as session:
        existing = session.scalar(select(Account).where(Account.login_key == name.lower()))
        has_mirrors = existing is not None and session.scalar(
            select(Mirror.id).where(Mirror.account_id == existing.id)
        )
    if existing is None:
        org = orgs.create_org(db, identity, name)
    elif existing.kind == AccountKind.ORG and has_mirrors:
        permissions.require(identity, Permission.ADMIN, existing)
        org = existing
    else:
        raise Conflict(f"the login {name!r} is already taken; a mirror creates a new organization")
    with db.write() as session:
        if session.scalar(select(Mirror.id).where(Mirror.account_id == org.id, Mirror.format == fmt)):
            raise Conflict(
                f"{org.login} already mirrors {fmt}; change it with PATCH /api/mirrors/{org.login}"
            )
        row = Mirror(
            account_id=org.id,
            format=fmt,
            upstream=upstream_url,
            include=_rule_texts(parsed.include),
            exclude=_rule_texts(parsed.exclude),
            ttl=ttl,
            public=public,
            created_by=identity.account.id if identity.account else None,
        )
        session.add(row)
        session.flush()
        return _info(session, row, org)


def _pick(session: Session, owner: Account, fmt: str | None) -> Mirror:
    query = select(Mirror).where(Mirror.account_id == owner.id)
    if fmt:
        query = query.where(Mirror.format == fmt)
    rows = list(session.scalars(query.order_by(Mirror.format)))
    if not rows:
        raise NotFound(f"{owner.login} has no {fmt + ' ' if fmt else ''}mirror")
    if len(rows) > 1:
        raise BadRequest(
            f"{owner.login} mirrors {', '.join(r.format for r in rows)}: say which with ?format=FORMAT"
        )
    return rows[0]


def get(db: Database, identity: Identity, name: str, fmt: str | None = None) -> tuple[MirrorInfo, bool]:
    """The mirror and whether the caller administers it; a private mirror is unseen to non-members."""
    with db.read() as session:
        owner = _owner_or_unseen(session, identity, name)
        row = _pick(session, owner, fmt)
        if not permissions.can_use_mirror(identity, owner, public=row.public, via="api"):
            raise permissions.unseen(identity, f"mirror {name}")
        return _info(session, row, owner), permissions.can(identity, Permission.ADMIN, owner)


def _owner_or_unseen(session: Session, identity: Identity, name: str) -> Account:
    try:
        return queries.owner(session, name)
    except NotFound:
        raise permissions.unseen(identity, f"mirror {name}") from None


def update(
    db: Database, identity: Identity, name: str, fmt: str | None, changes: Mapping[str, Any]
) -> MirrorInfo:
    """Change upstream, rules, ttl or public (the organization's administrators); `public` also changes the
    access of every package the mirror cached, so what is listed and what is served agree."""
    unknown = sorted(set(changes) - {"upstream", "include", "exclude", "ttl", "public"})
    if unknown:
        raise BadRequest(
            f"unknown field {unknown[0]!r}; a mirror's upstream, include, exclude, ttl and public change"
        )
    with db.write() as session:
        owner = _owner_or_unseen(session, identity, name)
        row = _pick(session, owner, fmt)
        if not permissions.can_use_mirror(identity, owner, public=row.public, via="api"):
            raise permissions.unseen(identity, f"mirror {name}")
        permissions.require(identity, Permission.ADMIN, owner)
        if "upstream" in changes:
            new_upstream = validate_upstream(changes["upstream"])
            if new_upstream != row.upstream:
                row.upstream = new_upstream
                session.query(MirrorIndex).filter(MirrorIndex.mirror_id == row.id).delete()
        if "include" in changes or "exclude" in changes:
            parsed = mirror_rules.parse(
                row.format, changes.get("include", row.include), changes.get("exclude", row.exclude)
            )
            row.include, row.exclude = _rule_texts(parsed.include), _rule_texts(parsed.exclude)
        if "ttl" in changes:
            row.ttl = validate_ttl(changes["ttl"])
        access_changed = "public" in changes and _validate_public(changes["public"]) != row.public
        if access_changed:
            row.public = bool(changes["public"])
        info = _info(session, row, owner)
        names = list(session.scalars(select(Package.name).where(Package.owner_id == owner.id)))
    if access_changed and names:
        packages.set_access(
            db, identity, owner.login, names, Access.PUBLIC if info.public else Access.PRIVATE
        )
    return info


def delete(db: Database, identity: Identity, name: str, fmt: str | None) -> None:
    """Remove the mirror's configuration and upstream index rows; the cached packages stay (module docstring)."""
    with db.write() as session:
        owner = _owner_or_unseen(session, identity, name)
        row = _pick(session, owner, fmt)
        if not permissions.can_use_mirror(identity, owner, public=row.public, via="api"):
            raise permissions.unseen(identity, f"mirror {name}")
        permissions.require(identity, Permission.ADMIN, owner)
        session.delete(row)


def visible(db: Database, identity: Identity) -> list[tuple[MirrorInfo, bool]]:
    """Every mirror the caller may use, with whether they administer it (`GET /api/mirrors`)."""
    with db.read() as session:
        out = []
        for row, owner in session.execute(
            select(Mirror, Account).join(Account, Account.id == Mirror.account_id).order_by(Account.login_key)
        ).all():
            if permissions.can_use_mirror(identity, owner, public=row.public, via="api"):
                out.append((_info(session, row, owner), permissions.can(identity, Permission.ADMIN, owner)))
        return out


def of_owner(session: Session, owner_id: int, fmt: str) -> MirrorInfo | None:
    """The owner's mirror of `fmt`, if the owner is one (the formats' routes ask this of every owner)."""
    row = session.scalar(select(Mirror).where(Mirror.account_id == owner_id, Mirror.format == fmt))
    if row is None:
        return None
    owner = session.get_one(Account, owner_id)
    return _info(session, row, owner)


def owner_of(db: Database, owner_id: int) -> Account:
    """The mirror's organization, read when a proxied request is answered (after the route's session closed)."""
    with db.read() as session:
        return session.get_one(Account, owner_id)


def by_id(db: Database, mirror_id: int) -> tuple[MirrorInfo, Account]:
    with db.read() as session:
        row = session.get(Mirror, mirror_id)
        if row is None:
            raise NotFound(f"mirror {mirror_id} not found")
        owner = session.get_one(Account, row.account_id)
        return _info(session, row, owner), owner


# --- the one writer --------------------------------------------------------------------------------------------


def fetcher(owner: Account) -> Identity:
    """The identity the mirror stores what it fetched as: the organization itself (`is_mirror_fetcher`)."""
    return Identity(account=owner, scopes=frozenset({"all"}))


# --- upstream's index rows, shared by every node -------------------------------------------------------------


class CachedIndex:
    """Upstream's answer for one index as cached in `mirror_indexes`. Its entries are read from the database only
    when asked for: a request whose document is already built (core/indexes.IndexCache, keyed on `fetched_at`)
    needs only the small columns, and a large channel's entries are tens of MB of JSON."""

    def __init__(
        self,
        fetched_at: dt.datetime,
        entries: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
        found: bool,
        etag: str | None,
        blob: str | None = None,
    ) -> None:
        self.fetched_at, self.found, self.etag, self.blob = fetched_at, found, etag, blob
        self._entries = entries

    @property
    def entries(self) -> list[dict[str, Any]]:
        if callable(self._entries):
            self._entries = self._entries()
        return self._entries

    def fresh(self, ttl: int, now: dt.datetime | None = None) -> bool:
        return ((now or utcnow()) - self.fetched_at).total_seconds() < ttl


def cached_index(db: Database, mirror_id: int, project: str) -> CachedIndex | None:
    with db.read() as session:
        head = session.execute(
            select(MirrorIndex.fetched_at, MirrorIndex.found, MirrorIndex.etag, MirrorIndex.blob).where(
                MirrorIndex.mirror_id == mirror_id, MirrorIndex.project == project
            )
        ).one_or_none()
    if head is None:
        return None

    def load() -> list[dict[str, Any]]:
        with db.read() as session:
            entries = session.scalar(
                select(MirrorIndex.entries).where(
                    MirrorIndex.mirror_id == mirror_id, MirrorIndex.project == project
                )
            )
        return list(entries or [])

    return CachedIndex(head.fetched_at, load, head.found, head.etag, head.blob)


def cached_projects(db: Database, mirror_id: int) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(MirrorIndex.project).where(MirrorIndex.mirror_id == mirror_id, MirrorIndex.found)
            )
        )


def _touch_index(db: Database, mirror_id: int, project: str, now: dt.datetime) -> None:
    """Upstream said 304: the cached entries stand, as of `now` (not written again: they may be large)."""
    with db.write() as session:
        session.execute(
            sql_update(MirrorIndex)
            .where(MirrorIndex.mirror_id == mirror_id, MirrorIndex.project == project)
            .values(fetched_at=now)
        )
        session.execute(
            sql_update(Mirror).where(Mirror.id == mirror_id).values(last_ok_at=now, last_error=None)
        )


def save_index(db: Database, mirror_id: int, project: str, index: CachedIndex) -> None:
    """Store what upstream answered (and that it answered): one row per project, the last answer wins."""
    with db.write() as session:
        session.merge(
            MirrorIndex(
                mirror_id=mirror_id,
                project=project,
                fetched_at=index.fetched_at,
                entries=index.entries,
                found=index.found,
                etag=index.etag,
                blob=index.blob,
            )
        )
        row = session.get(Mirror, mirror_id)
        if row is not None:
            row.last_ok_at, row.last_error = index.fetched_at, None


def record_unreachable(db: Database, mirror_id: int, message: str) -> None:
    with db.write() as session:
        row = session.get(Mirror, mirror_id)
        if row is not None:
            row.last_error = f"{utcnow().isoformat(timespec='seconds')}: {message}"


def unreachable_error(mirror: MirrorInfo, exc: http.Unreachable, what: str) -> BadGateway | GatewayTimeout:
    """The 502/504 for something never cached while the upstream is away."""
    cls = GatewayTimeout if exc.timeout else BadGateway
    return cls(f"{what} is not cached by mirror {mirror.name} and its upstream is unreachable: {exc.message}")


STALE = {"Warning": '110 - "Response is Stale"', "X-Packyard-Mirror": "offline"}
"""The headers of an answer made from the cache because the upstream could not be asked (offline mode)."""


def refresh_index(
    db: Database,
    mirror: MirrorInfo,
    key: str,
    url: str,
    read: Callable[[http.Page], list[dict[str, Any]]],
    *,
    accept: str = "*/*",
    max_bytes: int = http.MAX_PAGE_BYTES,
) -> tuple[CachedIndex | None, str | None]:
    """Upstream's index `key` (a PyPI project, a CRAN slice) as entries, asked for again at `url` once the cached
    copy is older than the TTL (with If-None-Match); and, when the upstream could not be asked or answered
    nonsense, why (the caller then serves what is cached, marked `STALE`).

    `read` turns a 200 page into the format's entries (ValueError: not an index). A 404 is an answer: upstream
    has no such index (cached as found=False, no entries)."""
    cached = cached_index(db, mirror.id, key)
    if cached is not None and cached.fresh(mirror.ttl):
        return cached, None
    try:
        page = http.get(
            url, accept=accept, etag=cached.etag if cached is not None else None, max_bytes=max_bytes
        )
    except http.Unreachable as exc:
        record_unreachable(db, mirror.id, exc.message)
        return cached, exc.message
    if page.status == 200:
        try:
            entries = read(page)
        except ValueError as exc:  # JSON or text that does not parse
            return cached, _nonsense(db, mirror, url, exc)
        return _answered(
            db, mirror, key, cached, page, CachedIndex(utcnow(), entries, True, page.headers.get("etag"))
        )
    return _answered(db, mirror, key, cached, page, None)


def refresh_blob_index(
    db: Database,
    store: BlobStore,
    mirror: MirrorInfo,
    key: str,
    url: str,
    ingest: Callable[[Path, str], None],
    *,
    accept: str = "*/*",
    max_bytes: int | None = None,
    ttl: int | None = None,
) -> tuple[CachedIndex | None, str | None]:
    """`refresh_index` for an index too large to hold in memory or in one database value (a conda subdir's
    repodata.json): upstream's body is streamed into the blob store (`CachedIndex.blob`), and `ingest(path,
    final_url)` reads it from a local file, records what the format needs per record (ValueError: not an index)
    before the new blob becomes the index. An answer with the same bytes as the cached one (an upstream that sends
    no ETag) costs no ingest. `ttl` overrides the mirror's (0: ask now)."""
    cached = _usable(db, store, mirror.id, key)
    if cached is not None and cached.fresh(mirror.ttl if ttl is None else ttl):
        return cached, None
    with _one_fetch(mirror.id, f"index {key}"):  # concurrent requests of this process wait for one fetch
        again = _usable(db, store, mirror.id, key)
        if again is not None and (cached is None or again.fetched_at > cached.fetched_at):
            return again, None  # fetched by the request we waited for
        return _refresh_blob(db, store, mirror, key, url, ingest, cached, accept=accept, max_bytes=max_bytes)


def _usable(db: Database, store: BlobStore, mirror_id: int, key: str) -> CachedIndex | None:
    cached = cached_index(db, mirror_id, key)
    if cached is not None and cached.blob is not None and not store.exists(cached.blob):
        return None  # lost from the store (a restore without it): fetched again, as on the first request
    return cached


def _refresh_blob(
    db: Database,
    store: BlobStore,
    mirror: MirrorInfo,
    key: str,
    url: str,
    ingest: Callable[[Path, str], None],
    cached: CachedIndex | None,
    *,
    accept: str,
    max_bytes: int | None,
) -> tuple[CachedIndex | None, str | None]:
    etag = cached.etag if cached is not None and cached.blob else None
    with store.receive() as incoming:
        try:
            page = http.stream(url, incoming.write, accept=accept, etag=etag, max_bytes=max_bytes)
        except http.Unreachable as exc:
            record_unreachable(db, mirror.id, exc.message)
            return cached, exc.message
        if page.status != 200:
            return _answered(db, mirror, key, cached, page, None)
        ref = incoming.digest()
        if cached is None or cached.blob != ref.sha256:
            try:
                ingest(incoming.path, page.url)
            except ValueError as exc:
                return cached, _nonsense(db, mirror, url, exc)
        incoming.commit()
    fresh = CachedIndex(utcnow(), [], True, page.headers.get("etag"), ref.sha256)
    return _answered(db, mirror, key, cached, page, fresh)


def _nonsense(db: Database, mirror: MirrorInfo, url: str, exc: ValueError) -> str:
    message = f"{http.redacted(url)} sent something that is not an index ({exc})"
    record_unreachable(db, mirror.id, message)
    return message


def _answered(
    db: Database,
    mirror: MirrorInfo,
    key: str,
    cached: CachedIndex | None,
    page: http.Page,
    fresh: CachedIndex | None,
) -> tuple[CachedIndex | None, str | None]:
    """Keep what upstream answered: 304 (the cached copy stands), 200 (`fresh`), 404 (no such index)."""
    now = utcnow()
    if page.status == 304 and cached is not None:
        _touch_index(db, mirror.id, key, now)
        cached.fetched_at = now
        return cached, None
    if page.status == 404:
        fresh = CachedIndex(now, [], found=False, etag=None)
    elif fresh is None:
        message = f"{http.redacted(page.url)} answered {page.status}"
        record_unreachable(db, mirror.id, message)
        return cached, message
    save_index(db, mirror.id, key, fresh)
    return fresh, None


def require_use(identity: Identity, owner: Account, mirror: MirrorInfo, what: str, via: str) -> None:
    """The caller may read through the mirror (permissions.can_use_mirror), else the hidden-package answer."""
    if not permissions.can_use_mirror(identity, owner, public=mirror.public, via=via):
        raise permissions.unseen(identity, what, via=via)


def refuse(mirror: MirrorInfo, name: str, facts: Mapping[str, str] | None = None, what: str = "") -> None:
    """403 naming the rule when the mirror's rules refuse package `name` (or, with `facts`, this file of it)."""
    refusal = mirror.rules.file(name, facts) if facts is not None else mirror.rules.project(name)
    if refusal is not None:
        raise Forbidden(refusal.message(mirror.name, what or name))


def index_keys(db: Database, mirror_id: int, prefix: str) -> list[str]:
    """The keys of the upstream indexes cached under `prefix` that upstream has (e.g. a conda label's subdirs)."""
    with db.read() as session:
        return list(
            session.scalars(
                select(MirrorIndex.project).where(
                    MirrorIndex.mirror_id == mirror_id,
                    MirrorIndex.found,
                    MirrorIndex.project.startswith(prefix, autoescape=True),
                )
            )
        )


# --- storing a fetched file ------------------------------------------------------------------------------------


@dataclass
class _Fetching:
    lock: threading.Lock
    users: int = 0


_FETCHING: dict[tuple[int, str], _Fetching] = {}
_FETCHING_GUARD = threading.Lock()


@contextmanager
def _one_fetch(mirror_id: int, basename: str) -> Iterator[None]:
    """Serialise the first fetches of one file in this process; the entry goes once nobody waits on it, so a
    long-running server does not keep a lock for every file it ever fetched."""
    key = (mirror_id, basename)
    with _FETCHING_GUARD:
        entry = _FETCHING.setdefault(key, _Fetching(threading.Lock()))
        entry.users += 1
    try:
        with entry.lock:
            yield
    finally:
        with _FETCHING_GUARD:
            entry.users -= 1
            if entry.users == 0:
                del _FETCHING[key]


@dataclass(frozen=True)
class Expected:
    """The digests upstream's index gives for a file, which its bytes must match (at least one of them): PyPI
    and conda indexes give a sha256, CRAN's PACKAGES only an MD5 (MD5sum)."""

    sha256: str | None = None
    md5: str | None = None
    first_use: bool = False
    """No index gives a digest (CRAN's Archive-only versions): whatever upstream sends the first time is kept
    (trust on first use, over the transport) and found again by its name alone. Said explicitly, so that a
    missing digest is never taken for this by accident."""

    def __post_init__(self) -> None:
        if not self.sha256 and not self.md5 and not self.first_use:
            raise ValueError("an upstream file needs a sha256 or an md5 to be verified against")

    def mismatch(self, ref: BlobRef) -> str | None:
        """What differs between the bytes received and the index, or None when they agree."""
        for algo, want, got in (("sha256", self.sha256, ref.sha256), ("md5", self.md5, ref.md5)):
            if want and want.lower() != got:
                return f"sent bytes whose {algo} is {got}, but its index says {want}"
        return None


def _stored(db: Database, owner_id: int, basename: str, expected: Expected) -> tuple[int, set[str]] | None:
    """The id and labels of the mirror's copy of `basename` with these digests, if it is cached."""
    query = (
        select(File)
        .join(Package, Package.id == File.package_id)
        .where(Package.owner_id == owner_id, File.basename == basename)
    )
    if expected.sha256:
        query = query.where(File.sha256 == expected.sha256.lower())
    if expected.md5:
        query = query.where(File.md5 == expected.md5.lower())
    with db.read() as session:
        found = session.scalars(query.limit(1)).first()
        return (found.id, {label.name for label in found.labels}) if found is not None else None


def store_fetched(
    db: Database,
    store: BlobStore,
    mirror: MirrorInfo,
    owner: Account,
    url: str,
    basename: str,
    expected: Expected,
    distribution_type: str,
    *,
    label: str = "main",
) -> None:
    """Fetch `url` into the blob store, verifying upstream's digests while it streams, and add it as the mirror's
    fetcher through `add_file` (parsed as an upload is), under `label` (the upstream label it came from), so
    every interface sees it. A file cached already under another label gets this label too.

    Concurrent first requests for one file: in this process they wait for the first one and find the file
    stored; across nodes the later `add_file` meets the row the first one committed (a Conflict) and, the bytes
    being the same, treats it as done. Raises Unreachable when the upstream is away.
    """
    with _one_fetch(mirror.id, basename):
        found = _stored(db, owner.id, basename, expected)
        if found is not None:
            if label not in found[1]:
                label_service.add_label(db, fetcher(owner), owner, label, basename=basename)
            return
        with store.receive() as incoming:
            status = http.download(url, incoming.write)
            if status == 404:
                raise NotFound(
                    f"{basename}: upstream {http.redacted(url)} no longer has it and it is not cached"
                )
            if status != 200:
                raise BadGateway(f"{basename}: upstream {http.redacted(url)} answered {status}")
            mismatch = expected.mismatch(incoming.digest())
            if mismatch is not None:
                raise BadGateway(f"{basename}: upstream {mismatch}; nothing was stored")
            try:
                artifact = uploads.parse_received(incoming.path, basename, distribution_type)
            except InvalidPackage as exc:
                raise BadGateway(f"{basename} from upstream is not a valid package: {exc}") from None
            blob, extra = uploads.store_artifact(store, incoming, artifact)
        access = Access.PUBLIC if mirror.public else Access.PRIVATE
        try:
            packages.add_file(
                db,
                fetcher(owner),
                owner,
                packages.NewFile(artifact=artifact, blob=blob, extra=extra, labels=(label,)),
                package_info=packages.PackageInfo(
                    summary=artifact.summary,
                    description=artifact.description,
                    license=artifact.license,
                    home=artifact.home,
                    access=access,
                ),
                via="api",
            )
        except Conflict:
            if _stored(db, owner.id, basename, expected) is None:
                raise


# --- mirroring ahead of time -----------------------------------------------------------------------------------

MAX_SYNC_PACKAGES = 500
SYNC_STATES = ("queued", "running", "done", "failed")
MAX_LISTED_SYNCS = 100


@dataclass(frozen=True)
class SyncInfo:
    """One sync request as `GET /api/mirrors/NAME/syncs/ID` shows it (a row of `mirror_syncs`, read)."""

    id: int
    mirror: str
    format: str
    state: str
    packages: tuple[str, ...]
    deps: bool
    subdirs: tuple[str, ...]
    requested_by: str | None
    fetched: tuple[str, ...]
    error: str | None
    error_status: int | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def path(self) -> str:
        """Where it is read back, below the server's root."""
        return f"/api/mirrors/{self.mirror}/syncs/{self.id}"

    def as_json(self) -> dict[str, Any]:
        """`mirror`, `format` and `fetched` are the keys the synchronous sync answered, so a client that read
        them reads a finished sync alike."""
        return {
            "id": self.id,
            "mirror": self.mirror,
            "format": self.format,
            "state": self.state,
            "packages": list(self.packages),
            "deps": self.deps,
            "subdirs": list(self.subdirs),
            "requested_by": self.requested_by,
            "fetched": list(self.fetched),
            "error": self.error,
            "error_status": self.error_status,
            "attempts": self.attempts,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


def _sync_info(session: Session, row: MirrorSync, mirror: Mirror, owner: Account) -> SyncInfo:
    requester = session.get(Account, row.requested_by) if row.requested_by is not None else None
    body = row.body or {}
    return SyncInfo(
        row.id,
        owner.login,
        mirror.format,
        row.state,
        tuple(body.get("packages") or ()),
        bool(body.get("deps", True)),
        tuple(body.get("subdirs") or ()),
        requester.login if requester is not None else None,
        tuple(row.fetched or ()),
        row.error,
        row.error_status,
        row.attempts,
        row.created_at,
        row.started_at,
        row.finished_at,
    )


def sync(
    db: Database,
    identity: Identity,
    name: str,
    fmt: str | None,
    body: Mapping[str, Any],
) -> SyncInfo:
    """Queue a pre-fetch of packages (and, unless `deps` is false, their dependencies) into the mirror, so an
    air-gapped site can be filled and then cut off: any signed-in member of a private mirror, anyone signed in for
    a public one (the files are what a GET would have fetched).

    Only the request is checked here (its fields, the mirror, the caller), so what is wrong with it is still a 4xx
    of the call; the fetching is a job (`mirror_syncs`, run by core/mirrors/syncs.py on whichever node claims
    it), because a large sync outlasts any client's timeout and must outlive a node's restart. What the format's
    sync then refuses (a name the rules exclude, a spec that cannot be solved, an unreachable upstream) is the
    job's `error`."""
    if identity.is_anonymous:
        permissions.require_unrestricted(identity, "syncing a mirror")
    unknown = sorted(set(body) - {"packages", "deps", "subdirs"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; a sync has packages, deps and (conda) subdirs")
    names, deps, subdirs = body.get("packages"), body.get("deps", True), body.get("subdirs")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise BadRequest('packages must be a non-empty list of package names, e.g. ["requests"]')
    if len(names) > MAX_SYNC_PACKAGES:
        raise BadRequest(f"at most {MAX_SYNC_PACKAGES} packages per sync")
    if not isinstance(deps, bool):
        raise BadRequest("deps must be true or false")
    if subdirs is not None and (
        not isinstance(subdirs, list) or not all(isinstance(s, str) and s.strip() for s in subdirs)
    ):
        raise BadRequest('subdirs must be a list of conda subdirs, e.g. ["linux-64", "osx-arm64"]')
    mirror, _admin = get(db, identity, name, fmt)
    if subdirs and mirror.format != "conda":
        raise BadRequest(f"subdirs are for conda mirrors; {mirror.name} mirrors {mirror.format}")
    spec = formats.spec_for(mirror.format)
    if spec.mirror_sync is None:
        raise BadRequest(f"{mirror.format} mirrors cannot be synced yet")
    request = {
        "packages": [n.strip() for n in names],
        "deps": deps,
        "subdirs": [s.strip() for s in subdirs or ()],
    }
    with db.write() as session:
        row_mirror = session.get(Mirror, mirror.id)
        owner = session.get(Account, mirror.owner_id)
        if row_mirror is None or owner is None:  # deleted since `get` read it
            raise NotFound(f"{name} has no {mirror.format} mirror")
        row = MirrorSync(
            mirror_id=mirror.id,
            requested_by=identity.account.id if identity.account else None,
            body=request,
            state="queued",
            attempts=0,
            fetched=[],
        )
        session.add(row)
        session.flush()
        return _sync_info(session, row, row_mirror, owner)


def sync_request(body: Mapping[str, Any]) -> formats.SyncRequest:
    """A queued sync's stored body as the format's sync takes it."""
    return formats.SyncRequest(
        tuple(body.get("packages") or ()), bool(body.get("deps", True)), tuple(body.get("subdirs") or ())
    )


def _usable_mirrors(
    session: Session, identity: Identity, name: str, fmt: str | None
) -> tuple[Account, list[Mirror]]:
    """Owner NAME and the mirrors of it the caller may use (of `fmt` if given); unseen when there are none."""
    owner = _owner_or_unseen(session, identity, name)
    query = select(Mirror).where(Mirror.account_id == owner.id)
    if fmt:
        query = query.where(Mirror.format == fmt)
    rows = list(session.scalars(query.order_by(Mirror.format)))
    usable = [r for r in rows if permissions.can_use_mirror(identity, owner, public=r.public, via="api")]
    if not usable:
        if rows:
            raise permissions.unseen(identity, f"mirror {name}")
        raise NotFound(f"{owner.login} has no {fmt + ' ' if fmt else ''}mirror")
    return owner, usable


def sync_status(db: Database, identity: Identity, name: str, sync_id: int) -> SyncInfo:
    """One sync of mirror NAME, for whoever may use that mirror (as `get`)."""
    with db.read() as session:
        owner, usable = _usable_mirrors(session, identity, name, None)
        by_id = {m.id: m for m in usable}
        row = session.get(MirrorSync, sync_id)
        if row is None or row.mirror_id not in by_id:
            raise NotFound(
                f"mirror {owner.login} has no sync {sync_id}: GET /api/mirrors/{owner.login}/syncs lists them"
            )
        return _sync_info(session, row, by_id[row.mirror_id], owner)


def recent_syncs(
    db: Database, identity: Identity, name: str, fmt: str | None = None, limit: int = 20
) -> list[SyncInfo]:
    """The latest syncs (newest first) of NAME's mirrors the caller may use (of `fmt` if given)."""
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LISTED_SYNCS:
        raise BadRequest(f"limit must be from 1 to {MAX_LISTED_SYNCS}")
    with db.read() as session:
        owner, usable = _usable_mirrors(session, identity, name, fmt)
        return _recent(session, owner, usable, limit)


def _recent(session: Session, owner: Account, mirrors: Sequence[Mirror], limit: int) -> list[SyncInfo]:
    by_id = {m.id: m for m in mirrors}
    rows = session.scalars(
        select(MirrorSync)
        .where(MirrorSync.mirror_id.in_(list(by_id)))
        .order_by(MirrorSync.id.desc())
        .limit(limit)
    )
    return [_sync_info(session, row, by_id[row.mirror_id], owner) for row in rows]


def syncs_of(session: Session, owner: Account, mirror_id: int, limit: int = 10) -> list[SyncInfo]:
    """The latest syncs of one mirror, for the settings page (which has decided who sees them)."""
    mirror = session.get(Mirror, mirror_id)
    return _recent(session, owner, [mirror], limit) if mirror is not None else []
