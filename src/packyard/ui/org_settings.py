"""Organizations in the browser (docs/manage/orgs.md): create one, its dashboard at the seed's URL, its profile,
owners, members, and deleting it.

- `/organizations` (account menu > Organizations): yours, and the create form at the bottom (seed 002).
- `/organization/ORG/dashboard`: the organization's dashboard (ui/dashboard.py), at anaconda.org's address.
- `/organization/ORG/settings/profile | groups | members | account`: the settings tabs. Every member reads them;
  only those `core.permissions` lets administer the organization see the forms (the groups tab and the group
  pages are ui/org_groups.py).

Thin routes: every change goes through core.services.orgs, the same functions as the REST API (`POST/PATCH/DELETE
/api/orgs/ORG`), which ask `permissions.require(ADMIN, org)` themselves. An organization the caller is not a
member of answers the same 404 as one that does not exist; a signed-out caller is sent to sign in first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import packyard.ui.routes  # noqa: F401 - registers the `packyard_login` URL convertor the paths below use
from packyard.core import permissions, queries
from packyard.core.errors import BadRequest, Conflict, Forbidden, NotFound, PackyardError
from packyard.core.models import Account, AccountKind, Package
from packyard.core.permissions import Permission
from packyard.core.services import orgs
from packyard.ui import dashboard, mirror_reads, reads
from packyard.ui.forms import confirm_page, confirmed, done, field, read_form, reauthenticate
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, finish, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

TABS = (
    ("profile", "Profile"),
    ("groups", "Groups"),
    ("members", "Members"),
    ("access", "Access tokens"),  # ui/access_tokens.py: the organization's tokens
    ("mirror", "Mirror"),  # ui/mirrors.py: only for an organization that mirrors an index
    ("account", "Account"),
)
ADMIN_TABS = {"access", "mirror", "account"}
"""Tabs only the organization's administrators get: the others' pages are a 403 or 404 for members."""


# --- who may see what ---------------------------------------------------------------------------------------------


def visible_org(request: Request, ctx: PageContext, login: str) -> Account:
    """The organization, or the same 404 whether it does not exist, is a user, or the caller is not a member."""
    with services(request).db.read() as session:
        try:
            account = queries.owner(session, login)
        except NotFound:
            account = None
    if (
        account is None
        or account.kind != AccountKind.ORG
        or not permissions.can_see_namespace_activity(ctx.identity, account)
    ):
        raise NotFound(f"no organization {login!r}")
    return account


def may_admin(ctx: PageContext, org: Account) -> bool:
    """Whether the page offers the organization's forms: the very question the services ask."""
    return permissions.can(ctx.identity, Permission.ADMIN, org)


def to_login(request: Request, ctx: PageContext) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return finish(request, RedirectResponse(f"/login?next={quote(target)}", status_code=303), ctx)


def settings_url(org: Account, tab: str = "profile") -> str:
    return f"/organization/{quote(org.login)}/settings/{tab}"


def message(exc: PackyardError) -> str:
    """A service's message as a sentence for the page."""
    return exc.message[:1].upper() + exc.message[1:] + ("" if exc.message.endswith(".") else ".")


def org_page(
    request: Request,
    ctx: PageContext,
    org: Account,
    template: str,
    tab: str,
    status: int = 200,
    **values: Any,
) -> Response:
    """A settings tab: the organization's heading and tabs (templates/_org_head.html) around `template`."""
    admin = may_admin(ctx, org)
    with services(request).db.read() as session:
        mirrored = admin and bool(mirror_reads.mirrors_of(session, org))
    tabs = [
        (key, label)
        for key, label in TABS
        if (key not in ADMIN_TABS or admin) and (key != "mirror" or mirrored)
    ]
    return page(request, ctx, template, status, org=org, tab=tab, tabs=tabs, admin=admin, **values)


# --- your organizations, and creating one ------------------------------------------------------------------------


