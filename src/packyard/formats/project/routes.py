"""Projects over the REST API: revisions and their files. Downloads use the ordinary download endpoints.

GET /api/projects/OWNER/NAME                    the project and its revisions, each with its archive(s)
GET /api/projects/OWNER/NAME/REVISION/files     [{path, size}] of the files in that revision's archive
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from packyard.core import queries
from packyard.core.models import File, Package, Release
from packyard.formats import serving
from packyard.formats.project.parse import PACKAGE_TYPE
from packyard.web import shapes as ser
from packyard.web.deps import Svc, base_url, readable_package, resolve_identity

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.get("/{owner}/{name}")
def project(owner: str, name: str, request: Request, svc: Svc) -> dict[str, Any]:
    """A project and its revisions (oldest first), each with the archive(s) uploaded for it."""
    identity = resolve_identity(request, svc)
    base = base_url(request)
    with svc.db.read() as session:
        pkg = readable_package(session, identity, owner, name)
        found = serving.files_of(pkg, PACKAGE_TYPE)
        revisions: dict[str, dict[str, Any]] = {}
        for rel, f in found:
            entry = revisions.setdefault(
                rel.version,
                {"revision": rel.version, "created_at": ser.iso(rel.created_at), "files": []},
            )
            entry["files"].append(_archive(f, pkg, rel, base))
        return {
            "owner": pkg.owner.login,
            "name": pkg.name,
            "full_name": f"{pkg.owner.login}/{pkg.name}",
            "summary": pkg.summary,
            "access": pkg.access,
            "latest_revision": found[-1][0].version if found else None,
            "revisions": list(revisions.values()),
            "url": f"{base}/api/projects/{pkg.owner.login}/{pkg.name}",
        }


@router.get("/{owner}/{name}/{revision}/files")
def revision_files(owner: str, name: str, revision: str, request: Request, svc: Svc) -> list[dict[str, Any]]:
    """Path and size of every file in the revision's archive (the latest one, if several were uploaded)."""
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        pkg = readable_package(session, identity, owner, name)
        queries.release(pkg, revision)  # 404 for a revision that does not exist
        _rel, f = serving.pick(pkg, PACKAGE_TYPE, revision, "project archive")
        return [{"path": item["path"], "size": item["size"]} for item in (f.attrs or {}).get("files", [])]


def _archive(f: File, pkg: Package, rel: Release, base: str) -> dict[str, Any]:
    """The file as the REST API shows it, without the (possibly long) listing of its members."""
    out = ser.file(f, pkg, rel, base)
    attrs = dict(out["attrs"])
    attrs.pop("files", None)
    return {**out, "attrs": attrs}
