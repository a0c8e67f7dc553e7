"""The one way stored bytes leave the server: files (counted downloads) and blobs (side documents).

Every byte-serving route reads what it needs in its one read session, closes it, then calls one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from packyard.core.models import Access, File, Package
from packyard.core.services import packages as pkg_service
from packyard.web.deps import Services


@dataclass(frozen=True)
class Download:
    """What serving a stored file needs, taken from the rows while the route's read session is open.

    A route reads the file (and decides access) in its one read session and closes it before calling
    `file_response`, which counts the download through a connection of its own: a route that held its read
    connection while asking for another wedged the server once every worker thread held one (issue #10).
    """

    file_id: int
    basename: str
    sha256: str
    md5: str
    size: int
    public: bool

    @classmethod
    def of(cls, f: File, pkg: Package) -> Download:
        return cls(f.id, f.basename, f.sha256, f.md5, f.size, pkg.access == Access.PUBLIC)


def file_response(svc: Services, request: Request, f: Download) -> Response:
    """The bytes of a stored file; `ETag: <md5>` on the request (binstar's md5 argument) gives a 304.

    Call it after the read session is closed: it takes a write connection to count the download.
    """
    if (
        request.headers.get("etag", "").strip('"') == f.md5
        or request.headers.get("if-none-match", "").strip('"') == f.md5
    ):
        return Response(status_code=304, headers={"ETag": f'"{f.md5}"'})
    pkg_service.increment_downloads(svc.db, f.file_id)
    headers = {
        "ETag": f'"{f.md5}"',
        # Files never change; but a private one must not sit in shared caches.
        "Cache-Control": f"{'public' if f.public else 'private'}, max-age=31536000, immutable",
        "Content-Disposition": content_disposition(f.basename.rsplit("/", 1)[-1]),
    }
    path = svc.store.local_path(f.sha256)
    if path is not None:
        return FileResponse(path, media_type="application/octet-stream", headers=headers)
    handle = svc.store.open(f.sha256)
    return StreamingResponse(
        iter(lambda: handle.read(1 << 16), b""),
        media_type="application/octet-stream",
        headers={**headers, "Content-Length": str(f.size)},
    )


def content_disposition(filename: str) -> str:
    """`attachment` with the file name; RFC 6266's `filename*` carries names that are not plain ASCII
    (a header is Latin-1 on the wire, so `données.csv` or `数据.csv` cannot go in `filename` as they are)."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    if plain == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
