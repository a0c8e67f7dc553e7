"""Your account: `/settings` (profile, delete the account) and `/settings/password` (docs/manage/account.md).

Thin routes over `core.services.accounts`, the same functions `PATCH /api/user`, `POST /api/user/password` and
`DELETE /api/user` call. Every POST reads its form and checks the CSRF token first (`ui.forms`, `ui.security`);
these pages are always about the signed-in user, so a forged POST can at most act on the forger's own account,
and the actions that matter ask for the password again (`reauthenticate`), which a stolen session cookie does not
carry.

Changing the password ends every browser session of the account (`sessions.end_all`; a new password hash would end
them at their next request anyway) and starts a new one for the browser that made the change, so only that one
stays signed in. Deleting the account removes the user's packages too, as anaconda.org does, and is refused while
the user is an organization's only owner (`accounts.deletion_blockers`, shown on the page instead of the form).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from packyard.core.errors import BadRequest, Conflict, Forbidden, TooManyRequests
from packyard.core.models import Account
from packyard.core.services import accounts, sessions
from packyard.ui.forms import confirm_page, confirmed, done, field, read_form, reauthenticate
from packyard.ui.render import page
from packyard.ui.security import (
    PageContext,
    check_csrf,
    clear_session_cookie,
    finish,
    page_context,
    page_context_async,
    set_session_cookie,
)
from packyard.web.deps import client_address, services

router = APIRouter(include_in_schema=False)

PROFILE_LABELS = {
    "name": "Full name",
    "email": "E-mail",
    "company": "Company",
    "location": "Location",
    "url": "Web site",
    "description": "About you",
}


def to_login(request: Request, ctx: PageContext) -> Response:
    """Signed out (or signed in only by a token in the URL): sign in with the password first, then come back."""
    target = request.url.path
    return finish(request, RedirectResponse(f"/login?next={quote(target)}", status_code=303), ctx)


def _signed_in(ctx: PageContext) -> bool:
    return ctx.identity.account is not None and ctx.via_session


def _fresh(request: Request, ctx: PageContext) -> Account:
    """The account row as it is now (the identity's copy was loaded when the request began)."""
    assert ctx.identity.account is not None
    with services(request).db.read() as session:
        row = session.get(Account, ctx.identity.account.id)
    assert row is not None
    return row


def _settings_page(
    request: Request,
    ctx: PageContext,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    delete_error: str | None = None,
) -> Response:
    account = _fresh(request, ctx)
    shown = values if values is not None else {k: getattr(account, k) or "" for k in PROFILE_LABELS}
    blockers = accounts.deletion_blockers(services(request).db, ctx.identity)
    return page(
        request,
        ctx,
        "settings.html",
        status,
        account=account,
        values=shown,
        errors=errors or {},
        labels=PROFILE_LABELS,
        limits=accounts.PROFILE_FIELDS,
        blockers=blockers,
        delete_error=delete_error,
        tab="profile",
    )


@router.get("/settings")
def settings_page(request: Request) -> Response:
    ctx = page_context(request)
    if not _signed_in(ctx):
        return to_login(request, ctx)
    return _settings_page(request, ctx)


@router.post("/settings")
async def save_profile(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    if not _signed_in(ctx):
        return to_login(request, ctx)
    values = {name: field(form, name) for name in PROFILE_LABELS}
    errors = accounts.profile_errors({k: v.strip() if k != "description" else v for k, v in values.items()})
    if errors:
        return await run_in_threadpool(
            lambda: _settings_page(request, ctx, status=400, values=values, errors=errors)
        )
    await run_in_threadpool(accounts.update_profile, services(request).db, ctx.identity, values)
    return done(request, ctx, "/settings", "Your profile was saved.")


@router.post("/settings/delete")
async def delete_account(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    if not _signed_in(ctx):
        return to_login(request, ctx)
    assert ctx.identity.account is not None
    login = ctx.identity.account.login
    if not confirmed(form, login):
        return confirm_page(
            request,
            ctx,
            title="Delete your account",
            message=(
                f"This deletes the account {login} with every package it owns, its tokens and its memberships. "
                "It cannot be undone."
            ),
            action="/settings/delete",
            expected=login,
            button="Delete my account",
            back="/settings",
            password=True,
        )
    try:
        await reauthenticate(request, ctx, field(form, "password"))
    except (BadRequest, TooManyRequests) as exc:
        message, status = exc.message[:1].upper() + exc.message[1:] + ".", exc.status
        return await run_in_threadpool(
            lambda: _settings_page(request, ctx, status=status, delete_error=message)
        )
    try:
        removed = await run_in_threadpool(accounts.delete_account, services(request).db, ctx.identity)
    except Conflict as exc:
        blocked = exc.message[:1].upper() + exc.message[1:] + "."
        return await run_in_threadpool(lambda: _settings_page(request, ctx, status=409, delete_error=blocked))
    response = done(
        request,
        ctx,
        "/",
        f"The account {login} was deleted"
        + (f", with its {removed} package{'s' if removed != 1 else ''}." if removed else "."),
    )
    clear_session_cookie(request, response)
    return response


# --- the password ----------------------------------------------------------------------------------------------


@router.get("/settings/password")
def password_page(request: Request) -> Response:
    ctx = page_context(request)
    if not _signed_in(ctx):
        return to_login(request, ctx)
    return page(request, ctx, "settings_password.html", errors={}, tab="password")


@router.post("/settings/password")
async def change_password(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    if not _signed_in(ctx):
        return to_login(request, ctx)
    current, new, again = field(form, "current"), field(form, "new"), field(form, "new2")
    revoke = field(form, "revoke_tokens") == "yes"

    def again_with(errors: dict[str, str], status: int = 400) -> Response:
        return page(request, ctx, "settings_password.html", status, errors=errors, tab="password")

    if len(new) < 8:
        return again_with({"new": "The new password must be at least 8 characters long."})
    if new != again:
        return again_with({"new2": "The two new passwords differ: type the same password twice."})
    try:
        await reauthenticate(request, ctx, current)
    except (BadRequest, TooManyRequests) as exc:
        return again_with({"current": exc.message[:1].upper() + exc.message[1:] + "."}, exc.status)
    svc = services(request)
    try:
        removed = await run_in_threadpool(
            lambda: accounts.change_password(svc.db, ctx.identity, new, revoke_tokens=revoke)
        )
    except (BadRequest, Forbidden) as exc:
        return again_with({"new": exc.message[:1].upper() + exc.message[1:] + "."}, exc.status)
    # Every session ended with the change; this browser gets a new one, so it alone stays signed in.
    account = await run_in_threadpool(_fresh, request, ctx)
    max_age = svc.settings.session_max_age_seconds
    started = await run_in_threadpool(
        lambda: sessions.start(
            svc.db,
            account,
            max_age_seconds=max_age,
            remote_addr=client_address(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    )
    message = "Your password was changed; every other browser was signed out."
    if revoke:
        message += f" {removed} access token{'s were' if removed != 1 else ' was'} revoked."
    response = done(request, ctx, "/settings/password", message)
    set_session_cookie(request, response, started, max_age)
    return response
