"""What every format's read routes share: `OWNER[/label/LABEL]/...` paths and who sees which packages.

A format index (conda repodata, PyPI pages, CRAN PACKAGES) is one owner's files under one label, filtered to the
packages the caller may read; `Audience` is that filter plus a stable key to cache the rendered result under.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, select, true
from sqlalchemy.orm import Session

from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound, PackyardError
from packyard.core.mirrors import service as mirror_service
from packyard.core.mirrors.service import MirrorInfo
from packyard.core.models import Access, Account, Label, Package


@dataclass(frozen=True)
class Channel:
    owner: Account
    label: str
    rest: list[str]
    labelled: bool
    """Whether the path named the label (`/label/main/` is the bare channel)."""
    mirror: MirrorInfo | None = None
    """The owner's mirror of the format asked for (`parse(mirror_format=...)`), whose routes proxy its upstream."""


def parse(
    session: Session, path: str, *, keep_empty: bool = False, mirror_format: str | None = None
) -> Channel:
    """`OWNER[/label/LABEL]/REST...`; 404 for an unknown owner or label. With `mirror_format`, an owner that
    mirrors that format is a proxy (`Channel.mirror`): its labels are upstream's, so any label name passes."""
    parts = path.split("/")
    if not keep_empty:
        parts = [p for p in parts if p]
    if not parts or not parts[0]:
        raise NotFound("no owner given in the path")
    owner = queries.owner(session, parts[0])
    mirror = mirror_service.of_owner(session, owner.id, mirror_format) if mirror_format else None
    label, rest, labelled = "main", parts[1:], False
    if len(rest) >= 2 and rest[0] == "label":
        label, rest, labelled = rest[1], rest[2:], True
        if (
            mirror is None
            and label != "main"
            and session.scalar(select(Label.id).where(Label.owner_id == owner.id, Label.name == label))
            is None
        ):
            raise NotFound(f"label {owner.login}/{label} not found")
    return Channel(owner, label, rest, labelled, mirror)


@dataclass(frozen=True)
class Audience:
    """The packages (of those with files in a format) the caller may read, and a cache key for that set."""

    visible: frozenset[int]
    hidden: frozenset[int]
    public_only: bool
    everything: bool = False
    """Every package of the owner is visible (all are public): `visible` is then not listed."""

    def sees(self, package_id: int) -> bool:
        return self.everything or package_id in self.visible

    def only_visible(self, package_id: SQLColumnExpression[int]) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows of visible packages: none at all when everything is visible."""
        return true() if self.everything else package_id.in_(self.visible)

    @property
    def key(self) -> str:
        if not self.hidden:
            return "all"
        return hashlib.sha1(",".join(map(str, sorted(self.visible))).encode()).hexdigest()  # noqa: S324

    def require_some(self, identity: Identity, what: str) -> None:
        """A channel whose packages are all hidden asks for credentials rather than looking empty."""
        if self.hidden and not self.visible:
            raise deny(identity, what)


def audience(
    session: Session, identity: Identity, owner_id: int, file_table: type[Any], via: str
) -> Audience:
    """Who sees what among the owner's packages that have files in `file_table` (a format's per-file table).

    Runs on every routed index request, so: when the owner has no package that is not public and
    core.permissions lets the caller see a public package of the owner, one EXISTS answers "everything" without
    listing packages; otherwise light rows, and a correlated EXISTS on the package index rather than a list of
    every file of the owner.
    """
    if permissions.can_see(identity, _PublicPackage(owner_id), via=via) and not session.scalar(
        select(exists().where(Package.owner_id == owner_id, Package.access != Access.PUBLIC))
    ):
        return Audience(frozenset(), frozenset(), public_only=True, everything=True)
    pkgs = session.execute(
        select(Package.id, Package.owner_id, Package.access).where(
            Package.owner_id == owner_id, exists().where(file_table.package_id == Package.id)
        )
    ).all()
    return audience_of(identity, pkgs, via)


@dataclass(frozen=True)
class _PublicPackage:
    """Any public package of an owner, to ask core.permissions whether the caller may see such a package: the
    answer cannot depend on which one (grants only ever add to a public package's READ)."""

    owner_id: int
    id: int = 0
    access: str = Access.PUBLIC


def audience_of(identity: Identity, pkgs: Iterable[permissions.PackageRef], via: str) -> Audience:
    pkgs = list(pkgs)
    visible = frozenset(p.id for p in pkgs if permissions.can_see(identity, p, via=via))
    hidden = frozenset(p.id for p in pkgs) - visible
    public_only = all(p.access == Access.PUBLIC for p in pkgs if p.id in visible)
    return Audience(visible, hidden, public_only)


def deny(identity: Identity, what: str) -> PackyardError:
    """A channel or index with nothing the caller may see: `permissions.unseen` (401 to anonymous callers, so
    that the client sends credentials; else 404), worded as for a name that does not exist."""
    return permissions.unseen(identity, what, via="conda")
