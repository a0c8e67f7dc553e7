"""PyPI's JSON API: `/pypi/OWNER[/label/LABEL]/PROJECT[/VERSION]/json` (warehouse `legacy/api/json.py`).

- Names must be PEP 503-normalised: anything else gets a 301 to the normalised URL (query and /t/TOKEN/ kept).
- Versions match exactly, else canonically (1.0 == 1.0.0); none or several: 404.
- Without a version, the release shown is PyPI's "latest": the newest final release not yanked, else the newest
  not yanked, else the newest. `releases` is only in that answer.
- Only the label's files count (default "main"). A project the caller may not read answers 401 with
  `WWW-Authenticate: Basic` when no credentials came (pip then asks its keyring), 403 when they did not suffice
  (`permissions.require`), 404 when it does not exist or has no Python file under the label.
- `X-PyPI-Last-Serial` (and `last_serial`) is the serial of the project's last event. Public projects are cached
  for a minute; others `private, max-age=0, must-revalidate`. Every answer has an ETag (If-None-Match -> 304).
- File `url`s are absolute, `/pypi/OWNER[/label/LABEL]/files/PROJECT/FILENAME`, keeping the request's
  `/t/TOKEN/` prefix. `downloads` is -1 as on PyPI (so the document stays cacheable).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Access, Account, AccountKind, Label, Package
from packyard.formats.pypi import catalog
from packyard.formats.pypi.catalog import DEFAULT_LABEL, Dist
from packyard.formats.pypi.journal import project_serial
from packyard.formats.pypi.models import PypiFile
from packyard.formats.pypi.simple import normalize
from packyard.web.deps import Svc, resolve_identity
from packyard.web.serve import cache_control

router = APIRouter()
PUBLIC_MAX_AGE = 60
_XMLRPC_ONLY = ("requires", "provides", "obsoletes", "provides_dist", "obsoletes_dist", "requires_external")


@router.api_route(
    "/pypi/{owner}/label/{label}/{project}/json", methods=["GET", "HEAD"], include_in_schema=False
)
def label_project(owner: str, label: str, project: str, request: Request, svc: Svc) -> Response:
    return serve(request, svc, owner, label, project, None)


@router.api_route(
    "/pypi/{owner}/label/{label}/{project}/{version}/json", methods=["GET", "HEAD"], include_in_schema=False
)
def label_release(owner: str, label: str, project: str, version: str, request: Request, svc: Svc) -> Response:
    return serve(request, svc, owner, label, project, version)


@router.api_route("/pypi/{owner}/{project}/json", methods=["GET", "HEAD"], include_in_schema=False)
def project_json(owner: str, project: str, request: Request, svc: Svc) -> Response:
    return serve(request, svc, owner, DEFAULT_LABEL, project, None)


@router.api_route("/pypi/{owner}/{project}/{version}/json", methods=["GET", "HEAD"], include_in_schema=False)
def release_json(owner: str, project: str, version: str, request: Request, svc: Svc) -> Response:
    return serve(request, svc, owner, DEFAULT_LABEL, project, version)


def serve(request: Request, svc: Svc, owner: str, label: str, project: str, version: str | None) -> Response:
    if project != normalize(project):
        return _redirect(request, owner, label, normalize(project), version)
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        account = queries.owner(session, owner)
        if label != DEFAULT_LABEL and not session.scalar(
            select(Label.id).where(Label.owner_id == account.id, Label.name == label)
        ):
            raise NotFound(f"label {account.login}/{label} not found")
        pkg = _package(session, identity, account, project)
        versions = catalog.by_version(catalog.dists(session, [pkg.id], label))
        if not versions:
            raise NotFound(f"{account.login}/{project} has no Python files under the label {label!r}")
        chosen = catalog.latest(versions) if version is None else catalog.match_version(versions, version)
        if chosen is None:
            raise NotFound(f"{account.login}/{project} has no (single) version {version!r}")
        serial = project_serial(session, pkg)
        doc = document(request, session, pkg, label, versions, chosen, serial, with_releases=version is None)
        public = pkg.access == Access.PUBLIC
    return _response(request, doc, serial, public)


def _package(session: Session, identity: Identity, owner: Account, project: str) -> Package:
    """The owner's Python project with this normalised name, if the caller may read it (401/403 otherwise)."""
    found = session.scalars(
        select(Package)
        .where(
            Package.id.in_(
                select(PypiFile.package_id).where(PypiFile.owner_id == owner.id, PypiFile.project == project)
            )
        )
        .order_by(Package.id)
    ).all()
    for pkg in found:
        if permissions.can_see(identity, pkg, via="pypi"):
            return pkg
    raise permissions.unseen(identity, f"{owner.login}/{project}", via="pypi")  # none, or none visible


def document(
    request: Request,
    session: Session,
    pkg: Package,
    label: str,
    versions: dict[str, list[Dist]],
    chosen: str,
    serial: int,
    *,
    with_releases: bool,
) -> dict[str, Any]:
    prefix = catalog.url_prefix(request)
    owner = pkg.owner.login
    base = f"{prefix}{catalog.owner_path(owner, label)}"
    project = normalize(pkg.name)
    items = versions[chosen]
    info = catalog.metadata(pkg, items[0].release, items)
    for key in _XMLRPC_ONLY:
        info.pop(key, None)
    info |= {
        "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
        "package_url": f"{base}/simple/{project}/",
        "project_url": f"{base}/simple/{project}/",
        "release_url": f"{base}/{project}/{quote(chosen)}/json",
    }

    def files(dists: list[Dist]) -> list[dict[str, Any]]:
        out = []
        for d in dists:
            entry = catalog.file_info(d, catalog.file_url(prefix, owner, label, pkg.name, d.row.filename))
            metadata: dict[str, str] | bool = (
                {"sha256": d.row.metadata_sha256} if d.row.metadata_sha256 else False
            )
            entry |= {
                "downloads": -1,
                "upload_time": catalog.utc(d.row.upload_time).strftime("%Y-%m-%dT%H:%M:%S"),
                "core-metadata": metadata,
            }
            out.append(entry)
        return out

    doc: dict[str, Any] = {"info": info, "last_serial": serial, "urls": files(items)}
    if with_releases:
        doc["releases"] = {v: files(ds) for v, ds in versions.items()}
    doc["vulnerabilities"] = []
    doc["ownership"] = {
        "roles": [{"role": role, "user": user} for role, user in catalog.roles(session, pkg)],
        "organization": owner if pkg.owner.kind == AccountKind.ORG else None,
    }
    return doc


def _response(request: Request, doc: dict[str, Any], serial: int, public: bool) -> Response:
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "X-PyPI-Last-Serial": str(serial),
        "Cache-Control": cache_control(public, max_age=PUBLIC_MAX_AGE),
        "Vary": "Authorization",
    }
    if public:
        headers |= {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "X-PyPI-Last-Serial"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _redirect(request: Request, owner: str, label: str, project: str, version: str | None) -> Response:
    path = f"{catalog.owner_path(owner, label)}/{quote(project)}" + (f"/{quote(version)}" if version else "")
    url = f"{catalog.url_prefix(request)}{path}/json"
    if request.url.query:
        url += f"?{request.url.query}"
    return RedirectResponse(url, status_code=301)
