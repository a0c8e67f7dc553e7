"""Site administration: what a site administrator does to the server as a whole (docs/manage/admin.md).

Users (list and search, create, disable and enable, reset a password, lift a login's sign-in throttle), the organizations
with their owners and package counts, storage usage, and the event log with filters. The web UI (`/site-admin`),
the REST API (`/api/admin/...`) and the `packyard user ...` commands all call these functions.

`actor` is the identity asking: it must be a site administrator's own credential (`permissions.require_site_admin`).
`OPERATOR` (None) is the person at the server's command line: the CLI runs with the database's credentials, so it
is trusted as the operator, and its events have no actor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, distinct, func, or_, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity, hash_password
from packyard.core.db import Database, rowcount
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import (
    OWNERS_GROUP,
    Account,
    AccountKind,
    Event,
    File,
    Group,
    GroupMember,
    LoginFailure,
    Package,
    utcnow,
)
from packyard.core.services import accounts, sessions
from packyard.core.services.events import emit

OPERATOR: Identity | None = None
"""The actor of the command line (`packyard user ...`): the server's operator, no site-admin check."""

PAGE_SIZE = 50
MIN_PASSWORD = 8


def require(actor: Identity | None, action: str) -> None:
    """Every function here starts with this: a site administrator's own credential, or the operator."""
    if actor is not OPERATOR:
        permissions.require_site_admin(actor, action)  # type: ignore[arg-type]


def _user(session: Session, login: str) -> Account:
    account = session.scalar(select(Account).where(Account.login_key == login.lower()))
    if account is None or account.kind != AccountKind.USER:
        raise NotFound(f"no user {login!r}")
    return account


# --- users --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    login: str
    name: str
    email: str
    is_admin: bool
    is_disabled: bool
    created_at: dt.datetime
    locked: bool
    """Whether some client address has failed often enough to be throttled for this login (core/throttle.py);
    other addresses, the real user's among them, may still sign in."""
    failures: int
    """Failed sign-ins within the throttle window, from every address."""


@dataclass(frozen=True)
class UserPage:
    users: list[UserRow]
    total: int
    page: int
    pages: int


def _failures(session: Session, keys: Sequence[str], window_seconds: int) -> dict[str, tuple[int, int]]:
    """Login -> (failures from every address, failures from the address that failed most) within the window."""
    if not keys:
        return {}
    since = utcnow() - dt.timedelta(seconds=window_seconds)
    rows = session.execute(
        select(LoginFailure.login_key, func.count())
        .where(LoginFailure.login_key.in_(keys), LoginFailure.at >= since)
        .group_by(LoginFailure.login_key, LoginFailure.remote_addr)
    )
    out: dict[str, tuple[int, int]] = {}
    for key, n in rows:
        total, most = out.get(key, (0, 0))
        out[key] = (total + int(n), max(most, int(n)))
    return out


