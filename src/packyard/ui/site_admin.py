"""Site administration pages, `/site-admin` (docs/manage/admin.md): users, organizations, storage, the event log.

Only a site administrator's own (unrestricted) identity sees them; everyone else gets the very 404 of a page
that does not exist, for GETs and POSTs alike (after the CSRF check, which comes first on every POST). Each action
calls `core.services.admin`, the same function as the REST API (`/api/admin/...`) and the CLI.

Why not `/admin`: the first administrator's login is `admin` by default, and `/admin` is their profile page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from packyard.core import permissions
from packyard.core.errors import BadRequest, PackyardError
from packyard.core.services import admin
from packyard.ui import activity
from packyard.ui.forms import done, field, read_form
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(prefix="/site-admin", include_in_schema=False)
SECTIONS = (("users", "Users"), ("orgs", "Organizations"), ("storage", "Storage"), ("events", "Event log"))


def is_site_admin(ctx: PageContext) -> bool:
    """What the account menu and every route here ask: a site administrator's own credential."""
    account = ctx.identity.account
    return account is not None and account.is_admin and permissions.is_unrestricted(ctx.identity)


def _gate(ctx: PageContext) -> None:
    if not is_site_admin(ctx):
        raise HTTPException(404)  # the same answer as any page that does not exist


def _settings(request: Request) -> dict[str, int]:
    s = services(request).settings
    return {"allowed_failures": s.login_failures_allowed, "window_seconds": s.login_failure_window_seconds}


def _admin_page(
    request: Request, ctx: PageContext, template: str, section: str, status: int = 200, **values: Any
) -> Response:
    return page(request, ctx, template, status, section=section, sections=SECTIONS, **values)


# --- users ---------------------------------------------------------------------------------------------------------


def _users_page(
    request: Request, ctx: PageContext, *, q: str, status: str, page_no: int, error: str | None = None,
    form: dict[str, str] | None = None, code: int = 200,
) -> Response:  # fmt: skip
    try:
        limits = _settings(request)
        found = admin.list_users(
            services(request).db,
            ctx.identity,
            query=q,
            status=status,
            page=page_no,
            allowed_failures=limits["allowed_failures"],
            window_seconds=limits["window_seconds"],
        )
    except PackyardError as exc:
        found, error, code = admin.UserPage([], 0, 1, 1), exc.message, exc.status
    return _admin_page(
        request, ctx, "admin_users.html", "users", code,
        found=found, q=q, status_filter=status, error=error, new=form or {},
    )  # fmt: skip


@router.get("")
@router.get("/users")
def users(
    request: Request,
    q: str = Query("", max_length=200),
    status: str = Query("", max_length=20),
    page_no: int = Query(1, alias="page", ge=1, le=100000),
) -> Response:
    ctx = page_context(request)
    _gate(ctx)
    return _users_page(request, ctx, q=q, status=status, page_no=page_no)


@router.post("/users")
async def create_user(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=10)
    check_csrf(request, ctx, form.get("csrf_token"))
    _gate(ctx)
    login, email, name = (
        field(form, "login").strip(),
        field(form, "email").strip(),
        field(form, "name").strip(),
    )
    password, again = field(form, "password"), field(form, "password2")
    keep = {"login": login, "email": email, "name": name}
    if password != again:
        return await run_in_threadpool(
            lambda: _users_page(
                request,
                ctx,
                q="",
                status="",
                page_no=1,
                error="the two passwords differ",
                form=keep,
                code=400,
            )
        )
    try:
        await run_in_threadpool(
            lambda: admin.create_user(
                services(request).db, ctx.identity, login, password, email=email, name=name,
                is_admin=field(form, "admin") == "1",
            )
        )  # fmt: skip
    except PackyardError as exc:
        error, code = exc.message, exc.status
        return await run_in_threadpool(
            lambda: _users_page(request, ctx, q="", status="", page_no=1, error=error, form=keep, code=code)
        )
    return done(request, ctx, f"/site-admin/users/{login}", f"Created the user {login}.")


