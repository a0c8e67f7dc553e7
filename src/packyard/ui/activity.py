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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.models import OWNERS_GROUP, Account, Event, Package, package_key
from packyard.ui.render import plain_text

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


def _person(login: str | None) -> Part:
    return Part(login, f"/{quote(login)}") if login else Part("someone")


@dataclass(frozen=True)
class _Say:
    """One event being put into words, with what the words depend on (see `sentence`)."""

    event: Event
    who: Part
    home: str | None
    exists: bool
    count: int
    one_version: bool

    def data(self, key: str, default: str = "") -> str:
        return str((self.event.data or {}).get(key, default))

    def code(self, key: str) -> Part:
        return Part(self.data(key), code=True)

    def package(self, *, link: bool = True) -> Part:
        """The package's name, with its owner unless it is the feed's own namespace; linked while it exists."""
        e = self.event
        assert e.package is not None
        own = self.home is not None and e.owner.lower() == self.home.lower()
        return Part(
            e.package if own else f"{e.owner}/{e.package}",
            _pkg_href(e.owner, e.package) if link and self.exists else None,
        )

    def release(self, *, link: bool = True) -> list[Part]:
        """The package and its version (none when a folded run spans several versions)."""
        version = self.event.version if self.count == 1 or self.one_version else None
        return [self.package(link=link), *([Part(f" {version}")] if version else [])]

    def files(self) -> list[Part]:
        """ "demo 1.2 (demo-1.2.whl)" for one file, "3 files of demo 1.2" for a folded run."""
        if self.count > 1:
            return [Part(f"{self.count} files of "), *self.release()]
        basename = self.event.basename
        return [*self.release(), *([Part(" ("), Part(basename, code=True), Part(")")] if basename else [])]


def _file_verb(verb: str) -> Callable[[_Say], list[Part]]:
    return lambda s: [s.who, Part(f" {verb} "), *s.files()]


def _yanked(s: _Say) -> list[Part]:
    return _file_verb("yanked" if (s.event.data or {}).get("yanked") else "un-yanked")(s)


def _label(verb: str, preposition: str) -> Callable[[_Say], list[Part]]:
    def say(s: _Say) -> list[Part]:
        head = [s.who, Part(f" {verb} label "), s.code("label")]
        return [*head, Part(f" {preposition} "), *s.files()] if s.event.package else head

    return say


def _on_package(before: str, after: str = "", *, link: bool = True) -> Callable[[_Say], list[Part]]:
    return lambda s: [s.who, Part(before), s.package(link=link), *([Part(after)] if after else [])]


def _release_verb(verb: str, *, link: bool = True) -> Callable[[_Say], list[Part]]:
    return lambda s: [s.who, Part(f" {verb} release "), *s.release(link=link)]


ANNOUNCE_SHOWN = 280
"""Characters of an announcement a feed sentence quotes (the package page's News box shows all of it)."""


def _announced(s: _Say) -> list[Part]:
    """ "alice announced demo 1.3: “Faster solver, new CLI”": the Markdown's words without its markup (the package
    page's News box renders it), escaped like every part."""
    text = " ".join(plain_text(s.data("text")).split())
    if len(text) > ANNOUNCE_SHOWN:
        text = text[: ANNOUNCE_SHOWN - 1].rstrip() + "…"
    return [s.who, Part(" announced "), *s.release(), Part(f": “{text}”")]


def _collaborator(verb: str) -> Callable[[_Say], list[Part]]:
    return lambda s: [
        s.who,
        Part(f" {verb} "),
        _person(s.data("collaborator")),
        Part(" as a collaborator on "),
        s.package(),
    ]


def _member(verb: str, preposition: str) -> Callable[[_Say], list[Part]]:
    return lambda s: [
        s.who,
        Part(f" {verb} "),
        _person(s.data("member")),
        Part(f" {preposition} group "),
        s.code("group"),
    ]