def list_users(
    db: Database,
    actor: Identity | None,
    *,
    query: str = "",
    status: str = "",
    page: int = 1,
    allowed_failures: int,
    window_seconds: int,
    page_size: int = PAGE_SIZE,
) -> UserPage:
    """Users by login, searched in login, name and e-mail; `status` narrows to admin, disabled or locked ones."""
    require(actor, "listing users")
    page = max(1, page)
    with db.read() as session:
        stmt = select(Account).where(Account.kind == AccountKind.USER)
        if query.strip():
            pattern = f"%{query.strip().lower()}%"
            stmt = stmt.where(
                or_(
                    Account.login_key.like(pattern),
                    func.lower(Account.name).like(pattern),
                    func.lower(Account.email).like(pattern),
                )
            )
        if status == "admin":
            stmt = stmt.where(Account.is_admin.is_(True))
        elif status == "disabled":
            stmt = stmt.where(Account.is_disabled.is_(True))
        elif status == "locked":
            since = utcnow() - dt.timedelta(seconds=window_seconds)
            locked = (  # a login some address is throttled for
                select(LoginFailure.login_key)
                .where(LoginFailure.at >= since)
                .group_by(LoginFailure.login_key, LoginFailure.remote_addr)
                .having(func.count() >= allowed_failures)
            )
            stmt = stmt.where(Account.login_key.in_(locked))
        elif status:
            raise BadRequest(f"unknown status {status!r}: use admin, disabled or locked")
        total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        found = list(
            session.scalars(stmt.order_by(Account.login_key).offset((page - 1) * page_size).limit(page_size))
        )
        failures = _failures(session, [a.login_key for a in found], window_seconds)
    rows = [
        UserRow(
            a.login,
            a.name,
            a.email,
            a.is_admin,
            a.is_disabled,
            a.created_at,
            failures.get(a.login_key, (0, 0))[1] >= allowed_failures,
            failures.get(a.login_key, (0, 0))[0],
        )
        for a in found
    ]
    return UserPage(rows, total, page, max(1, -(-total // page_size)))


def create_user(
    db: Database,
    actor: Identity | None,
    login: str,
    password: str,
    *,
    email: str = "",
    name: str = "",
    is_admin: bool = False,
) -> Account:
    require(actor, "creating users")
    account = accounts.create_user(db, login, password, email=email, name=name, is_admin=is_admin)
    with db.write() as session:
        emit(session, "user.created", actor, account.login, admin=is_admin)
    return account


def set_disabled(db: Database, actor: Identity | None, login: str, disabled: bool) -> None:
    """A disabled user cannot sign in; their sessions end and every token of theirs answers 401
    (`auth.authenticate_token` and `sessions.account_for` read the flag on every request)."""
    require(actor, "disabling users" if disabled else "enabling users")
    with db.write() as session:
        account = _user(session, login)
        if disabled and actor is not None and actor.account is not None and actor.account.id == account.id:
            raise BadRequest("you cannot disable your own account: ask another administrator")
        account.is_disabled = disabled
        emit(session, "user.disabled" if disabled else "user.enabled", actor, account.login)
        account_id = account.id
    if disabled:
        sessions.end_all(db, account_id)


def reset_password(
    db: Database, actor: Identity | None, login: str, password: str, *, end_sessions: bool = True
) -> None:
    """A new password for a user; their sessions end (they were tied to the old password anyway)."""
    require(actor, "resetting passwords")
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must be at least {MIN_PASSWORD} characters long")
    password_hash = hash_password(password)  # slow on purpose: outside the write transaction
    with db.write() as session:
        account = _user(session, login)
        account.password_hash = password_hash
        emit(session, "user.password_reset", actor, account.login)
        account_id = account.id
    if end_sessions:
        sessions.end_all(db, account_id)


def unlock(db: Database, actor: Identity | None, login: str) -> int:
    """Lift the sign-in throttle of `login` for every address: forget its failed sign-ins (the per-address
    counts drop by as many). Returns how many were forgotten."""
    require(actor, "unlocking logins")
    with db.write() as session:
        account = _user(session, login)
        n = rowcount(session.execute(delete(LoginFailure).where(LoginFailure.login_key == account.login_key)))
        emit(session, "user.unlocked", actor, account.login, failures=n)
    return n


# --- organizations and storage --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgRow:
    login: str
    name: str
    owners: list[str]
    packages: int
    created_at: dt.datetime


def list_orgs(db: Database, actor: Identity | None, *, query: str = "") -> list[OrgRow]:
    require(actor, "listing organizations")
    with db.read() as session:
        stmt = select(Account).where(Account.kind == AccountKind.ORG).order_by(Account.login_key)
        if query.strip():
            stmt = stmt.where(Account.login_key.like(f"%{query.strip().lower()}%"))
        orgs = list(session.scalars(stmt))
        ids = [o.id for o in orgs]
        owners: dict[int, list[str]] = {}
        counts: dict[int, int] = {}
        if ids:
            for org_id, login in session.execute(
                select(Group.org_id, Account.login)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .join(Account, Account.id == GroupMember.account_id)
                .where(Group.org_id.in_(ids), Group.name == OWNERS_GROUP)
                .order_by(Account.login_key)
            ):
                owners.setdefault(org_id, []).append(login)
            counts = {
                owner_id: int(n)
                for owner_id, n in session.execute(
                    select(Package.owner_id, func.count())
                    .where(Package.owner_id.in_(ids))
                    .group_by(Package.owner_id)
                )
            }
    return [OrgRow(o.login, o.name, owners.get(o.id, []), counts.get(o.id, 0), o.created_at) for o in orgs]


@dataclass(frozen=True)
class OwnerUsage:
    owner: str
    kind: str
    packages: int
    files: int
    bytes: int


@dataclass(frozen=True)
class Storage:
    owners: list[OwnerUsage]
    """Largest first: the bytes of every file each owner holds (a blob two owners share counts for both)."""
    files: int
    file_bytes: int
    """Sum over every file row."""
    blobs: int
    blob_bytes: int
    """Distinct blobs (content-addressed by sha256): what the store actually holds for files."""


def storage(db: Database, actor: Identity | None) -> Storage:
    require(actor, "reading storage usage")
    with db.read() as session:
        rows = session.execute(
            select(
                Account.login,
                Account.kind,
                func.count(distinct(Package.id)),
                func.count(File.id),
                func.coalesce(func.sum(File.size), 0),
            )
            .join(Package, Package.owner_id == Account.id)
            .join(File, File.package_id == Package.id, isouter=True)
            .group_by(Account.id, Account.login, Account.kind)
        )
        owners = [OwnerUsage(login, kind, int(p), int(f), int(b)) for login, kind, p, f, b in rows]
        files, file_bytes = session.execute(
            select(func.count(File.id), func.coalesce(func.sum(File.size), 0))
        ).one()
        distinct_blobs = (
            select(File.sha256, func.max(File.size).label("size")).group_by(File.sha256).subquery()
        )
        blobs, blob_bytes = session.execute(
            select(func.count(), func.coalesce(func.sum(distinct_blobs.c.size), 0)).select_from(
                distinct_blobs
            )
        ).one()
    owners.sort(key=lambda u: (-u.bytes, u.owner.lower()))
    return Storage(owners, int(files), int(file_bytes), int(blobs), int(blob_bytes))


# --- the event log --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    kind: str = ""
    """An exact kind (`file.added`) or a prefix ending in a dot (`user.`)."""
    actor: str = ""
    owner: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    """Inclusive: events up to the end of that day (UTC)."""


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    actors: dict[int, str]
    older: int | None
    """The `before` of the next (older) page, or None on the last."""


def events(
    db: Database,
    actor: Identity | None,
    filters: EventFilter,
    *,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> EventPage:
    """The whole event log, newest first, a page at a time (keyset paging on the serial)."""
    require(actor, "reading the event log")
    with db.read() as session:
        stmt = select(Event)
        if filters.kind:
            kind = filters.kind.strip()
            stmt = stmt.where(Event.kind.startswith(kind) if kind.endswith(".") else Event.kind == kind)
        if filters.actor:
            actor_id = session.scalar(
                select(Account.id).where(Account.login_key == filters.actor.strip().lower())
            )
            stmt = stmt.where(Event.actor_id == (actor_id if actor_id is not None else -1))
        if filters.owner:
            stmt = stmt.where(func.lower(Event.owner) == filters.owner.strip().lower())
        if filters.since is not None:
            stmt = stmt.where(Event.at >= dt.datetime.combine(filters.since, dt.time(), dt.UTC))
        if filters.until is not None:
            end = dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time(), dt.UTC)
            stmt = stmt.where(Event.at < end)
        if before is not None:
            stmt = stmt.where(Event.serial < before)
        found = list(session.scalars(stmt.order_by(Event.serial.desc()).limit(limit + 1)))
        more = len(found) > limit
        found = found[:limit]
        ids = {e.actor_id for e in found if e.actor_id is not None}
        actors = (
            {
                i: login
                for i, login in session.execute(select(Account.id, Account.login).where(Account.id.in_(ids)))
            }
            if ids
            else {}
        )
    return EventPage(found, actors, found[-1].serial if more and found else None)


def event_kinds(db: Database, actor: Identity | None) -> list[str]:
    """Every kind the log holds, for the filter's choices."""
    require(actor, "reading the event log")
    with db.read() as session:
        return sorted(session.scalars(select(Event.kind).distinct()))
