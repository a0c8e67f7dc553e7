"""PyPI's changelog (journal) read from the event log, showing each caller only what it may know.

Events name packages by (owner login, package name). A package name can live several lives: created, removed,
created again (perhaps private this time); transferred away and back. So an event is judged by the life of its
package it belongs to — the lives of (owner, name) are separated by `package.removed` events and by
`package.transferred` events that moved the package away (those are logged under the new owner, with
`old_owner`):

- Only lives that had Python files under the label being served count (a conda-only package, or a project
  only ever uploaded to another label, never shows).
- An event of the package's *current* life is shown when `can_see(identity, package, via="pypi")`.
- An event of an *ended* life is shown when the package's access when it ended (replayed from
  `package.created`/`access.changed`/transfers) lets the caller see it — judged by `can_see` on a stand-in
  package with that access. So mirrors learn that a public project was removed, and a removed private project is
  never named to anybody outside it.

A project's history is as visible as the project: when a private package is made public, its earlier events show
too. Only events about the label being served count as file changes ("main" by default): `file.added` and
`file.removed` for files carrying it, and `label.added`/`label.removed` of that label (shown as adding or removing
the file). Release events count when the release has (or had) such files in that life. Conda, R and plain files
of a package with several formats never show.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.models import Access, Account, Event, Package, package_key
from packyard.formats.pypi.catalog import DEFAULT_LABEL, Scope

MAX_ENTRIES = 50_000
_CHUNK = 5_000
_FILE_KINDS = ("file.added", "file.removed")
_LABEL_KINDS = ("label.added", "label.removed")
_LIFE_KINDS = ("package.created", "package.removed", "access.changed")
_KINDS = (
    *_FILE_KINDS,
    *_LABEL_KINDS,
    *_LIFE_KINDS,
    "file.yanked",
    "package.transferred",
    "package.updated",
    "release.created",
    "release.updated",
    "release.removed",
)

Key = tuple[str, str]
"""(owner login lower-cased, package name lower-cased)."""


@dataclass(frozen=True)
class Entry:
    name: str
    version: str | None
    at: dt.datetime
    action: str
    serial: int

    @property
    def timestamp(self) -> int:
        return int(self.at.timestamp())


def python_tag(filename: str) -> str:
    """The python_version PyPI shows for a file: the wheel's python tag, "source" for an sdist."""
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return parts[-3] if len(parts) >= 5 else "any"
    return "source"


def _pypi(event: Event) -> bool:
    return (event.data or {}).get("package_type") == "pypi"


