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
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from packyard.core import auth, permissions, queries
from packyard.core.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from packyard.core.models import Access, Account, File, FileLabel, Label, Package, Release
from packyard.core.services import accounts, sessions
from packyard.ui import catalog, channel_reads, dashboard, news, reads, views
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
from packyard.web.deps import base_url, services

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
        remote_addr=request.client.host if request.client else "",
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
        ident = await run_in_threadpool(
            auth.authenticate_password,
            svc.db,
            login,
            password,
            remote_addr=request.client.host if request.client else "",
            allowed=svc.settings.login_failures_allowed,
            window_seconds=svc.settings.login_failure_window_seconds,
            cache=svc.password_cache,
        )
    except (Unauthorized, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 400
        message = exc.message[:1].upper() + exc.message[1:] + "."
        return page(request, ctx, "login.html", status, next=_safe_next(next_), login=login, error=message)
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


def _visible_package(
    session: Session, ctx: PageContext, owner: str, name: str, *, with_labels: bool = True
) -> Package:
    """The package, or the same 404 whether it does not exist or the caller may not know that it does.

    `with_labels=False` leaves each file's labels to load when touched: the package page shows the labels of ten
    files and reads the rest with one SQL query (`_latest_per_label`), which halves its cost for a package with
    hundreds of files (docs/benchmarks.md, "Web pages")."""
    _not_reserved(owner)
    pkg = queries.package(session, owner, name, with_labels=with_labels)
    if not permissions.can_see(ctx.identity, pkg, via="web"):
        raise NotFound(f"package {owner}/{name} not found")
    return pkg


@pages.get("/{owner:packyard_login}/{name}")
def package_page(request: Request, owner: str, name: str) -> Response:
    ctx = page_context(request)
    with services(request).db.read() as session:
        pkg = _visible_package(session, ctx, owner, name, with_labels=False)
        view = {**_package_view(request, session, pkg), **views.package_extras(request, session, pkg)}
        view["channel_labels"] = channel_reads.label_names(
            session, ctx.identity, pkg.owner
        )  # the channel menu
        view["news"] = news.package_news(pkg)  # release announcements (ui/news.py)
    return page(request, ctx, "package.html", **view)


def _latest_per_label(session: Session, pkg: Package) -> dict[str, str]:
    """Label name -> the highest version with a file in it, from the distinct (label, version) pairs."""
    pairs = session.execute(
        select(Label.name, Release.version)
        .distinct()
        .join(FileLabel, FileLabel.label_id == Label.id)
        .join(File, File.id == FileLabel.file_id)
        .join(Release, Release.id == File.release_id)
        .where(File.package_id == pkg.id)
    ).all()
    per_label: dict[str, str] = {}
    for label, version in pairs:
        current = per_label.get(label)
        if current is None or queries.version_key(version) > queries.version_key(current):
            per_label[label] = version
    return per_label


def _with_labels_and_release(session: Session, files: list[File]) -> None:
    """Load the labels of a few files in one query (and their release, already in the identity map)."""
    by_file: dict[int, list[Label]] = {f.id: [] for f in files}
    rows = session.execute(
        select(FileLabel.file_id, Label)
        .join(Label, Label.id == FileLabel.label_id)
        .where(FileLabel.file_id.in_(list(by_file)))
        .order_by(Label.name)
    ).all()
    for file_id, label in rows:
        by_file[file_id].append(label)
    for f in files:
        set_committed_value(f, "labels", by_file[f.id])
        _ = f.release


def _package_view(request: Request, session: Session, pkg: Package) -> dict[str, Any]:
    files = [f for rel in pkg.releases for f in rel.files]
    latest = queries.latest_version(pkg)
    per_label = _latest_per_label(session, pkg)
    types = list(pkg.package_types or sorted({f.package_type for f in files}))
    latest_files = [
        (rel.version, f.basename) for rel in pkg.releases if rel.version == latest for f in rel.files
    ]
    help_ = install_help.instructions(
        base_url(request),
        pkg.owner.login,
        pkg.name,
        types,
        public=pkg.access == Access.PUBLIC,
        labels=sorted(per_label),
        latest_files=latest_files,
    )
    recent_files = sorted(files, key=lambda f: (f.uploaded_at, f.id), reverse=True)[:10]
    _with_labels_and_release(session, recent_files)  # the template reads them after the session has closed
    return {
        "pkg": pkg,
        "owner": pkg.owner,
        "latest": latest,
        "per_label": sorted(per_label.items(), key=lambda item: (item[0] != "main", item[0])),
        "types": types,
        "downloads": sum(f.ndownloads for f in files),
        "nfiles": len(files),
        "nversions": len(pkg.releases),
        "recent_files": recent_files,
        "help": help_,
    }
