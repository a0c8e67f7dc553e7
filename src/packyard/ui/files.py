"""The Files tab (`/OWNER/PACKAGE/files`) and the browser's download route (`/OWNER/PACKAGE/files/VERSION/BASENAME`).

The tab lists every file of a package with its version, platform, labels, size, upload time, uploader, downloads
and sha256, filtered by label, version and type through a plain GET form, 50 files a page. It reads light rows
(id, version, basename) for the filter, sorts them newest version first (versions compare as versions, which SQL
cannot do), and reads the shown columns only for the page shown: a package with thousands of files costs one
narrow query, not thousands of loaded objects.

The download route exists because the other download URLs (`/OWNER/PACKAGE/VERSION/download/BASENAME`,
`/api/download/...`) read only a credential in the request (header or `/t/TOKEN/`), never the session cookie (see
ui/security.py: only pages read it). A signed-in browser following a link to a private package's file needs the
session, so this route asks `page_context` (credential first, then the session), then `permissions.can_see` as
the package page does, and hands the file to `serve_blob`, the one byte-serving function: same ETag, Range,
cache policy (`private` for anything not public) and download count as every other route. A file that does not
exist and one the caller may not see give the same 404, with the same message.

Like ui/routes.py, import this module only once the formats have registered (`ui.install` does): the owner
convertor leaves out their URL prefixes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Account, File, FileLabel, Label, Package, Release
from packyard.ui import routes as _pages  # noqa: F401 - registers the `packyard_login` convertor used below
from packyard.ui.package_reads import visible_package
from packyard.ui.render import file_url, page
from packyard.ui.security import page_context
from packyard.web.deps import services
from packyard.web.serve import Blob, serve_blob

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
FILE_CSP = "default-src 'none'; sandbox"
"""A downloaded file is the uploader's bytes: should a browser render one anyway, nothing in it may run."""


# --- the package, as the package page finds it -----------------------------------------------------------------


def count_files(session: Session, package_id: int) -> int:
    return session.scalar(select(func.count(File.id)).where(File.package_id == package_id)) or 0


def platform_of(package_type: str, attrs: Mapping[str, Any]) -> str:
    """What a file runs on, as users name it: a conda subdir, a wheel's or R binary's platform, or "source"."""
    if package_type == "conda":
        return str(attrs.get("subdir") or "")
    platform = attrs.get("platform")
    if isinstance(platform, str) and platform:
        return platform
    return "source" if package_type in ("pypi", "r") else ""


# --- the Files tab ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    basename: str
    version: str
    package_type: str
    platform: str
    labels: list[str]
    size: int
    uploaded_at: dt.datetime
    uploader: str | None
    downloads: int
    sha256: str
    url: str

    @property
    def uploaded_iso(self) -> str:
        return _utc(self.uploaded_at).isoformat(timespec="seconds")

    @property
    def uploaded_text(self) -> str:
        return _utc(self.uploaded_at).strftime("%Y-%m-%d %H:%M UTC")


