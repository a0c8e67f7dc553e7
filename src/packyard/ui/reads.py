"""Read-only lookups the pages need beyond `core.queries`; every listing is filtered by `core.permissions`.

Listings read light rows (id, owner, access, name, summary, types, modified) and ask `permissions.can_see` of
each, the same question every index and API listing asks; for anonymous callers the SQL already keeps only
public packages, so a private name never leaves the database for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.models import Access, Account, File, Package


@dataclass(frozen=True)
class Listed:
    """A package as listings show it (also a `permissions.PackageRef`)."""

    id: int
    owner_id: int
    access: str
    owner: str
    name: str
    summary: str
    package_types: list[str]
    modified_at: dt.datetime


def listing_query() -> Select[int, int, str, str, str, str, list[str], dt.datetime]:
    """The columns of a `Listed` row, owner login joined in: the home page, the dashboard and ui/catalog.py."""
    return select(
        Package.id,
        Package.owner_id,
        Package.access,
        Account.login,
        Package.name,
        Package.summary,
        Package.package_types,
        Package.modified_at,
    ).join(Account, Account.id == Package.owner_id)


def _visible(
    session: Session,
    ident: Identity,
    query: Select[int, int, str, str, str, str, list[str], dt.datetime],
    limit: int | None = None,
) -> list[Listed]:
    if ident.is_anonymous:
        query = query.where(Package.access == Access.PUBLIC)
        if limit is not None:
            query = query.limit(limit)
    out = []
    for pkg_id, owner_id, access, login, name, summary, types, modified in session.execute(query):
        item = Listed(pkg_id, owner_id, access, login, name, summary or "", list(types or []), modified)
        if permissions.can_see(ident, item, via="web"):
            out.append(item)
            if limit is not None and len(out) >= limit:
                break
    return out


def recent(session: Session, ident: Identity, limit: int = 12) -> list[Listed]:
    """Recently updated packages the caller may see (anonymous: public ones)."""
    return _visible(
        session, ident, listing_query().order_by(Package.modified_at.desc(), Package.id.desc()), limit
    )


def counts_by_type(session: Session) -> dict[str, int]:
    """How many public packages hold files of each type (public only: a count must not reveal private ones)."""
    rows = session.execute(
        select(File.package_type, func.count(distinct(File.package_id)))
        .join(Package, Package.id == File.package_id)
        .where(Package.access == Access.PUBLIC)
        .group_by(File.package_type)
    )
    return {kind: count for kind, count in rows}


def of_owners(session: Session, ident: Identity, owner_ids: Collection[int], limit: int = 50) -> list[Listed]:
    """The dashboard: packages of these namespaces (the caller's own and its organizations') it may see."""
    if not owner_ids:
        return []
    query = (
        listing_query()
        .where(Package.owner_id.in_(owner_ids))
        .order_by(Package.modified_at.desc(), Package.id.desc())
    )
    return _visible(session, ident, query, limit)


def organizations(session: Session, ids: Collection[int]) -> Sequence[Account]:
    if not ids:
        return []
    return session.scalars(select(Account).where(Account.id.in_(ids)).order_by(Account.login_key)).all()
