"""What the notebook, environment and project routes share: finding the file a URL means, and serving a blob.

Access is decided by `core.permissions` alone (through `readable`), via the REST interface: these documents are
what the REST API's packages hold, so the same token scopes read them.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.orm import Session

from packyard.api.deps import Services
from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Access, File, Package, Release
from packyard.core.permissions import Permission

VIA = "api"


def readable(session: Session, identity: Identity, owner: str, name: str) -> Package:
    """The package, if the caller may read it: 404 if there is none, 401 anonymous, 403 not allowed."""
    pkg = queries.package(session, owner, name)
    permissions.require(identity, Permission.READ, pkg, via=VIA)
    return pkg


def files_of(pkg: Package, package_type: str, version: str | None = None) -> list[tuple[Release, File]]:
    """The package's files of one type (in one version), oldest release first."""
    releases = sorted(pkg.releases, key=lambda r: queries.version_key(r.version))
    return [
        (rel, f)
        for rel in releases
        if version is None or rel.version == version
        for f in rel.files
        if f.package_type == package_type
    ]


def pick(pkg: Package, package_type: str, version: str | None, what: str) -> tuple[Release, File]:
    """The file a URL means: of the given version (or the latest one), the most recently uploaded."""
    found = files_of(pkg, package_type, version)
    if not found:
        where = f"{pkg.owner.login}/{pkg.name}" + (f"/{version}" if version else "")
        raise NotFound(f"{where} has no {what}")
    latest = max(queries.version_key(rel.version) for rel, _ in found)
    newest = [(rel, f) for rel, f in found if queries.version_key(rel.version) == latest]
    return max(newest, key=lambda pair: (pair[1].uploaded_at, pair[1].id))


def cache_control(access: str) -> str:
    """Latest-version URLs change when a version is uploaded: short-lived, and never shared when not public."""
    return "public, max-age=60" if access == Access.PUBLIC else "private, max-age=0, must-revalidate"


def blob_response(
    svc: Services,
    request: Request,
    sha256: str,
    *,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A stored blob (a file or a side document), with a strong ETag and 304 on `If-None-Match`."""
    etag = f'"{sha256}"'
    out = {"ETag": etag, "Vary": "Authorization", "X-Content-Type-Options": "nosniff", **(headers or {})}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=out)
    path = svc.store.local_path(sha256)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=out)
    handle = svc.store.open(sha256)
    return StreamingResponse(iter(lambda: handle.read(1 << 16), b""), media_type=media_type, headers=out)