def _organizations_page(
    request: Request,
    ctx: PageContext,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    ident = ctx.identity
    with services(request).db.read() as session:
        mine = list(reads.organizations(session, ident.grants.member_of))
    owned = set(ident.grants.owner_of)
    return page(
        request,
        ctx,
        "organizations.html",
        status,
        orgs=[(o, o.id in owned) for o in mine],
        may_create=permissions.is_unrestricted(ident),
        error=error,
        values=values or {"login": "", "email": "", "name": ""},
    )


@router.get("/organizations")
def organizations_page(request: Request) -> Response:
    """Account menu > Organizations: the organizations you belong to, and the form that creates one."""
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    return _organizations_page(request, ctx)


@router.post("/organizations")
async def create_organization(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=10)
    check_csrf(request, ctx, form.get("csrf_token"))
    if ctx.identity.account is None:
        return to_login(request, ctx)
    values = {k: field(form, k).strip() for k in ("login", "email", "name")}
    if not values["login"]:
        return _organizations_page(request, ctx, 400, "Enter a name for the organization.", values)
    try:
        org = await run_in_threadpool(
            orgs.create_org,
            services(request).db,
            ctx.identity,
            values["login"],
            values["name"],
            values["email"],
        )
    except (BadRequest, Conflict) as exc:
        return _organizations_page(request, ctx, exc.status, message(exc), values)
    return done(
        request,
        ctx,
        f"/organization/{quote(org.login)}/dashboard",
        f"Organization {org.login} created. You are its owner.",
    )


# --- the dashboard at anaconda.org's address --------------------------------------------------------------------


@router.get("/organization/{login:packyard_login}/dashboard")
def org_dashboard(request: Request, login: str, before: int | None = Query(None, ge=1, le=2**62)) -> Response:
    """Seed 002's `/organization/ORG/dashboard`: the same page as `/dashboard/ORG` (same checks, same 404)."""
    return dashboard.namespace_dashboard(request, login, before)


@router.get("/organization/{login:packyard_login}")
@router.get("/organization/{login:packyard_login}/settings")
def org_settings(request: Request, login: str) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    org = visible_org(request, ctx, login)
    return finish(request, RedirectResponse(settings_url(org), status_code=303), ctx)


# --- profile ---------------------------------------------------------------------------------------------------


def _profile_values(org: Account) -> dict[str, str]:
    return {key: str(getattr(org, key) or "") for key in orgs.PROFILE_LIMITS}


@router.get("/organization/{login:packyard_login}/settings/profile")
def profile_page(request: Request, login: str) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    org = visible_org(request, ctx, login)
    return org_page(request, ctx, org, "org_profile.html", "profile", values=_profile_values(org), error=None)


@router.post("/organization/{login:packyard_login}/settings/profile")
async def save_profile(request: Request, login: str) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=12)
    check_csrf(request, ctx, form.get("csrf_token"))
    org = await run_in_threadpool(visible_org, request, ctx, login)
    changes = {key: field(form, key) for key in orgs.PROFILE_LIMITS if key in form}
    try:
        await run_in_threadpool(orgs.update_profile, services(request).db, ctx.identity, org, changes)
    except BadRequest as exc:
        values, error = {**_profile_values(org), **changes}, message(exc)
        return await run_in_threadpool(
            lambda: org_page(
                request, ctx, org, "org_profile.html", "profile", 400, values=values, error=error
            )
        )
    return done(request, ctx, settings_url(org), "Profile saved.")


# --- members ---------------------------------------------------------------------------------------------------


@router.get("/organization/{login:packyard_login}/settings/members")
def members_page(request: Request, login: str) -> Response:
    """Everyone in the organization and their groups (seed 001 "Group Membership", from the organization's side)."""
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    org = visible_org(request, ctx, login)
    people = orgs.org_members(services(request).db, ctx.identity, org)
    return org_page(request, ctx, org, "org_members.html", "members", people=people)


# --- account: deleting the organization ------------------------------------------------------------------------


@router.get("/organization/{login:packyard_login}/settings/account")
def account_page(request: Request, login: str) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    org = visible_org(request, ctx, login)
    if not may_admin(ctx, org):
        raise Forbidden(f"only the owners of {org.login} may delete it")
    with services(request).db.read() as session:
        npackages = session.scalar(
            select(func.count()).select_from(Package).where(Package.owner_id == org.id)
        )
    return org_page(request, ctx, org, "org_account.html", "account", npackages=npackages)


def _delete_confirm(request: Request, ctx: PageContext, org: Account, form: FormData) -> Response:
    return confirm_page(
        request,
        ctx,
        title=f"Delete the organization {org.login}?",
        message=(
            f"This erases {org.login} with all its packages, files, labels, groups and tokens. It cannot be "
            "undone. Type the organization's name and your password."
        ),
        action=f"/organization/{quote(org.login)}/delete",
        expected=org.login,
        form=form,
        back=settings_url(org, "account"),
        button="Delete the organization",
        password=True,
    )


@router.post("/organization/{login:packyard_login}/delete")
async def delete_organization(request: Request, login: str) -> Response:
    """Typed name, then the password again (`reauthenticate`), then `orgs.delete_org`: the API's service."""
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=10)
    check_csrf(request, ctx, form.get("csrf_token"))
    org = await run_in_threadpool(visible_org, request, ctx, login)
    if not may_admin(ctx, org):  # before the password is checked: a member's try must not count as a failure
        raise Forbidden(f"only the owners of {org.login} may delete it")
    if not confirmed(form, org.login):
        return await run_in_threadpool(_delete_confirm, request, ctx, org, form)
    await reauthenticate(request, ctx, field(form, "password"))
    await run_in_threadpool(orgs.delete_org, services(request).db, ctx.identity, org)
    return done(request, ctx, "/organizations", f"The organization {org.login} was deleted.")
