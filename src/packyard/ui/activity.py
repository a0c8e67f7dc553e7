"""Recent activity on the dashboards: the event log of some namespaces, as sentences a person reads.

The log (core/models.Event) is written by the services in the same transaction as each change, so it is the
truth about who did what. Each event is checked with `permissions.can_see_event` before it is shown: a private
package's uploads, labels and versions never reach someone who may not see the package, and a feed is read only
by the namespace's own people (`can_see_namespace_activity`).

Runs of alike events (a label added to 40 files, a package's files removed one by one) become one sentence
("bob added label dev to 40 files of demo 1.2"), so a single action does not push a week of history off the
page. Pages go by serial (`before=`): an older page stays the same however much happens meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.models import OWNERS_GROUP, Account, Event, Package, package_key

PER_PAGE = 20
SCAN_LIMIT = 2000
"""At most this many events are read for one page: a feed where almost nothing is visible to the reader stops
there and offers the next page, instead of reading the whole log."""


@dataclass(frozen=True)
class Part:
    """A piece of a sentence: text, a link when `href` is set, or a name (`code`) set apart."""

    text: str
    href: str | None = None
    code: bool = False


@dataclass
class Entry:
    """One line of a feed: one event, or a run of alike events folded into one sentence."""

    serial: int
    at: dt.datetime
    kind: str
    parts: list[Part]
    count: int = 1
    events: list[Event] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts)

    @property
    def ago(self) -> str:
        return ago(self.at)


@dataclass(frozen=True)
class Feed:
    entries: list[Entry]
    older: int | None
    """The serial to pass as `before` for the next (older) page; None at the start of the log."""


@dataclass(frozen=True)
class _Ref:
    """The light package row `permissions.can_see` needs."""

    id: int
    owner_id: int
    access: str


# --- sentences -------------------------------------------------------------------------------------------------

ACCESS_WORDS = {"public": "public", "authenticated": "visible to signed-in users only", "private": "private"}


def _pkg_href(owner: str, package: str) -> str:
    return f"/{quote(owner)}/{quote(package)}"


def _package(event: Event, home: str | None, exists: bool) -> Part:
    """The package's name, with its owner when the feed covers several namespaces, linked while it exists."""
    assert event.package is not None
    name = (
        event.package
        if home is not None and event.owner.lower() == home.lower()
        else f"{event.owner}/{event.package}"
    )
    return Part(name, _pkg_href(event.owner, event.package) if exists else None)


def _release(event: Event, home: str | None, exists: bool) -> list[Part]:
    parts = [_package(event, home, exists)]
    if event.version:
        parts.append(Part(f" {event.version}"))
    return parts


