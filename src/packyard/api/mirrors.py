"""Mirrors (issue #17): `POST/GET/PATCH/DELETE /api/mirrors/NAME`, `GET /api/mirrors`, `POST .../sync`.

Thin: the body goes as it came to core/mirrors/service.py, which validates it (400s naming the field) and asks
core/permissions.py; the answer is the mirror as the service describes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from packyard.api.body import json_body
from packyard.core.mirrors import service as mirrors
from packyard.web.deps import Caller, SignedIn, Svc

router = APIRouter()
Body = Annotated[dict[str, Any], Depends(json_body)]


@router.get("/mirrors")
def list_mirrors(ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    """Every mirror the caller may use: the public ones, and the private ones of organizations they are in."""
    return [info.as_json(admin=admin) for info, admin in mirrors.visible(svc.db, ident)]


@router.post("/mirrors/{name}", status_code=201)
async def create_mirror(name: str, ident: SignedIn, svc: Svc, body: Body) -> dict[str, Any]:
    """Create organization NAME (the caller its owner) whose channel for `format` proxies `upstream`."""
    info = await run_in_threadpool(mirrors.create, svc.db, ident, name, body)
    return info.as_json(admin=True)


@router.get("/mirrors/{name}")
def show_mirror(name: str, ident: Caller, svc: Svc, format: str | None = None) -> dict[str, Any]:
    info, admin = mirrors.get(svc.db, ident, name, format)
    return info.as_json(admin=admin)


@router.patch("/mirrors/{name}")
async def edit_mirror(
    name: str,
    ident: SignedIn,
    svc: Svc,
    body: Body,
    format: str | None = None,
) -> dict[str, Any]:
    """Change upstream, include, exclude, ttl or public; fields left out stay (the organization's admins)."""
    info = await run_in_threadpool(mirrors.update, svc.db, ident, name, format, body)
    return info.as_json(admin=True)


@router.delete("/mirrors/{name}", status_code=204)
def delete_mirror(name: str, ident: SignedIn, svc: Svc, format: str | None = None) -> Response:
    """Remove the mirror's configuration; the packages it cached stay in organization NAME."""
    mirrors.delete(svc.db, ident, name, format)
    return Response(status_code=204)


@router.post("/mirrors/{name}/sync")
async def sync_mirror(
    name: str,
    ident: SignedIn,
    svc: Svc,
    body: Body,
    format: str | None = None,
) -> dict[str, Any]:
    """Pre-fetch `packages` (with their dependencies unless `deps` is false; conda: for `subdirs`)."""
    info, fetched = await run_in_threadpool(mirrors.sync, svc.db, svc.store, ident, name, format, body)
    return {"mirror": info.name, "format": info.format, "fetched": fetched}
