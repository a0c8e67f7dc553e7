"""The pages: thin routes that read (core.queries, ui.reads), ask core.permissions, and render a template.

Sign-in, sign-up and sign-out are the only forms so far; each checks the CSRF token before it reads anything
else of the form. `/OWNER` and `/OWNER/PACKAGE` are catch-alls: their first segment never matches a reserved
prefix (`LoginConvertor`), so `/api`, `/conda`, `/pypi`, `/static`... keep their own 404s and 405s, and `install`
adds them after every other route.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from packyard.core import auth
from packyard.core.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from packyard.core.models import Access, Account, Package
from packyard.core.services import accounts, sessions
from packyard.ui import catalog, channel_reads, dashboard, news, package_reads, reads, views
from packyard.ui import install_lines as install_help
from packyard.ui.forms import field as _field
from packyard.ui.forms import read_form as _form
from packyard.ui.forms import safe_next as _safe_next
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
from packyard.web.deps import base_url, check_password, client_address, services

_NOT_OWNERS = sorted({*auth.reserved_logins(), "rpc2", "favicon.ico", "robots.txt"})


class LoginConvertor(Convertor[str]):
    """An owner's login in a page URL: never a reserved first segment (`api`, `conda`, `static`, ...)."""

    regex = "(?!(?i:" + "|".join(_NOT_OWNERS).replace(".", r"\.") + r")(?:/|$))[A-Za-z0-9][A-Za-z0-9_.-]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("packyard_login", LoginConvertor())

router = APIRouter(include_in_schema=False)
pages = APIRouter(include_in_schema=False)
"""The catch-alls, included last."""


def _redirect(request: Request, ctx: PageContext, to: str) -> Response:
    return finish(request, RedirectResponse(to, status_code=303), ctx)


def _start_session(request: Request, account_id: int) -> tuple[sessions.Started, int]:
    svc = services(request)
    with svc.db.read() as session:
        account = session.get(Account, account_id)
    assert account is not None
    max_age = svc.settings.session_max_age_seconds
    started = sessions.start(
        svc.db,
        account,
        max_age_seconds=max_age,
        remote_addr=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    return started, max_age


# --- sign in, sign up, sign out --------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    ctx = page_context(request)
    if not ctx.identity.is_anonymous and ctx.via_session:
        return _redirect(request, ctx, _safe_next(next))
    return page(request, ctx, "login.html", next=_safe_next(next), error=None, login="")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await _form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    login, password, next_ = _field(form, "login").strip(), _field(form, "password"), _field(form, "next")
    svc = services(request)
    if not login or not password:
        return page(request, ctx, "login.html", 400, next=_safe_next(next_), login=login,
                    error="Enter your username and your password.")  # fmt: skip
    try:
        ident = await run_in_threadpool(check_password, request, svc, login, password)
    except (Unauthorized, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 400
        message = exc.message[:1].upper() + exc.message[1:] + "."
        response = page(
            request, ctx, "login.html", status, next=_safe_next(next_), login=login, error=message
        )
        if isinstance(exc, TooManyRequests) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    assert ident.account is not None
    started, max_age = await run_in_threadpool(_start_session, request, ident.account.id)
    response = _redirect(request, ctx, _safe_next(next_))
    set_session_cookie(request, response, started, max_age)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await _form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    secret = request.cookies.get("packyard_session", "")
    if secret:
        await run_in_threadpool(sessions.end, services(request).db, secret)
    response = _redirect(request, ctx, "/")
    clear_session_cookie(request, response)
    return response


def _signup_open(request: Request) -> bool:
    return services(request).settings.allow_signup


@router.get("/signup")
def signup_page(request: Request) -> Response:
    ctx = page_context(request)
    if not _signup_open(request):
        return page(request, ctx, "signup_closed.html", 404)
    return page(request, ctx, "signup.html", error=None, login="", email="")


@router.post("/signup")
async def signup_submit(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await _form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    if not _signup_open(request):
        return page(request, ctx, "signup_closed.html", 404)
    login, email = _field(form, "login").strip(), _field(form, "email").strip()
    password, again = _field(form, "password"), _field(form, "password2")
    svc = services(request)

    def again_with(error: str, status: int) -> Response:
        return page(request, ctx, "signup.html", status, error=error, login=login, email=email)

    if password != again:
        return again_with("The two passwords differ: type the same password twice.", 400)
    try:
        account = await run_in_threadpool(
            accounts.sign_up, svc.db, auth.ANONYMOUS, login, password, open_signup=True, email=email
        )
    except (BadRequest, Conflict) as exc:
        return again_with(exc.message[:1].upper() + exc.message[1:] + ".", exc.status)
    started, max_age = await run_in_threadpool(_start_session, request, account.id)
    response = _redirect(request, ctx, f"/{quote(account.login)}")
    set_session_cookie(request, response, started, max_age)
    return response


# --- home, search ----------------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, before: int | None = Query(None, ge=1, le=2**62)) -> Response:
    ctx = page_context(request)
    ident = ctx.identity
    if ident.account is not None:
        return dashboard.home(request, ctx, before)  # signed in: the dashboard (ui/dashboard.py)
    svc = services(request)
    with svc.db.read() as session:
        recent = reads.recent(session, ident)
        counts = reads.counts_by_type(session)
    return page(request, ctx, "home.html", recent=recent, counts=counts)


# `/search` is ui/catalog.py's (its router is included before the catch-alls).


# --- owners and packages ---------------------------------------------------------------------------------------


@pages.get("/{owner:packyard_login}")
def owner_page(request: Request, owner: str) -> Response:
    _not_reserved(owner)
    return catalog.owner_page(request, owner)  # filters, sorting and paging: ui/catalog.py


def _not_reserved(owner: str) -> None:
    """The URL pattern leaves out the reserved first segments known when the pages were first built; a format
    registered after that (a test's) is caught here: such a name is never an owner's page."""
    if owner.lower() in auth.reserved_logins():
        raise NotFound(f"user or organization {owner!r} not found")


@pages.get("/{owner:packyard_login}/{name}")
def package_page(request: Request, owner: str, name: str) -> Response:
    ctx = page_context(request)
    with services(request).db.read() as session:
        pkg = package_reads.visible_package(session, ctx.identity, owner, name)
        view = {**_package_view(request, session, pkg), **views.package_extras(request, session, pkg)}
        view["channel_labels"] = channel_reads.label_names(
            session, ctx.identity, pkg.owner
        )  # the channel menu
        view["news"] = news.package_news(session, pkg)  # release announcements (ui/news.py)
    return page(request, ctx, "package.html", **view)


def _package_view(request: Request, session: Session, pkg: Package) -> dict[str, Any]:
    facts = package_reads.facts(session, pkg)
    help_ = install_help.instructions(
        base_url(request),
        pkg.owner.login,
        pkg.name,
        facts.types,
        public=pkg.access == Access.PUBLIC,
        labels=sorted(label for label, _ in facts.per_label),
        latest_files=facts.latest_files,
    )
    return {
        "pkg": pkg,
        "owner": pkg.owner,
        "latest": facts.latest,
        "per_label": facts.per_label,
        "types": facts.types,
        "downloads": facts.downloads,
        "nfiles": facts.nfiles,
        "nversions": facts.nversions,
        "recent_files": facts.recent_files,
        "help": help_,
    }
