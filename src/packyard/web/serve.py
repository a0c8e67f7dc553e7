"""The one way stored bytes leave the server (`serve_blob`), and the one cache policy (`cache_control`).

Every byte-serving route (REST downloads, conda package files and shards, PyPI files and their PEP 658
metadata, CRAN tarballs, notebooks, environments, files, projects) reads what it needs in its one read session,
closes it, and hands a `Blob` to `serve_blob`. That sets ETag, Last-Modified, Content-Length, Accept-Ranges (Range
and HEAD for stored files), Content-Disposition for downloads and the cache policy from who may see the bytes.
Index documents rendered from memory (repodata, simple pages, PACKAGES) keep their own response path
(formats.front.respond), with the same `cache_control`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import IO
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from packyard.core.models import Access, File, Package
from packyard.web.deps import Services

IMMUTABLE_MAX_AGE = 31536000
"""A year: what `immutable` URLs (a version's file, a content-addressed shard) may be cached for."""
SHORT_MAX_AGE = 60
""""Latest" URLs and index documents change when something is uploaded: a minute in shared caches."""
CHUNK = 4 << 20
"""Reads of a stored file, 4 MiB each: every read is a thread hop, and with 1 MiB a 1 GiB download ran at 0.60-0.70x
nginx's sendfile against 0.80-0.86x with 4 MiB in alternating quiet runs (docs/benchmarks.md). The cost is one
4 MiB buffer per download in flight (Starlette's default, 64 KiB, ran at 0.3x)."""
INLINE = 256 * 1024
"""A stored file up to this size is read whole in the route's worker thread and sent in one piece: a streamed
file costs three more thread hops (open, read, close), most of a small file's time (`pip download`)."""


def cache_control(public: bool, *, immutable: bool = False, max_age: int = SHORT_MAX_AGE) -> str:
    """The cache policy of every answer that carries a package's bytes or an index of them.

    Only what anyone may read is `public` (a shared proxy cache may keep it and hand it to anyone); everything
    that needed credentials is `private`, so only the caller's own cache keeps it. `immutable` is for URLs whose
    bytes never change; the rest (latest-version URLs, index documents) are short-lived, and when private,
    revalidated on every use.
    """
    if immutable:
        return f"{'public' if public else 'private'}, max-age={IMMUTABLE_MAX_AGE}, immutable"
    return f"public, max-age={max_age}" if public else "private, max-age=0, must-revalidate"


@dataclass(frozen=True)
class Blob:
    """What serving stored bytes needs, taken from the rows while the route's read session is open.

    A route reads (and decides access) in its one read session and closes it before calling `serve_blob`: a
    route that held its read connection while asking for another wedged the server once every worker thread
    held one (issue #10).
    """

    sha256: str
    """Where the bytes are in the blob store."""
    etag: str
    """The strong validator, unquoted (a file's md5, as binstar's `ETag` request header expects; else a sha256)."""
    public: bool
    """Whether anyone may read these bytes: decides `public` or `private` caching and `Vary: Authorization`."""
    media_type: str = "application/octet-stream"
    size: int | None = None
    """Known from the database: spares a stat of the file per request. None: stat it."""
    filename: str | None = None
    """Sent as `Content-Disposition: attachment` (downloads); None for what a browser shows (a notebook page)."""
    last_modified: datetime | None = None
    immutable: bool = True
    """The URL always means these bytes (a version's file, a content-addressed document); False for "latest"."""
    count_download: int | None = None
    """A file id: a GET that sends the bytes counts as one download of it."""

    @classmethod
    def of_file(cls, f: File, pkg: Package) -> Blob:
        """A package file as a download: named, counted, immutable at its versioned URL."""
        return cls(
            sha256=f.sha256,
            etag=f.md5,
            public=pkg.access == Access.PUBLIC,
            size=f.size,
            filename=f.basename.rsplit("/", 1)[-1],
            last_modified=f.uploaded_at,
            count_download=f.id,
        )


def serve_blob(
    svc: Services,
    request: Request,
    blob: Blob,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Response:
    """The bytes of `blob` (from the store, or `body` when the route holds them already), or 304.

    `If-None-Match` (and binstar's `ETag` request header) matching the blob's validator gives 304. A counted
    download is recorded in memory (core.services.downloads) and written later in a batch: serving a file never
    waits for the database's writer. With `PACKYARD_ACCEL_REDIRECT` set, a stored file's bytes are left to the
    front proxy (`X-Accel-Redirect`), which then also answers Range requests. Call it from a sync route (a worker
    thread): it may stat or read a small file before it returns.
    """
    out = _headers(blob, headers)
    if _not_modified(request, blob.etag):
        return Response(status_code=304, headers=out)
    if blob.count_download is not None and _is_download(request):
        svc.downloads.add(blob.count_download)
    if body is not None:
        return Response(body, media_type=blob.media_type, headers=out)
    path = svc.store.local_path(blob.sha256)
    if path is None:
        return _remote(svc, request, blob, out)
    accel = svc.settings.accel_redirect
    if accel:
        internal = _internal_uri(accel, svc.settings.blob_root, path)
        if internal is not None:
            return Response(media_type=blob.media_type, headers={**out, "X-Accel-Redirect": internal})
    found = _stat(blob) or os.stat(path)  # here, in the route's worker thread: not one more thread hop
    if request.method == "GET" and "range" not in request.headers and found.st_size <= INLINE:
        with open(path, "rb") as fh:
            data = fh.read()
        return Response(data, media_type=blob.media_type, headers={**out, "Accept-Ranges": "bytes"})
    return StoredFile(path, media_type=blob.media_type, headers=out, stat_result=found)


class StoredFile(FileResponse):
    """Starlette's file response (Range, HEAD, If-Range), reading CHUNK (4 MiB) at a time."""

    chunk_size = CHUNK


def _headers(blob: Blob, extra: Mapping[str, str] | None) -> dict[str, str]:
    out = {
        "ETag": f'"{blob.etag}"',
        "Cache-Control": cache_control(blob.public, immutable=blob.immutable),
        "X-Content-Type-Options": "nosniff",
    }
    if not blob.public:
        out["Vary"] = "Authorization"  # the answer (200, 401 or 403) depends on the credentials
    if blob.last_modified is not None:
        out["Last-Modified"] = format_datetime(_utc(blob.last_modified), usegmt=True)
    if blob.filename is not None:
        out["Content-Disposition"] = content_disposition(blob.filename)
    return {**out, **(extra or {})}


def _not_modified(request: Request, etag: str) -> bool:
    if request.headers.get("etag", "").strip('"') == etag:  # anaconda-client sends the md5 it has
        return True
    match = request.headers.get("if-none-match")
    return match is not None and (match.strip() == "*" or f'"{etag}"' in match or match.strip() == etag)


def _is_download(request: Request) -> bool:
    """A GET of the whole file, or of a range from its start: a resumed download is not counted twice."""
    if request.method != "GET":
        return False
    wanted = request.headers.get("range")
    return wanted is None or wanted.replace(" ", "").startswith("bytes=0-")


def _stat(blob: Blob) -> os.stat_result | None:
    """What FileResponse needs of a stat (size, mtime, a regular file), from the database instead of a syscall
    in a worker thread; the blob store never changes a blob's bytes."""
    if blob.size is None or blob.last_modified is None:
        return None
    mtime = int(_utc(blob.last_modified).timestamp())
    return os.stat_result((stat.S_IFREG | 0o444, 0, 0, 1, 0, 0, blob.size, mtime, mtime, mtime))


def _utc(when: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back naive, PostgreSQL in the session's time zone."""
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _internal_uri(prefix: str, root: os.PathLike[str] | str, path: os.PathLike[str] | str) -> str | None:
    try:
        relative = os.path.relpath(path, root)
    except ValueError:
        return None
    if relative.startswith(".."):
        return None
    return f"{prefix.rstrip('/')}/{quote(relative.replace(os.sep, '/'))}"


def _remote(svc: Services, request: Request, blob: Blob, headers: dict[str, str]) -> Response:
    """A store without local files (S3).

    With `PACKYARD_BLOB_REDIRECT`, a GET of a download (a blob with a file name) is a 302 to a presigned URL
    that lives `PACKYARD_BLOB_REDIRECT_MINUTES` and makes the store answer with the same Content-Disposition and
    Content-Type. The caller's route has decided access before this runs, so a private file is redirected only
    for a caller allowed to read it, and the URL stops working minutes later. Documents a browser shows (a
    notebook page) are never redirected: they would run from the bucket's origin, outside the site's policy.

    Otherwise the bytes stream through the server: a Range (one range; several get the whole file) is passed to
    the store, answered 206, or 416 when it starts past the end, as `FileResponse` answers for local files;
    HEAD answers from the database without asking the store.
    """
    if svc.settings.blob_redirect and request.method == "GET" and blob.filename is not None:
        url = svc.store.presigned_url(
            blob.sha256,
            svc.settings.blob_redirect_minutes * 60,
            content_type=blob.media_type,
            content_disposition=headers.get("Content-Disposition"),
        )
        if url is not None:
            moved = {"Location": url, "Cache-Control": "private, no-store"}  # the URL expires: never keep it
            if not blob.public:
                moved["Vary"] = "Authorization"
            return Response(status_code=302, headers=moved)
    size = blob.size if blob.size is not None else svc.store.size(blob.sha256)
    headers = {**headers, "Accept-Ranges": "bytes"}
    start, stop, status = 0, size, 200
    wanted = request.headers.get("range")
    if wanted is not None and _range_applies(request, headers):
        try:
            ranges = StoredFile._parse_range_header(wanted, size)
        except MalformedRangeHeader as exc:
            return PlainTextResponse(exc.content, status_code=400)
        except RangeNotSatisfiable:
            return PlainTextResponse("", status_code=416, headers={"Content-Range": f"bytes */{size}"})
        if len(ranges) == 1:
            (start, stop), status = ranges[0], 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status_code=status, media_type=blob.media_type, headers=headers)
    handle = svc.store.open(blob.sha256, start, stop if stop < size else None)  # to the end: no Range needed
    if stop - start <= INLINE:  # one read here, in the route's worker thread, as for a small local file
        with handle:
            data = handle.read()
        return Response(data, status_code=status, media_type=blob.media_type, headers=headers)
    return StreamingResponse(
        _chunks(handle, stop - start), status_code=status, media_type=blob.media_type, headers=headers
    )


def _range_applies(request: Request, headers: Mapping[str, str]) -> bool:
    """If-Range (as Starlette's FileResponse reads it): the Range counts only if the validator still matches."""
    condition = request.headers.get("if-range")
    if condition is None:
        return True
    return not condition.startswith("W/") and condition in (headers.get("ETag"), headers.get("Last-Modified"))


REMOTE_CHUNK = 1 << 20
"""Reads of a remote (S3) blob, 1 MiB each: the network, not the thread hops, bounds the rate, and each download in
flight holds less (a 1 GiB download peaked 34 MB above the node's idle RSS with 4 MiB reads)."""


def _chunks(handle: IO[bytes], length: int) -> Iterator[bytes]:
    """`length` bytes of `handle`, REMOTE_CHUNK at a time (each read in a worker thread); closed however it ends."""
    try:
        while length > 0:
            chunk = handle.read(min(REMOTE_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def content_disposition(filename: str) -> str:
    """`attachment` with the file name; RFC 6266's `filename*` carries names that are not plain ASCII
    (a header is Latin-1 on the wire, so `données.csv` or `数据.csv` cannot go in `filename` as they are)."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    if plain == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
