"""Packages in bulk on the owner page (`/OWNER`): tick packages, then Delete them or Set their access.

Seed 001's "Deleting packages / Setting access through the user interface". The owner page (ui/catalog.py) shows
a checkbox only next to the packages the caller administers (`catalog.manageable`, asked of `core.permissions` for each
listed row); these routes take the ticked names and hand them to the same service functions as the REST API
(`POST /api/packages/OWNER/delete`, `POST /api/packages/OWNER/access`), which ask the permission function again
for every name and refuse the whole batch, naming the package, when one is refused: a forged POST naming a package
the caller may not change changes nothing.

Deleting needs the account name typed (ui/forms.py `confirmed`): with packyard.js a dialog asks for it, without
scripts the field is on the page, and a form that came without it gets the confirm page.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.services import packages as pkg_service
from packyard.ui import routes as _pages  # noqa: F401 - registers the `packyard_login` convertor used below
from packyard.ui.forms import confirm_page, confirmed, done, field, fields, read_form
from packyard.ui.security import check_csrf, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

MAX_PACKAGES = 500
"""Names one form may carry: a page lists 30, the confirm page re-posts them."""
ACCESS_WORDS = {"public": "public", "authenticated": "visible to signed-in users only", "private": "private"}


def _names(form_names: list[str]) -> list[str]:
    unique = list(dict.fromkeys(name.strip() for name in form_names if name.strip()))
    return unique[:MAX_PACKAGES]


def _owner_login(request: Request, login: str) -> str:
    """The owner's login as it is spelled (404 for no such owner), read in a thread."""
    with services(request).db.read() as session:
        return queries.owner(session, login).login


def _seen(request: Request, ident: Identity, login: str, names: list[str]) -> None:
    """As on every page, a package the caller may not see is the same 404 as one that does not exist (the
    services answer a signed-in caller 403 for it, like the REST API): the batch stops at the first such name."""
    with services(request).db.read() as session:
        for name in names:
            try:
                pkg = queries.package(session, login, name)
            except NotFound:
                pkg = None
            if pkg is None or not permissions.can_see(ident, pkg, via="web"):
                raise NotFound(f"package {login}/{name} not found: nothing was changed")


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


@router.post("/{owner:packyard_login}/packages/delete")
async def delete_packages(request: Request, owner: str) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=MAX_PACKAGES + 10)
    check_csrf(request, ctx, form.get("csrf_token"))
    login = await run_in_threadpool(_owner_login, request, owner)
    back = f"/{quote(login)}"
    names = _names(fields(form, "package"))
    if not names:
        return done(request, ctx, back, "Tick at least one package to delete.", kind="error")
    if not confirmed(form, login):
        n = len(names)
        return confirm_page(
            request,
            ctx,
            title=f"Delete {n} package{'' if n == 1 else 's'} of {login}?",
            message="Every version and file of these packages is removed. There is no undo.",
            action=f"{back}/packages/delete",
            expected=login,
            form=form,
            keep=("package",),
            items=names,
            back=back,
        )
    await run_in_threadpool(_seen, request, ctx.identity, login, names)
    svc = services(request)
    removed = await run_in_threadpool(pkg_service.delete_packages, svc.db, ctx.identity, login, names)
    n = len(removed)
    return done(request, ctx, back, f"Deleted {n} package{'' if n == 1 else 's'}: {_listing(removed)}.")


@router.post("/{owner:packyard_login}/packages/access")
async def set_access(request: Request, owner: str) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=MAX_PACKAGES + 10)
    check_csrf(request, ctx, form.get("csrf_token"))
    login = await run_in_threadpool(_owner_login, request, owner)
    back = f"/{quote(login)}"
    names = _names(fields(form, "package"))
    access = field(form, "access")
    if not names:
        return done(request, ctx, back, "Tick at least one package to change its access.", kind="error")
    await run_in_threadpool(_seen, request, ctx.identity, login, names)
    svc = services(request)
    await run_in_threadpool(pkg_service.set_access, svc.db, ctx.identity, login, names, access)
    n = len(names)
    return done(
        request,
        ctx,
        back,
        f"Made {n} package{'' if n == 1 else 's'} {ACCESS_WORDS.get(access, access)}: {_listing(names)}.",
    )
