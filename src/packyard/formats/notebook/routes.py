"""Rendered notebooks: `/notebooks/OWNER/NAME[/VERSION]` (also `notebooks.DOMAIN/OWNER/NAME[/VERSION]`).

The page was rendered at upload time and is served as stored, under a Content-Security-Policy that allows no
script at all. `?download` on the same URL gives the notebook itself, byte for byte as uploaded (as does
`/OWNER/NAME/VERSION/download/BASENAME`).
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request, Response

from packyard.core.errors import NotFound
from packyard.core.models import Access
from packyard.formats import serving
from packyard.formats.notebook.parse import PACKAGE_TYPE
from packyard.formats.notebook.render import CONTENT_SECURITY_POLICY
from packyard.web.deps import Svc, readable_package, resolve_identity
from packyard.web.serve import Blob, serve_blob

router = APIRouter()


@router.api_route("/notebooks/{owner}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def latest_notebook(owner: str, name: str, request: Request, svc: Svc) -> Response:
    return _serve(request, svc, owner, name, None)


@router.api_route("/notebooks/{owner}/{name}/{version}", methods=["GET", "HEAD"], include_in_schema=False)
def notebook_version(owner: str, name: str, version: str, request: Request, svc: Svc) -> Response:
    return _serve(request, svc, owner, name, version)


def _serve(request: Request, svc: Svc, owner: str, name: str, version: str | None) -> Response:
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        pkg = readable_package(session, identity, owner, name)
        _rel, f = serving.pick(pkg, PACKAGE_TYPE, version, "notebook")
        download = Blob.of_file(f, pkg) if "download" in request.query_params else None
        page = (f.extra or {}).get("html")
        public, uploaded_at = pkg.access == Access.PUBLIC, f.uploaded_at
    if download is not None:  # after the read session: a route holds one connection at a time
        # The newest notebook of the name (or version) is what the URL means: a new upload changes it.
        return serve_blob(svc, request, dataclasses.replace(download, immutable=False))
    if not page:
        raise NotFound(f"{owner}/{name} has no rendered page; download it with ?download")
    blob = Blob(
        page,
        etag=page,
        public=public,
        media_type="text/html; charset=utf-8",
        last_modified=uploaded_at,
        immutable=False,
    )
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    return serve_blob(svc, request, blob, headers=headers)