SENTENCES: dict[str, Callable[[_Say], list[Part]]] = {
    "file.added": _file_verb("uploaded"),
    "file.removed": _file_verb("removed"),
    "file.yanked": _yanked,
    "label.added": _label("added", "to"),
    "label.removed": _label("removed", "from"),
    "label.locked": lambda s: [s.who, Part(" locked label "), s.code("label")],
    "label.unlocked": lambda s: [s.who, Part(" unlocked label "), s.code("label")],
    "package.created": _on_package(" created package "),
    "package.updated": _on_package(" updated the details of "),
    "package.removed": _on_package(" removed package ", link=False),
    "package.transferred": lambda s: [s.who, Part(" transferred "), s.package(),
                                      Part(f" from {s.data('old_owner', '?')} to {s.event.owner}")],
    "access.changed": lambda s: [s.who, Part(" made "), s.package(),
                                 Part(f" {ACCESS_WORDS.get(s.data('new'), s.data('new'))}")],
    "release.created": _release_verb("created"),
    "release.updated": _release_verb("updated"),
    "release.removed": _release_verb("removed", link=False),
    "release.announced": _announced,
    "collaborator.added": _collaborator("added"),
    "collaborator.removed": _collaborator("removed"),
    "group.created": lambda s: [s.who, Part(" created group "), s.code("group"), Part(f" ({s.data('perms', 'read')})")],
    "group.removed": lambda s: [s.who, Part(" removed group "), s.code("group")],
    "group.member_added": _member("added", "to"),
    "group.member_removed": _member("removed", "from"),
    "group.package_added": lambda s: [s.who, Part(" gave group "), s.code("group"), Part(" access to "), s.package()],
    "group.package_removed": lambda s: [s.who, Part(" took "), s.package(), Part(" away from group "), s.code("group")],
    "group.perms_changed": lambda s: [s.who, Part(" changed group "), s.code("group"),
                                      Part(f" from {s.data('old', '?')} to {s.data('perms', '?')}")],
    "org.created": lambda s: [s.who, Part(" created the organization "), _person(s.event.owner)],
    "org.updated": lambda s: [s.who, Part(" updated the profile of "), _person(s.event.owner)],
    # site administration (core/services/admin.py)
    "user.created": lambda s: [s.who, Part(" created the user "), _person(s.event.owner)],
    "user.disabled": lambda s: [s.who, Part(" disabled the user "), _person(s.event.owner)],
    "user.enabled": lambda s: [s.who, Part(" enabled the user "), _person(s.event.owner)],
    "user.password_reset": lambda s: [s.who, Part(" reset the password of "), _person(s.event.owner)],
    "user.unlocked": lambda s: [s.who, Part(" lifted the sign-in throttle of "), _person(s.event.owner)],
    # account (ui/account_settings.py, ui/access_tokens.py): never a secret, only names
    "token.created": lambda s: [s.who, Part(" created the access token "), s.code("token")],
    "token.removed": lambda s: [s.who, Part(" revoked the access token "), s.code("token")],
    "token.removed_all": lambda s: [s.who, Part(f" revoked all their access tokens ({s.data('count', '0')})")],
    "user.updated": lambda s: [s.who, Part(" updated their profile")],
    "user.password_changed": lambda s: [s.who, Part(" changed their password")],
}  # fmt: skip
"""Event kind -> its sentence. A kind not here (a format's own) is said plainly, as the log names it."""


def _plain(s: _Say) -> list[Part]:
    words = s.event.kind.replace(".", " ").replace("_", " ")
    return [s.who, Part(f" {words}"), *([Part(" "), *s.release()] if s.event.package else [])]


def sentence(
    event: Event,
    actor: str | None,
    *,
    home: str | None = None,
    exists: bool = True,
    count: int = 1,
    one_version: bool = True,
) -> list[Part]:
    """What happened, as parts of one sentence ("alice uploaded demo 1.2 (demo-1.2.tar.bz2)").

    `home`: the namespace the feed belongs to (its packages are named without their owner); `exists`: whether
    the package is still there to link to; `count`: how many alike events this sentence stands for, and
    `one_version`: whether they are all of `event.version` (else the sentence names no version).
    """
    say = _Say(event, _person(actor), home, exists, count, one_version)
    return SENTENCES.get(event.kind, _plain)(say)


def _fold_key(event: Event) -> tuple[Any, ...] | None:
    """Events that may fold into one sentence share this key (None: never folded)."""
    if event.kind in ("file.added", "file.removed", "label.added", "label.removed") and event.package:
        data = event.data or {}
        return (
            event.kind,
            event.actor_id,
            event.owner.lower(),
            event.package,
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
    rows = session.execute(select(Account.id, Account.login).where(Account.id.in_(ids)))
    return {account_id: login for account_id, login in rows}


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
    logins = sorted({o.login for o in by_login.values()})
    entries: list[Entry] = []
    last_key: tuple[Any, ...] | None = None
    cursor, scanned, batch_size = before, 0, per_page * 5
    while scanned < SCAN_LIMIT:
        batch = _newest(session, logins, cursor, batch_size)
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


def _newest(session: Session, logins: Sequence[str], before: int | None, n: int) -> list[Event]:
    """The `n` newest events of these owners older than `before`.

    One query per owner, each walking the (owner, serial) index backwards and stopping after `n` rows, then
    merged: the global newest `n` are among each owner's newest `n`. A single `owner IN (...) ORDER BY serial`
    would make the database gather and sort every event of those owners first."""
    found: list[Event] = []
    for login in logins:
        query = select(Event).where(Event.owner == login)
        if before is not None:
            query = query.where(Event.serial < before)
        found += session.scalars(query.order_by(Event.serial.desc()).limit(n))
    return sorted(found, key=lambda e: e.serial, reverse=True)[:n]


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
        one_version = len({e.version for e in entry.events}) == 1
        entry.parts = sentence(
            event, actor, home=home, exists=exists, count=entry.count, one_version=one_version
        )
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
    who = _person(actor)
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
