"""Release announcements: the "News" box of a package page and of the dashboard.

anaconda-client's `add_release(..., announce=...)` (seed 000: "an announcement that will be posted to all package
watchers") stores the text on the release, and the service writes a `release.announced` event with it
(core/services/packages.py). The package page shows the newest announcements of its releases, rendered as
Markdown and sanitised like descriptions (ui/render.py `markdown`); a dashboard shows the newest announcements of
the packages its reader works on: those of their own namespace and organizations (which their activity feed shows
too) and those they are a collaborator of, wherever they live. Every event is checked against the package as it
is now (`permissions.can_see`): an announcement of a package made private since reaches only who may still see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.models import Account, Event, Package, Release, package_key
from packyard.ui import activity

PACKAGE_NEWS = 3
DASHBOARD_NEWS = 5
SCAN = 200
"""Announcement events read at most for one dashboard box (most are visible to the reader: these are its own)."""


@dataclass(frozen=True)
class News:
    version: str
    at: dt.datetime
    text: str


def package_news(session: Session, pkg: Package, limit: int = PACKAGE_NEWS) -> list[News]:
    """The newest announcements of the package's releases, newest first (read with SQL: the package page does not
    load the package's releases, ui/package_reads.py)."""
    rows = session.execute(
        select(Release.version, Release.modified_at, Release.created_at, Release.announce).where(
            Release.package_id == pkg.id, Release.announce.is_not(None), Release.announce != ""
        )
    ).all()
    found = [
        News(version, modified or created, text)
        for version, modified, created, text in rows
        if text and text.strip()
    ]
    return sorted(found, key=lambda n: n.at, reverse=True)[:limit]


def dashboard_news(
    session: Session, identity: Identity, namespaces: Sequence[Account], limit: int = DASHBOARD_NEWS
) -> list[activity.Entry]:
    """The newest `release.announced` events of the namespaces' packages and of the packages the reader is a
    collaborator of, that the reader may see, as feed entries."""
    logins = [a.login for a in namespaces]
    collaborations = identity.grants.collaborations
    mine: Sequence[Any] = []
    if collaborations:
        mine = session.execute(
            select(Account.login, Package.name)
            .join(Account, Account.id == Package.owner_id)
            .where(Package.id.in_(collaborations))
        ).all()
    about: list[ColumnElement[bool]] = [Event.owner.in_(logins)] if logins else []
    about += [and_(Event.owner == login, func.lower(Event.package) == name.lower()) for login, name in mine]
    if not about:
        return []
    events = list(
        session.scalars(
            select(Event)
            .where(Event.kind == "release.announced", or_(*about))
            .order_by(Event.serial.desc())
            .limit(SCAN)
        )
    )
    visible = _visible(session, identity, events)[:limit]
    actors = activity.actors_of(session, visible)
    home = identity.account.login if identity.account is not None else None
    return [
        activity.Entry(
            e.serial, e.at, e.kind, activity.sentence(e, actors.get(e.actor_id or 0), home=home), events=[e]
        )
        for e in visible
    ]


@dataclass(frozen=True)
class _Ref:
    """The light package row `permissions.can_see` reads."""

    id: int
    owner_id: int
    access: str


def _visible(session: Session, identity: Identity, events: list[Event]) -> list[Event]:
    wanted = {(e.owner.lower(), package_key(e.package)) for e in events if e.package}
    if not wanted:
        return []
    rows = session.execute(
        select(Account.login_key, Package.name_key, Package.id, Package.owner_id, Package.access)
        .join(Account, Account.id == Package.owner_id)
        .where(
            Account.login_key.in_({owner for owner, _ in wanted}),
            Package.name_key.in_({key for _, key in wanted}),
        )
    ).all()
    refs = {(login, key): _Ref(pid, oid, access) for login, key, pid, oid, access in rows}
    out = []
    for e in events:
        ref = refs.get((e.owner.lower(), package_key(e.package or "")))
        if ref is not None and permissions.can_see(identity, ref, via="web"):
            out.append(e)
    return out
