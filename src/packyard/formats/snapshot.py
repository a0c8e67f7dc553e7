"""What every format's snapshot routes share: `OWNER[/label/LABEL]/snapshot/N/...` paths, who sees which of the
snapshot's packages, and the answer's caching.

A snapshot is the owner's files as at event serial N (core.snapshots). The formats render it with the same pure
renderers as their live indexes, fed the history's rows instead of the live ones. Access is decided by
core.permissions, like the live routes, on each package's current access (or, once it is gone, the last access
the history knows). An answer at a serial never changes (only who may read it can): it is sent with an
immutable Cache-Control; an answer at a time is the same view, but the URL could map to a newer serial if an
event was still being committed at that time, so it is cached briefly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy.orm import Session

from packyard.core import indexes, permissions, queries, snapshots
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Account
from packyard.formats import channels
from packyard.web.serve import Blob, cache_control

SEGMENT = "snapshot"


@dataclass(frozen=True)
class Point:
    """A snapshot path as written: the owner's login, the label (None: the bare channel), N and the rest."""

    login: str
    label: str | None
    point: str
    rest: list[str]

    @property
    def prefix(self) -> str:
        """`OWNER[/label/L]/snapshot/N`, for redirects and messages."""
        label = f"/label/{self.label}" if self.label is not None else ""
        return f"{self.login}{label}/{SEGMENT}/{self.point}"


def split(path: str) -> Point | None:
    """`OWNER[/label/LABEL]/snapshot/N/REST...` (empty segments kept in REST), or None for a live path."""
    parts = path.split("/")
    login, rest, label = parts[0], parts[1:], None
    if len(rest) >= 2 and rest[0] == "label":
        label, rest = rest[1], rest[2:]
    if len(rest) >= 2 and rest[0] == SEGMENT and login:
        return Point(login, label, rest[1], rest[2:])
    return None


@dataclass(frozen=True)
class View:
    """An opened snapshot: the owner, the label and the serial the URL names."""

    owner: Account
    label: str
    at: snapshots.At
    rest: list[str]


def open_view(session: Session, point: Point) -> View:
    """The owner (404 when unknown), the serial (400/404/410 for a bad N) and the label, which must have
    existed at that serial (as a live label channel must exist now)."""
    owner = queries.owner(session, point.login)
    at = snapshots.resolve(session, point.point)
    label = point.label or "main"
    if not snapshots.label_existed(session, owner.id, label, at.serial):
        raise NotFound(f"label {owner.login}/{label} had no files at serial {at.serial}")
    return View(owner, label, at, point.rest)


def visible(
    session: Session, identity: Identity, files: Sequence[snapshots.SnapFile], via: str
) -> tuple[list[snapshots.SnapFile], channels.Audience]:
    """The files of packages the caller may see (core.permissions), and the audience (a cache key)."""
    refs = snapshots.refs(session, files)
    aud = channels.audience_of(identity, refs.values(), via)
    return [f for f in files if aud.sees(f.package_id)], aud


def readable(session: Session, identity: Identity, f: snapshots.SnapFile, via: str) -> bool:
    ref = snapshots.refs(session, [f])[f.package_id]
    return permissions.can(identity, permissions.Permission.READ, ref, via=via)


def public(session: Session, f: snapshots.SnapFile) -> bool:
    return snapshots.refs(session, [f])[f.package_id].access == "public"


def blob(f: snapshots.SnapFile, *, public: bool) -> Blob:
    """A snapshot's file as a download: the same bytes as ever, never counted (the file may be gone)."""
    return Blob(
        f.sha256,
        etag=f.md5,
        public=public,
        size=f.size,
        filename=f.basename.rsplit("/", 1)[-1],
        last_modified=f.uploaded_at,
    )


def document(
    request: Request,
    view: View,
    aud: channels.Audience,
    key: tuple[Hashable, ...],
    build: Callable[[], indexes.Document],
    *,
    encoding: str = "json",
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """A rendered snapshot document (cached by serial, slice and audience) with its ETag and cache policy."""
    cache: indexes.IndexCache = request.app.state.index_cache
    doc = cache.get_or_build(("snapshot", view.owner.id, view.label, view.at.serial, *key, aud.key), build)
    etag = doc.variant_etag(encoding)
    out = {
        "ETag": etag,
        "Cache-Control": cache_control(aud.public_only, immutable=view.at.by_serial, max_age=30),
        "Vary": "Authorization",
        "X-Packyard-Serial": str(view.at.serial),
        **(headers or {}),
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=out)
    return Response(doc.variant(encoding), media_type=media_type, headers=out)
