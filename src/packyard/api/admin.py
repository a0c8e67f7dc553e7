"""Site administration over REST (`/api/admin/...`): the same services as the `/site-admin` pages and the CLI.

Every route asks `core.services.admin`, which requires a site administrator's own credential (a password, a
session, or a token with the `all` scope): anyone else gets a 403 naming the action.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from packyard.api.body import JsonBody, body_of
from packyard.core.models import Event
from packyard.core.services import admin
from packyard.web.deps import SignedIn, Svc

router = APIRouter(prefix="/admin", tags=["site administration"])


class NewUser(JsonBody):
    """`POST /api/admin/users`."""

    login: str
    password: str = Field(description="at least 8 characters")
    email: str = ""
    name: str = ""
    admin: bool = Field(False, description="make the user a site administrator")


class Disable(JsonBody):
    """`POST /api/admin/users/{login}/disable`."""

    disabled: bool = Field(True, description="false enables the user again")


class NewPassword(JsonBody):
    """`POST /api/admin/users/{login}/password`."""

    password: str = Field(description="at least 8 characters")


def _row(value: Any) -> dict[str, Any]:
    out = dataclasses.asdict(value)
    for key, item in out.items():
        if isinstance(item, dt.datetime):
            out[key] = item.isoformat()
    return out


def _event(e: Event, actors: dict[int, str]) -> dict[str, Any]:
    return {
        "serial": e.serial,
        "at": e.at.isoformat(),
        "kind": e.kind,
        "actor": actors.get(e.actor_id) if e.actor_id is not None else None,
        "owner": e.owner,
        "package": e.package,
        "version": e.version,
        "basename": e.basename,
        "data": e.data,
    }


@router.get("/users")
async def list_users(
    ident: SignedIn,
    svc: Svc,
    q: Annotated[str, Query(max_length=200, description="part of a login, name or e-mail")] = "",
    status: Annotated[str, Query(description="admin, disabled or locked")] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> dict[str, Any]:
    """Users by login, 50 a page, with whether failed sign-ins lock them out."""
    found = await run_in_threadpool(
        admin.list_users,
        svc.db,
        ident,
        query=q,
        status=status,
        page=page,
        allowed_failures=svc.settings.login_failures_allowed,
        window_seconds=svc.settings.login_failure_window_seconds,
    )
    return {
        "users": [_row(u) for u in found.users],
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
    }


@router.post("/users", status_code=201)
async def create_user(
    ident: SignedIn, svc: Svc, body: Annotated[NewUser, body_of(NewUser)]
) -> dict[str, Any]:
    """Create a user (whether sign-up is open or not)."""
    account = await run_in_threadpool(
        lambda: admin.create_user(
            svc.db, ident, body.login, body.password, email=body.email, name=body.name, is_admin=body.admin
        )
    )
    return {"login": account.login, "admin": account.is_admin}


@router.post("/users/{login}/disable")
async def disable_user(
    login: str, ident: SignedIn, svc: Svc, body: Annotated[Disable, body_of(Disable)]
) -> dict[str, Any]:
    """Disable (or, with `{"disabled": false}`, enable) a user: their sessions end, their tokens answer 401."""
    await run_in_threadpool(admin.set_disabled, svc.db, ident, login, body.disabled)
    return {"login": login, "disabled": body.disabled}


@router.post("/users/{login}/password")
async def reset_password(
    login: str, ident: SignedIn, svc: Svc, body: Annotated[NewPassword, body_of(NewPassword)]
) -> dict[str, Any]:
    """Set a user's password; their sessions end."""
    await run_in_threadpool(admin.reset_password, svc.db, ident, login, body.password)
    return {"login": login, "password_reset": True}


@router.post("/users/{login}/unlock")
async def unlock_user(login: str, ident: SignedIn, svc: Svc) -> dict[str, Any]:
    """Lift a login's sign-in throttle: forget the user's failed sign-ins from every address."""
    n = await run_in_threadpool(admin.unlock, svc.db, ident, login)
    return {"login": login, "failures_cleared": n}


@router.get("/orgs")
async def list_orgs(
    ident: SignedIn, svc: Svc, q: Annotated[str, Query(max_length=200)] = ""
) -> dict[str, Any]:
    """Every organization with its owners and package count."""
    orgs = await run_in_threadpool(lambda: admin.list_orgs(svc.db, ident, query=q))
    return {"orgs": [_row(o) for o in orgs]}


@router.get("/storage")
async def storage(ident: SignedIn, svc: Svc) -> dict[str, Any]:
    """Bytes and files per owner, and what the blob store holds (distinct blobs)."""
    used = await run_in_threadpool(admin.storage, svc.db, ident)
    return _row(used)


@router.get("/events")
async def events(
    ident: SignedIn,
    svc: Svc,
    kind: Annotated[str, Query(max_length=40, description="a kind, or a prefix ending in '.'")] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    owner: Annotated[str, Query(max_length=100)] = "",
    since: Annotated[dt.date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    until: Annotated[dt.date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="the `older` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = admin.PAGE_SIZE,
) -> dict[str, Any]:
    """The event log, newest first; follow `older` for the next page."""
    filters = admin.EventFilter(kind=kind, actor=actor, owner=owner, since=since, until=until)
    found = await run_in_threadpool(lambda: admin.events(svc.db, ident, filters, before=before, limit=limit))
    return {"events": [_event(e, found.actors) for e in found.events], "older": found.older}