def _utc(when: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite hands them back naive."""
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Filters:
    label: str = ""
    version: str = ""
    kind: str = ""

    @property
    def any(self) -> bool:
        return bool(self.label or self.version or self.kind)

    def query(self, **more: str | int) -> str:
        """The query string of these filters (and `more`), for pager links."""
        pairs = {"label": self.label, "version": self.version, "type": self.kind, **more}
        return urlencode({k: v for k, v in pairs.items() if v not in ("", None)})


@dataclass(frozen=True)
class FilesView:
    rows: list[FileRow]
    total: int
    """Files matching the filters."""
    nfiles: int
    """Files of the package."""
    page: int
    pages: int
    labels: list[str]
    versions: list[str]
    types: list[str]


def _options(session: Session, pkg: Package) -> tuple[list[str], list[str], list[str]]:
    """The values the filters offer: labels, versions (newest first) and types that the package's files have."""
    labels = session.scalars(
        select(Label.name)
        .distinct()
        .join(FileLabel, FileLabel.label_id == Label.id)
        .join(File, File.id == FileLabel.file_id)
        .where(File.package_id == pkg.id)
    ).all()
    versions = session.scalars(
        select(Release.version)
        .distinct()
        .join(File, File.release_id == Release.id)
        .where(File.package_id == pkg.id)
    ).all()
    types = session.scalars(select(File.package_type).distinct().where(File.package_id == pkg.id)).all()
    return (
        sorted(labels, key=lambda name: (name != "main", name)),
        sorted(versions, key=queries.version_key, reverse=True),
        sorted(types),
    )


def _matching(session: Session, pkg: Package, filters: Filters) -> list[int]:
    """Ids of the files that pass the filters, newest version first, then by name."""
    query = (
        select(File.id, Release.version, File.basename)
        .join(Release, Release.id == File.release_id)
        .where(File.package_id == pkg.id)
    )
    if filters.version:
        query = query.where(Release.version == filters.version)
    if filters.kind:
        query = query.where(File.package_type == filters.kind)
    if filters.label:
        labelled = (
            select(FileLabel.file_id)
            .join(Label, Label.id == FileLabel.label_id)
            .where(Label.owner_id == pkg.owner_id, Label.name == filters.label)
        )
        query = query.where(File.id.in_(labelled))
    rows = sorted(session.execute(query).all(), key=lambda row: row[2])
    rows.sort(key=lambda row: queries.version_key(row[1]), reverse=True)
    return [row[0] for row in rows]


def _rows(session: Session, pkg: Package, ids: Sequence[int]) -> list[FileRow]:
    """The page's files, reading only the columns shown: a file's attrs (a wheel's whole core metadata, a conda
    package's index.json) would cost more to load than the rest of the page, and only two keys of them are shown."""
    if not ids:
        return []
    query = (
        select(
            File.id,
            File.basename,
            File.package_type,
            File.size,
            File.uploaded_at,
            File.ndownloads,
            File.sha256,
            File.attrs["subdir"].as_string(),
            File.attrs["platform"].as_string(),
            Release.version,
            Account.login,
        )
        .join(Release, Release.id == File.release_id)
        .outerjoin(Account, Account.id == File.uploader_id)
        .where(File.id.in_(ids))
    )
    found = {row[0]: row for row in session.execute(query)}
    labels: dict[int, list[str]] = {}
    named = (
        select(FileLabel.file_id, Label.name)
        .join(Label, Label.id == FileLabel.label_id)
        .where(FileLabel.file_id.in_(ids))
        .order_by(Label.name)
    )
    for file_id, label in session.execute(named):
        labels.setdefault(file_id, []).append(label)
    owner, name = pkg.owner.login, pkg.name
    out = []
    for file_id in ids:
        row = found.get(file_id)
        if row is None:  # removed between the two reads
            continue
        _, basename, kind, size, uploaded_at, downloads, sha256, subdir, platform, version, uploader = row
        out.append(
            FileRow(
                basename=basename,
                version=version,
                package_type=kind,
                platform=platform_of(kind, {"subdir": subdir, "platform": platform}),
                labels=labels.get(file_id, []),
                size=size,
                uploaded_at=uploaded_at,
                uploader=uploader,
                downloads=downloads,
                sha256=sha256,
                url=file_url(owner, name, version, basename),
            )
        )
    return out


def files_view(session: Session, pkg: Package, filters: Filters, page_number: int) -> FilesView:
    labels, versions, types = _options(session, pkg)
    ids = _matching(session, pkg, filters)
    pages = max(1, -(-len(ids) // PER_PAGE))
    page_number = min(max(page_number, 1), pages)
    start = (page_number - 1) * PER_PAGE
    rows = _rows(session, pkg, ids[start : start + PER_PAGE])
    return FilesView(
        rows, len(ids), count_files(session, pkg.id), page_number, pages, labels, versions, types
    )


@router.get("/{owner:packyard_login}/{name}/files")
def files_tab(
    request: Request,
    owner: str,
    name: str,
    label: str = Query("", max_length=100),
    version: str = Query("", max_length=200),
    kind: str = Query("", alias="type", max_length=20),
    page_number: int = Query(1, alias="page", ge=1, le=100_000),
) -> Response:
    ctx = page_context(request)
    filters = Filters(label.strip(), version.strip(), kind.strip())
    with services(request).db.read() as session:
        pkg = visible_package(session, ctx.identity, owner, name)
        view = files_view(session, pkg, filters, page_number)
        manage = file_actions_view(session, ctx.identity, pkg)
    back = f"/{pkg.owner.login}/{pkg.name}/files" + (
        f"?{filters.query(page=view.page)}" if filters.any or view.page > 1 else ""
    )
    return page(
        request, ctx, "files.html", pkg=pkg, owner=pkg.owner, view=view, filters=filters, nfiles=view.nfiles,
        tab="files", manage=manage, back=back,
    )  # fmt: skip


@dataclass(frozen=True)
class VersionRow:
    version: str
    files: int


@dataclass(frozen=True)
class FileActions:
    """What the Files tab offers a caller who may write the package (ui/file_actions.py does it)."""

    labels: list[str]
    """The owner's labels, to pick from (a new one may be typed)."""
    versions: list[VersionRow]
    """Every version with its file count, newest first, each with "Actions > Remove"."""


def file_actions_view(session: Session, ident: Identity, pkg: Package) -> FileActions | None:
    """None unless `core.permissions` lets the caller write the package: no checkbox, no button otherwise."""
    if not permissions.can(ident, permissions.Permission.WRITE, pkg, via="web"):
        return None
    names = session.scalars(select(Label.name).where(Label.owner_id == pkg.owner_id)).all()
    counts = session.execute(
        select(Release.version, func.count(File.id))
        .outerjoin(File, File.release_id == Release.id)
        .where(Release.package_id == pkg.id)
        .group_by(Release.id, Release.version)
    ).all()
    versions = sorted(
        (VersionRow(v, n) for v, n in counts), key=lambda r: queries.version_key(r.version), reverse=True
    )
    labels = sorted(set(names) | {"main"}, key=lambda n: (n != "main", n.lower()))
    return FileActions(labels, versions)


# --- downloads in the browser ----------------------------------------------------------------------------------


@router.api_route("/{owner:packyard_login}/{name}/files/{version}/{basename:path}", methods=["GET", "HEAD"])
def download(request: Request, owner: str, name: str, version: str, basename: str) -> Response:
    ident = page_context(request).identity
    svc = services(request)
    with svc.db.read() as session:
        try:
            pkg = visible_package(session, ident, owner, name, with_files=True)
            found = Blob.of_file(queries.file(queries.release(pkg, version), basename), pkg)
        except NotFound:
            raise NotFound(f"file {owner}/{name}/{version}/{basename} not found") from None
    headers = {"Content-Security-Policy": FILE_CSP}
    if not found.public:
        headers["Vary"] = "Cookie, Authorization"  # the session decides between these bytes and a 404
    return serve_blob(svc, request, found, headers=headers)