def sentence(
    event: Event, actor: str | None, *, home: str | None = None, exists: bool = True, count: int = 1
) -> list[Part]:
    """What happened, as parts of one sentence ("alice uploaded demo 1.2 (demo-1.2.tar.bz2)").

    `home`: the namespace the feed belongs to (its packages are named without their owner); `exists`: whether
    the package is still there to link to; `count`: how many alike events this sentence stands for.
    """
    data: dict[str, Any] = event.data or {}
    who = Part(actor or "someone", f"/{quote(actor)}" if actor else None)
    files = f"{count} files of " if count > 1 else ""

    def one_file(verb: str, link_word: str = "") -> list[Part]:
        if count > 1:
            return [who, Part(f" {verb} {count} files of "), *_release(event, home, exists)]
        out = [who, Part(f" {verb} "), *_release(event, home, exists)]
        if event.basename:
            out += [Part(f" {link_word}(" if link_word else " ("), Part(event.basename, code=True), Part(")")]
        return out

    kind = event.kind
    if kind == "file.added":
        return one_file("uploaded")
    if kind == "file.removed":
        return one_file("removed")
    if kind == "file.yanked":
        return one_file("yanked" if data.get("yanked") else "un-yanked")
    if kind in ("label.added", "label.removed"):
        label = Part(str(data.get("label", "")), code=True)
        if kind == "label.added":
            head = [who, Part(" added label "), label, Part(" to ")]
        else:
            head = [who, Part(" removed label "), label, Part(" from ")]
        if event.package is None:
            return head[:-1]
        if count > 1:
            return [*head, Part(files), *_release(event, home, exists)]
        tail = [Part(" ("), Part(event.basename, code=True), Part(")")] if event.basename else []
        return [*head, *_release(event, home, exists), *tail]
    if kind in ("label.locked", "label.unlocked"):
        verb = "locked" if kind == "label.locked" else "unlocked"
        return [who, Part(f" {verb} label "), Part(str(data.get("label", "")), code=True)]
    if kind == "package.created":
        return [who, Part(" created package "), _package(event, home, exists)]
    if kind == "package.updated":
        return [who, Part(" updated the details of "), _package(event, home, exists)]
    if kind == "package.removed":
        return [who, Part(" removed package "), _package(event, home, False)]
    if kind == "package.transferred":
        return [who, Part(" transferred "), _package(event, home, exists),
                Part(f" from {data.get('old_owner', '?')} to {event.owner}")]  # fmt: skip
    if kind == "access.changed":
        new = str(data.get("new", ""))
        return [who, Part(" made "), _package(event, home, exists), Part(f" {ACCESS_WORDS.get(new, new)}")]
    if kind in ("release.created", "release.updated", "release.removed"):
        verb = {"release.created": "created", "release.updated": "updated", "release.removed": "removed"}[
            kind
        ]
        return [who, Part(f" {verb} release "), *_release(event, home, exists and kind != "release.removed")]
    if kind in ("collaborator.added", "collaborator.removed"):
        person = str(data.get("collaborator", ""))
        person_part = Part(person, f"/{quote(person)}")
        if kind == "collaborator.added":
            return [
                who,
                Part(" added "),
                person_part,
                Part(" as a collaborator on "),
                _package(event, home, exists),
            ]
        return [
            who,
            Part(" removed "),
            person_part,
            Part(" as a collaborator on "),
            _package(event, home, exists),
        ]
    if kind in ("group.created", "group.removed"):
        group = Part(str(data.get("group", "")), code=True)
        if kind == "group.created":
            return [who, Part(" created group "), group, Part(f" ({data.get('perms', 'read')})")]
        return [who, Part(" removed group "), group]
    if kind in ("group.member_added", "group.member_removed"):
        member = str(data.get("member", ""))
        member_part = Part(member, f"/{quote(member)}")
        group = Part(str(data.get("group", "")), code=True)
        if kind == "group.member_added":
            return [who, Part(" added "), member_part, Part(" to group "), group]
        return [who, Part(" removed "), member_part, Part(" from group "), group]
    if kind in ("group.package_added", "group.package_removed"):
        group = Part(str(data.get("group", "")), code=True)
        if kind == "group.package_added":
            return [who, Part(" gave group "), group, Part(" access to "), _package(event, home, exists)]
        return [who, Part(" took "), _package(event, home, exists), Part(" away from group "), group]
    if kind == "org.created":
        return [who, Part(" created the organization "), Part(event.owner, f"/{quote(event.owner)}")]
    # A kind a format added: say what the log says, plainly.
    out = [who, Part(f" {kind.replace('.', ' ').replace('_', ' ')}")]
    if event.package:
        out += [Part(" "), *_release(event, home, exists)]
    return out


def _fold_key(event: Event) -> tuple[Any, ...] | None:
    """Events that may fold into one sentence share this key (None: never folded)."""
    if event.kind in ("file.added", "file.removed", "label.added", "label.removed") and event.package:
        data = event.data or {}
        return (
            event.kind,
            event.actor_id,
            event.owner.lower(),
            event.package,
            event.version,
            data.get("label"),
        )
    return None


# --- the feed ----------------------------------------------------------------------------------------------------


def _refs(
    session: Session, owners: dict[str, Account], events: Iterable[Event]
) -> dict[tuple[int, str], _Ref]:
    wanted: dict[int, set[str]] = {}
    for e in events:
        owner = owners.get(e.owner.lower())
        if e.package and owner is not None:
            wanted.setdefault(owner.id, set()).add(package_key(e.package))
    if not wanted:
        return {}
    keys = set().union(*wanted.values())
    rows = session.execute(
        select(Package.id, Package.owner_id, Package.access, Package.name_key).where(
            Package.owner_id.in_(wanted), Package.name_key.in_(keys)
        )
    )
    return {(owner_id, key): _Ref(pkg_id, owner_id, access) for pkg_id, owner_id, access, key in rows}


def actors_of(session: Session, events: Iterable[Event]) -> dict[int, str]:
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Account.id, Account.login).where(Account.id.in_(ids))).tuples().all())


