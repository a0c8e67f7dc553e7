"""Notifications: the events of the log that are addressed to one person, and what that person has seen.

There is no notifications table. A notification is an event whose data names an account as the one it happened
to (`group.member_added` names the `member`, `collaborator.added` the `collaborator`...), so the one write path
that changes the membership also writes the notification, in the same transaction; and
`accounts.notifications_seen_serial` holds the newest serial the person marked as read: every newer notification
is unread. Events the person caused themselves are not news to them and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import Forbidden, Unauthorized
from packyard.core.models import Account, Event, Package, package_key

ADDRESSEE = {
    "group.member_added": "member",
    "group.member_removed": "member",
    "collaborator.added": "collaborator",
    "collaborator.removed": "collaborator",
}
"""Event kind -> the key of its data that names the account it is addressed to."""

UNREAD_CAP = 99
"""The badge says "99+" beyond this: counting further would only cost time."""


def _addressed_to(account: Account) -> ColumnElement[bool]:
    by_key: dict[str, list[str]] = {}
    for kind, key in ADDRESSEE.items():
        by_key.setdefault(key, []).append(kind)
    return and_(
        or_(
            *(
                and_(Event.kind.in_(kinds), Event.data[key].as_string() == account.login)
                for key, kinds in by_key.items()
            )
        ),
        # A login freed by a deleted account and taken again must not inherit the old one's notifications.
        Event.at >= account.created_at,
        or_(Event.actor_id.is_(None), Event.actor_id != account.id),
    )


def _visible(session: Session, identity: Identity, events: Sequence[Event]) -> list[Event]:
    """The events whose package (if they name one) the identity may see now: a collaborator removed from a
    private package must not learn its name again from the notification."""
    wanted = {(e.owner.lower(), package_key(e.package)) for e in events if e.package}
    refs: dict[tuple[str, str], Package] = {}
    if wanted:
        rows = session.scalars(
            select(Package)
            .join(Account, Account.id == Package.owner_id)
            .where(
                Account.login_key.in_({owner for owner, _ in wanted}),
                Package.name_key.in_({key for _, key in wanted}),
            )
        )
        refs = {(pkg.owner.login_key, pkg.name_key): pkg for pkg in rows}
    out = []
    for event in events:
        if event.package:
            pkg = refs.get((event.owner.lower(), package_key(event.package)))
            if pkg is None or not permissions.can_see(identity, pkg, via="web"):
                continue
        out.append(event)
    return out


def _account(identity: Identity) -> Account:
    account = identity.account
    if account is None:
        raise Unauthorized("sign in to see your notifications")
    if not permissions.can_see_notifications(identity, account):
        raise Forbidden("notifications are read with your own session or password, not with this token")
    return account


def recent(
    session: Session, identity: Identity, *, before: int | None = None, limit: int = 30
) -> tuple[list[Event], int | None]:
    """The identity's notifications, newest first, older than serial `before`; and the serial to continue
    from (None when there are no older ones)."""
    account = _account(identity)
    query = select(Event).where(_addressed_to(account)).order_by(Event.serial.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(Event.serial < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return _visible(session, identity, rows), (rows[-1].serial if more and rows else None)


def unread_count(session: Session, identity: Identity) -> int:
    """How many notifications are newer than the ones marked read (at most UNREAD_CAP + 1)."""
    account = _account(identity)
    rows = session.scalars(
        select(Event)
        .where(_addressed_to(account), Event.serial > account.notifications_seen_serial)
        .order_by(Event.serial.desc())
        .limit(UNREAD_CAP + 1)
    ).all()
    return len(_visible(session, identity, rows))


def mark_read(db: Database, identity: Identity, up_to: int) -> None:
    """Mark every notification up to serial `up_to` as read: the newest one the page showed, so that one which
    arrived after the page was drawn stays unread. Never moves backwards, never past the log's end."""
    account = _account(identity)
    with db.write() as session:
        newest = session.scalar(select(func.max(Event.serial))) or 0
        row = session.get_one(Account, account.id)
        row.notifications_seen_serial = max(row.notifications_seen_serial, min(up_to, newest))
