"""Environments: `/envs/OWNER` lists them, `/envs/OWNER/NAME[/VERSION]` serves the YAML (also on envs.DOMAIN).

    conda env create --file http://HOST/envs/OWNER/NAME        (conda before 25.9: also `conda env create OWNER/NAME`)

The YAML is served as uploaded. The listing shows only the environments the caller may read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from packyard.core import permissions, queries
from packyard.core.models import Access, Package
from packyard.formats import serving
from packyard.formats.env.parse import PACKAGE_TYPE
from packyard.web.deps import Svc, base_url, readable_package, resolve_identity
from packyard.web.serve import Blob, serve_blob

router = APIRouter()


@router.api_route("/envs/{owner}", methods=["GET", "HEAD"], include_in_schema=False)
def list_envs(owner: str, request: Request, svc: Svc) -> list[dict[str, Any]]:
    identity = resolve_identity(request, svc)
    base = _envs_base(request)
    out = []
    with svc.db.read() as session:
        account = queries.owner(session, owner)
        pkgs = session.scalars(
            queries.package_query().where(Package.owner_id == account.id).order_by(Package.name_key)
        ).all()
        for pkg in pkgs:
            found = serving.files_of(pkg, PACKAGE_TYPE)
            if not found or not permissions.can_see(identity, pkg, via=serving.VIA):
                continue
            versions = list(dict.fromkeys(rel.version for rel, _ in found))
            out.append(
                {
                    "name": pkg.name,
                    "full_name": f"{account.login}/{pkg.name}",
                    "summary": pkg.summary,
                    "access": pkg.access,
                    "latest_version": versions[-1],
                    "versions": versions,
                    "url": f"{base}/{account.login}/{pkg.name}",
                    "modified_at": pkg.modified_at.isoformat(),
                }
            )
    return out


def _envs_base(request: Request) -> str:
    """Where this listing's environments are, in the form the caller used: on the `envs.` host its paths have
    no /envs (the host stands for it), and a `/t/TOKEN/` in the caller's URL stays in them."""
    token = request.scope.get("packyard.path_token")
    if request.scope.get("packyard.host_prefix") == "/envs":
        return str(request.base_url).rstrip("/") + (f"/t/{token}" if token else "")
    return base_url(request) + "/envs" + (f"/t/{token}" if token else "")


@router.api_route("/envs/{owner}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def latest_env(owner: str, name: str, request: Request, svc: Svc) -> Response:
    return _serve(request, svc, owner, name, None)


@router.api_route("/envs/{owner}/{name}/{version}", methods=["GET", "HEAD"], include_in_schema=False)
def env_version(owner: str, name: str, version: str, request: Request, svc: Svc) -> Response:
    return _serve(request, svc, owner, name, version)


def _serve(request: Request, svc: Svc, owner: str, name: str, version: str | None) -> Response:
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        pkg = readable_package(session, identity, owner, name)
        rel, f = serving.pick(pkg, PACKAGE_TYPE, version, "environment")
        blob = Blob(
            f.sha256,
            etag=f.sha256,
            public=pkg.access == Access.PUBLIC,
            media_type="application/yaml",
            size=f.size,
            last_modified=f.uploaded_at,
            immutable=False,  # the newest environment of the name (or of the version): a new upload changes it
            count_download=f.id,
        )
    return serve_blob(svc, request, blob, headers={"X-Packyard-Version": rel.version})