def feed(
    session: Session,
    identity: Identity,
    owners: Sequence[Account],
    *,
    home: str | None = None,
    before: int | None = None,
    per_page: int = PER_PAGE,
) -> Feed:
    """The newest events of these namespaces that the identity may see, as at most `per_page` entries."""
    by_login = {o.login.lower(): o for o in owners if permissions.can_see_namespace_activity(identity, o)}
    if not by_login:
        return Feed([], None)
    base = select(Event).where(Event.owner.in_({o.login for o in by_login.values()}))
    entries: list[Entry] = []
    last_key: tuple[Any, ...] | None = None
    cursor, scanned, batch_size = before, 0, per_page * 5
    while scanned < SCAN_LIMIT:
        query = base if cursor is None else base.where(Event.serial < cursor)
        batch = list(session.scalars(query.order_by(Event.serial.desc()).limit(batch_size)))
        scanned += len(batch)
        refs = _refs(session, by_login, batch)
        for event in batch:
            owner = by_login.get(event.owner.lower())
            if owner is None or event.at < owner.created_at:
                continue  # a namespace of the same name that was deleted before this one was made
            ref = refs.get((owner.id, package_key(event.package))) if event.package else None
            if not permissions.can_see_event(identity, owner, ref, about_package=event.package is not None):
                continue
            key = _fold_key(event)
            if key is not None and key == last_key:
                entries[-1].count += 1
                entries[-1].events.append(event)
                continue
            if len(entries) >= per_page:
                return Feed(_finish(session, entries, home, by_login), entries[-1].events[-1].serial)
            entries.append(Entry(event.serial, event.at, event.kind, [], 1, [event]))
            last_key = key
        if len(batch) < batch_size:
            return Feed(_finish(session, entries, home, by_login), None)
        cursor = batch[-1].serial
    return Feed(_finish(session, entries, home, by_login), cursor)


def _finish(
    session: Session, entries: list[Entry], home: str | None, owners: dict[str, Account]
) -> list[Entry]:
    """Give each entry its sentence: who did it (one query for every actor) and whether its package is still
    there to link to."""
    firsts = [entry.events[0] for entry in entries]
    refs = _refs(session, owners, firsts)
    actors = actors_of(session, firsts)
    for entry, event in zip(entries, firsts, strict=True):
        owner = owners[event.owner.lower()]
        exists = event.package is not None and (owner.id, package_key(event.package)) in refs
        actor = actors.get(event.actor_id) if event.actor_id is not None else None
        entry.parts = sentence(event, actor, home=home, exists=exists, count=entry.count)
    return entries


def ago(at: dt.datetime, now: dt.datetime | None = None) -> str:
    """A short relative time ("5 minutes ago"), then the date once it is more than a week old."""
    now = now or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    seconds = int((now - at).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds >= 7 * 86400:
        return at.astimezone(dt.UTC).strftime("%Y-%m-%d")
    size, unit = next(
        (size, unit) for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")) if seconds >= size
    )
    n = seconds // size
    return f"{n} {unit}{'' if n == 1 else 's'} ago"


def notification_sentence(event: Event, actor: str | None, *, member_of: Iterable[str] = ()) -> list[Part]:
    """A notification, said to the person it is addressed to ("alice added you to acme (group developers)").

    The organization links to its dashboard while the person belongs to it (`member_of`, logins), else to its
    page."""
    data: dict[str, Any] = event.data or {}
    who = Part(actor or "someone", f"/{quote(actor)}" if actor else None)
    belongs = event.owner.lower() in {m.lower() for m in member_of}
    org = Part(event.owner, f"/dashboard/{quote(event.owner)}" if belongs else f"/{quote(event.owner)}")
    group = Part(str(data.get("group", "")), code=True)
    if event.kind == "group.member_added":
        if data.get("group") == OWNERS_GROUP:
            return [who, Part(" made you an owner of the organization "), org]
        return [who, Part(" added you to the organization "), org, Part(" (group "), group, Part(")")]
    if event.kind == "group.member_removed":
        return [who, Part(" removed you from group "), group, Part(" of "), org]
    if event.kind in ("collaborator.added", "collaborator.removed") and event.package:
        pkg = Part(f"{event.owner}/{event.package}", _pkg_href(event.owner, event.package))
        if event.kind == "collaborator.added":
            return [who, Part(" made you a collaborator on "), pkg]
        return [who, Part(" removed you as a collaborator on "), pkg]
    return sentence(event, actor)