def _user_page(
    request: Request, ctx: PageContext, login: str, *, error: str | None = None, code: int = 200
) -> Response:
    db = services(request).db
    limits = _settings(request)
    found = admin.list_users(
        db,
        ctx.identity,
        query=login,
        allowed_failures=limits["allowed_failures"],
        window_seconds=limits["window_seconds"],
        page_size=500,
    )
    user = next((u for u in found.users if u.login.lower() == login.lower()), None)
    if user is None:
        raise HTTPException(404)
    recent = admin.events(db, ctx.identity, admin.EventFilter(owner=user.login), limit=10)
    return _admin_page(
        request, ctx, "admin_user.html", "users", code,
        user=user, me_login=ctx.identity.login, error=error,
        recent=_entries(recent),
    )  # fmt: skip


@router.get("/users/{login}")
def user(request: Request, login: str) -> Response:
    ctx = page_context(request)
    _gate(ctx)
    return _user_page(request, ctx, login)


async def _user_action(request: Request, login: str, action: str) -> Response:
    """The POSTs of one user's page: disable, enable, password, unlock. Errors show on that page (4xx)."""
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=10)
    check_csrf(request, ctx, form.get("csrf_token"))
    _gate(ctx)
    db = services(request).db
    ident = ctx.identity
    try:
        if action == "disable":
            await run_in_threadpool(admin.set_disabled, db, ident, login, True)
            message = f"Disabled {login}: their sessions ended and their tokens no longer work."
        elif action == "enable":
            await run_in_threadpool(admin.set_disabled, db, ident, login, False)
            message = f"Enabled {login} again."
        elif action == "unlock":
            n = await run_in_threadpool(admin.unlock, db, ident, login)
            message = f"Unlocked {login}: {n} failed sign-in{'s' if n != 1 else ''} forgotten."
        else:
            password, again = field(form, "password"), field(form, "password2")
            if password != again:
                raise BadRequest("the two passwords differ")
            await run_in_threadpool(admin.reset_password, db, ident, login, password)
            message = f"Set a new password for {login}; their sessions ended."
    except PackyardError as exc:
        if exc.status == 404:
            raise HTTPException(404) from None
        return await run_in_threadpool(_user_page, request, ctx, login, error=exc.message, code=exc.status)
    return done(request, ctx, f"/site-admin/users/{login}", message)


@router.post("/users/{login}/disable")
async def disable(request: Request, login: str) -> Response:
    return await _user_action(request, login, "disable")


@router.post("/users/{login}/enable")
async def enable(request: Request, login: str) -> Response:
    return await _user_action(request, login, "enable")


@router.post("/users/{login}/unlock")
async def unlock(request: Request, login: str) -> Response:
    return await _user_action(request, login, "unlock")


@router.post("/users/{login}/password")
async def reset_password(request: Request, login: str) -> Response:
    return await _user_action(request, login, "password")


# --- organizations, storage, events --------------------------------------------------------------------------------


@router.get("/orgs")
def orgs(request: Request, q: str = Query("", max_length=200)) -> Response:
    ctx = page_context(request)
    _gate(ctx)
    found = admin.list_orgs(services(request).db, ctx.identity, query=q)
    return _admin_page(request, ctx, "admin_orgs.html", "orgs", orgs=found, q=q)


@router.get("/storage")
def storage(request: Request) -> Response:
    ctx = page_context(request)
    _gate(ctx)
    used = admin.storage(services(request).db, ctx.identity)
    return _admin_page(request, ctx, "admin_storage.html", "storage", used=used)


def _entries(found: admin.EventPage) -> list[dict[str, Any]]:
    return [
        {
            "event": e,
            "actor": found.actors.get(e.actor_id or 0),
            "parts": activity.sentence(e, found.actors.get(e.actor_id or 0)),
        }
        for e in found.events
    ]


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/events")
def events(
    request: Request,
    kind: str = Query("", max_length=40),
    actor: str = Query("", max_length=100),
    owner: str = Query("", max_length=100),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    before: int | None = Query(None, ge=1, le=2**62),
) -> Response:
    ctx = page_context(request)
    _gate(ctx)
    db = services(request).db
    filters = admin.EventFilter(kind=kind, actor=actor, owner=owner, since=_date(since), until=_date(until))
    found = admin.events(db, ctx.identity, filters, before=before)
    query = {"kind": kind, "actor": actor, "owner": owner, "since": since, "until": until}
    return _admin_page(
        request, ctx, "admin_events.html", "events",
        entries=_entries(found), older=found.older, before=before, kinds=admin.event_kinds(db, ctx.identity),
        filters=query, query={k: v for k, v in query.items() if v},
    )  # fmt: skip