class Journal:
    """Per-request view of the event log for one scope; caches what it learns about package lives."""

    def __init__(self, session: Session, scope: Scope) -> None:
        self.session = session
        self.scope = scope
        self._transfers: list[tuple[int, Key, Key]] | None = None
        self._lifecycle: dict[str, list[Event]] = {}
        self._current: dict[Key, Package | None] = {}
        self._versions: dict[tuple[Key, int], set[str]] = {}
        self._visible: dict[tuple[Key, int], bool] = {}
        self._owner_ids: dict[str, int] = {}
        self._package_events: dict[Key, list[Event]] = {}
        self._end_serials: dict[Key, list[int]] = {}

    # --- reading ------------------------------------------------------------------------------------------

    def entries(
        self, *, after_serial: int = 0, after: dt.datetime | None = None, limit: int = MAX_ENTRIES
    ) -> list[Entry]:
        """Visible entries with a serial above `after_serial` (and a time after `after`), ascending."""
        out: list[Entry] = []
        for event in self._scan(after_serial, after, descending=False):
            entry = self.entry(event)
            if entry is not None:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def newest(self, *, after: dt.datetime | None = None) -> Iterator[Entry]:
        """Visible entries, newest first."""
        for event in self._scan(0, after, descending=True):
            entry = self.entry(event)
            if entry is not None:
                yield entry

    def last_serial(self) -> int:
        return next((e.serial for e in self.newest()), 0)

    def _scan(self, after_serial: int, after: dt.datetime | None, *, descending: bool) -> Iterator[Event]:
        cursor: int | None = None
        while True:
            query = select(Event).where(Event.kind.in_(_KINDS), Event.serial > after_serial)
            if self.scope.owner is not None:
                query = query.where(Event.owner == self.scope.owner.login)
            if after is not None:
                query = query.where(Event.at > after)
            if cursor is not None:
                query = query.where(Event.serial < cursor if descending else Event.serial > cursor)
            order = Event.serial.desc() if descending else Event.serial
            rows = self.session.scalars(query.order_by(order).limit(_CHUNK)).all()
            yield from rows
            if len(rows) < _CHUNK:
                return
            cursor = rows[-1].serial

    # --- one event ----------------------------------------------------------------------------------------

    def entry(self, event: Event) -> Entry | None:
        if not event.package:
            return None
        action = self._action(event)
        if action is None:
            return None
        key = (event.owner.lower(), event.package.lower())
        start, end = self._life(key, event)
        if event.kind.startswith("release.") and event.version not in self._python_versions(
            key, event, start, end
        ):
            return None
        if not self._shown(key, event, start, end):
            return None
        return Entry(event.package, event.version, event.at, action, event.serial)

    def _action(self, event: Event) -> str | None:
        kind, data, label = event.kind, event.data or {}, self.scope.label
        name = event.basename or ""
        if kind in _FILE_KINDS:
            labels = data.get("labels")
            if not _pypi(event) or (labels is not None and label not in labels):
                return None
            return f"add {python_tag(name)} file {name}" if kind == "file.added" else f"remove file {name}"
        if kind in _LABEL_KINDS:
            if not _pypi(event) or data.get("label") != label:
                return None
            return f"add {python_tag(name)} file {name}" if kind == "label.added" else f"remove file {name}"
        if kind == "file.yanked":
            if not _pypi(event):
                return None
            return f"{'yank' if data.get('yanked') else 'unyank'} file {name}"
        return {
            "package.created": "create",
            "package.transferred": "create",
            "package.updated": "update project",
            "package.removed": "remove project",
            "access.changed": "update access",
            "release.created": "new release",
            "release.updated": "update release",
            "release.removed": "remove release",
        }.get(kind)

    # --- lives --------------------------------------------------------------------------------------------

    def _transfer_list(self) -> list[tuple[int, Key, Key]]:
        if self._transfers is None:
            rows = self.session.scalars(select(Event).where(Event.kind == "package.transferred")).all()
            self._transfers = [
                (
                    e.serial,
                    (e.owner.lower(), (e.package or "").lower()),
                    (str((e.data or {}).get("old_owner") or "").lower(), (e.package or "").lower()),
                )
                for e in rows
            ]
        return self._transfers

    def _events_of(self, owner: str, package: str) -> list[Event]:
        """The lifecycle events (created, removed, access changed) of one package, by serial."""
        key = (owner.lower(), package)
        if key not in self._package_events:
            if owner not in self._lifecycle:
                self._lifecycle[owner] = list(
                    self.session.scalars(
                        select(Event)
                        .where(Event.owner == owner, Event.kind.in_(_LIFE_KINDS))
                        .order_by(Event.serial)
                    )
                )
            self._package_events[key] = [
                e for e in self._lifecycle[owner] if (e.package or "").lower() == package
            ]
        return self._package_events[key]

    def _ends(self, key: Key, owner: str) -> list[int]:
        if key not in self._end_serials:
            removed = [e.serial for e in self._events_of(owner, key[1]) if e.kind == "package.removed"]
            moved = [serial for serial, _, old in self._transfer_list() if old == key]
            self._end_serials[key] = sorted(removed + moved)
        return self._end_serials[key]

    def _life(self, key: Key, event: Event) -> tuple[int, int | None]:
        """(serial the life started after, serial that ended it or None) for the life holding this event."""
        ends = self._ends(key, event.owner)
        i = bisect.bisect_left(ends, event.serial)
        return (ends[i - 1] if i else 0), (ends[i] if i < len(ends) else None)

    def _python_versions(self, key: Key, event: Event, start: int, end: int | None) -> set[str]:
        """Versions that had Python files under the label in this life (empty: not a Python project then)."""
        cache_key = (key, start)
        if cache_key not in self._versions:
            query = select(Event).where(
                Event.owner == event.owner,
                func.lower(Event.package) == key[1],
                Event.kind.in_((*_FILE_KINDS, *_LABEL_KINDS)),
                Event.serial > start,
            )
            if end is not None:
                query = query.where(Event.serial <= end)
            self._versions[cache_key] = {
                e.version for e in self.session.scalars(query) if e.version and self._action(e) is not None
            }
        return self._versions[cache_key]

    def _shown(self, key: Key, event: Event, start: int, end: int | None) -> bool:
        cache_key = (key, start)
        if cache_key not in self._visible:
            self._visible[cache_key] = self._judge(key, event, start, end)
        return self._visible[cache_key]

    def _judge(self, key: Key, event: Event, start: int, end: int | None) -> bool:
        identity = self.scope.identity
        if not self._python_versions(key, event, start, end):
            return False
        if end is None:
            pkg = self._package(key)
            if pkg is not None:
                return permissions.can_see(identity, pkg, via="pypi")
        stand_in = Package(
            id=-1,
            owner_id=self._owner_id(key[0]),
            name=key[1],
            access=self._access(key, event.owner, end, depth=0),
        )
        return permissions.can_see(identity, stand_in, via="pypi")

    def _package(self, key: Key) -> Package | None:
        if key not in self._current:
            self._current[key] = self.session.scalar(
                select(Package)
                .join(Account, Account.id == Package.owner_id)
                .where(
                    Account.login_key == key[0],
                    Package.name_key == package_key(key[1]),
                    func.lower(Package.name) == key[1],
                )
            )
        return self._current[key]

    def _owner_id(self, login_key: str) -> int:
        if login_key not in self._owner_ids:
            found = self.session.scalar(select(Account.id).where(Account.login_key == login_key))
            self._owner_ids[login_key] = found if found is not None else -1
        return self._owner_ids[login_key]

    def _access(self, key: Key, owner: str, at: int | None, *, depth: int) -> str:
        """The package's access just before serial `at` (None: now), replayed from the log; private if unknown."""
        limit = at if at is not None else float("inf")
        ends = [s for s in self._ends(key, owner) if s < limit]
        start = ends[-1] if ends else 0
        access: str | None = None
        changed_at = start
        for e in self._events_of(owner, key[1]):
            if start < e.serial <= limit:
                data: dict[str, Any] = e.data or {}
                value = data.get("access") if e.kind == "package.created" else data.get("new")
                if e.kind in ("package.created", "access.changed") and value:
                    access, changed_at = str(value), e.serial
        for serial, new, old in self._transfer_list():
            if new == key and changed_at < serial <= limit and depth < 8:
                # Moved here from another owner after the last explicit change: it kept its access.
                old_owner = self._login_of(old[0])
                if old_owner is not None:
                    access = self._access(old, old_owner, serial, depth=depth + 1)
        return access or Access.PRIVATE

    def _login_of(self, login_key: str) -> str | None:
        """The login exactly as events record it (they store the display form)."""
        return self.session.scalar(select(Event.owner).where(func.lower(Event.owner) == login_key).limit(1))


def project_serial(session: Session, pkg: Package) -> int:
    """The serial of the last event about this package (its current life's last change)."""
    found = session.scalar(
        select(func.max(Event.serial)).where(
            Event.owner == pkg.owner.login,
            func.lower(Event.package) == pkg.name.lower(),
            Event.kind.in_(_KINDS),
        )
    )
    return int(found or 0)


def project_serials(session: Session, pkgs: list[Package]) -> dict[int, int]:
    """`project_serial` for many packages in one query: package id -> serial."""
    if not pkgs:
        return {}
    owners = {p.owner.login for p in pkgs}
    rows = session.execute(
        select(Event.owner, func.lower(Event.package), func.max(Event.serial))
        .where(Event.owner.in_(owners), Event.kind.in_(_KINDS))
        .group_by(Event.owner, func.lower(Event.package))
    ).all()
    serials = {(owner, name): int(serial) for owner, name, serial in rows}
    return {p.id: serials.get((p.owner.login, p.name.lower()), 0) for p in pkgs}


__all__ = [
    "DEFAULT_LABEL",
    "MAX_ENTRIES",
    "Entry",
    "Journal",
    "project_serial",
    "project_serials",
    "python_tag",
]
