"""Mirrors (issue #17): `POST/GET/PATCH/DELETE /api/mirrors/NAME`, `GET /api/mirrors`, `POST .../sync`,
`GET .../syncs[/ID]`.

Thin: the body goes as it came to core/mirrors/service.py, which validates it (400s naming the field) and asks
core/permissions.py; the answer is the mirror as the service describes it. A sync is queued (202, `Location` of the
sync to poll) and run by a node's runner (core/mirrors/syncs.py); this process's runner is woken at once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from packyard.api.body import json_body
from packyard.core.mirrors import service as mirrors
from packyard.web.deps import Caller, SignedIn, Svc, base_url

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


@router.post("/mirrors/{name}/sync", status_code=202)
async def sync_mirror(
    request: Request,
    name: str,
    ident: SignedIn,
    svc: Svc,
    body: Body,
    format: str | None = None,
) -> JSONResponse:
    """Queue a pre-fetch of `packages` (with their dependencies unless `deps` is false; conda: for `subdirs`):
    202 with the sync, whose `Location` says how it went (`state`, `fetched`, `error`)."""
    info = await run_in_threadpool(mirrors.sync, svc.db, ident, name, format, body)
    runner = getattr(request.app.state, "sync_runner", None)
    if runner is not None:
        runner.wake()
    return JSONResponse(
        info.as_json(), status_code=202, headers={"Location": base_url(request) + info.path()}
    )


@router.get("/mirrors/{name}/syncs")
def list_syncs(
    name: str, ident: Caller, svc: Svc, format: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The latest syncs of NAME's mirrors (newest first), for whoever may use the mirror."""
    return [info.as_json() for info in mirrors.recent_syncs(svc.db, ident, name, format, limit)]


@router.get("/mirrors/{name}/syncs/{sync_id}")
def show_sync(name: str, sync_id: int, ident: Caller, svc: Svc) -> dict[str, Any]:
    """One sync: `state` queued, running, done (`fetched`) or failed (`error`, `error_status`)."""
    return mirrors.sync_status(svc.db, ident, name, sync_id).as_json()
