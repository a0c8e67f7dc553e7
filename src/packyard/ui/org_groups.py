"""An organization's groups in the browser (seed 001 "Customize users and groups", "Create groups"; seed 002
"Adding another owner"): `/ORG/groups/` and `/organization/ORG/settings/groups`, and one page per group.

On the groups page an owner adds people to any group ("choose 'owners', type their names, add"), and makes a
group with +New Group: a name, Read-Only / Read-Write / Administration, a members box, a packages box, Save Group.
A group's own page changes its permission level, adds and removes members and packages, and deletes it (typed
confirmation). Members of the organization read the same pages without the forms.

Thin routes over core.services.orgs (the REST API's `/api/group/ORG/NAME...` functions). A form the service
refuses (an unknown login, a taken group name, the last owner) shows the page again with the message next to that
form (status 400/404/409); a caller who may not administer the organization gets the service's 403, and one who is
not a member the same 404 as a missing organization.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import packyard.ui.routes  # noqa: F401 - registers the `packyard_login` URL convertor the paths below use
from packyard.core import permissions, queries
from packyard.core.errors import BadRequest, Conflict, Forbidden, NotFound
from packyard.core.models import OWNERS_GROUP, Account, AccountKind, GroupPerm, Package
from packyard.core.services import orgs
from packyard.ui import routes
from packyard.ui.forms import confirm_page, confirmed, done, field, read_form
from packyard.ui.org_settings import may_admin, message, org_page, settings_url, to_login, visible_org
from packyard.ui.security import PageContext, check_csrf, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

PERMISSIONS = [(GroupPerm(p), orgs.PERMISSION_NAMES[GroupPerm(p)]) for p in GroupPerm]
"""The permission choices in the order the seed names them: Read-Only, Read-Write, Administration."""

_SEPARATORS = re.compile(r"[\s,;]+")


def names_in(text: str) -> list[str]:
    """The logins or package names typed into a box, separated by spaces, commas or new lines, each once."""
    seen: dict[str, str] = {}
    for name in _SEPARATORS.split(text):
        if name:
            seen.setdefault(name.lower(), name)
    return list(seen.values())


def group_url(org: Account, name: str) -> str:
    return f"{settings_url(org, 'groups')}/{quote(name)}"


def _package_names(request: Request, org: Account) -> list[str]:
    """The organization's packages, for the packages box's suggestions (shown to its administrators only)."""
    with services(request).db.read() as session:
        return list(
            session.scalars(select(Package.name).where(Package.owner_id == org.id).order_by(Package.name_key))
        )


# --- the groups page -------------------------------------------------------------------------------------------


def groups_view(
    request: Request,
    ctx: PageContext,
    org: Account,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    groups = orgs.list_groups(services(request).db, ctx.identity, org)
    return org_page(
        request, ctx, org, "org_groups.html", "groups", status,
        groups=groups, permissions=PERMISSIONS, names=orgs.PERMISSION_NAMES,
        packages=_package_names(request, org) if may_admin(ctx, org) else [], errors=errors or {},
        values=values or {},
    )  # fmt: skip


@router.get("/organization/{login:packyard_login}/settings/groups")
def groups_page(request: Request, login: str) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    return groups_view(request, ctx, visible_org(request, ctx, login))


@router.get("/{owner:packyard_login}/groups")
@router.get("/{owner:packyard_login}/groups/")
def seed_groups_page(request: Request, owner: str) -> Response:
    """Seed 001's `/ORG/groups/`: an organization's groups for its members; for anyone else, and for a user's
    namespace, what `/OWNER/groups` always was (a package called `groups`, or the 404)."""
    ctx = page_context(request)
    with services(request).db.read() as session:
        try:
            account: Account | None = queries.owner(session, owner)
        except NotFound:
            account = None
    if account is not None and account.kind == AccountKind.ORG and ctx.identity.account is not None:
        try:
            return groups_view(request, ctx, visible_org(request, ctx, owner))
        except NotFound:
            pass
    return routes.package_page(request, owner, "groups")


async def _form_for(request: Request, login: str) -> tuple[PageContext, FormData, Account]:
    """Every form's start: CSRF first, then the organization (404 unless the caller is a member)."""
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=20)
    check_csrf(request, ctx, form.get("csrf_token"))
    org = await run_in_threadpool(visible_org, request, ctx, login)
    return ctx, form, org


async def _attempt(
    work: Callable[[], Any], shown_again: Callable[[str, int], Response], success: Callable[[], Response]
) -> Response:
    """Run a service call; a refusal about what was typed shows the page again with the message."""
    try:
        await run_in_threadpool(work)
    except (BadRequest, Conflict, NotFound) as exc:
        text, status = message(exc), exc.status
        return await run_in_threadpool(shown_again, text, status)
    return success()


@router.post("/organization/{login:packyard_login}/settings/groups")
async def create_group(request: Request, login: str) -> Response:
    """+New Group: name, permission, members box, packages box, Save Group, in one transaction."""
    ctx, form, org = await _form_for(request, login)
    values = {k: field(form, k).strip() for k in ("name", "permission", "members", "packages")}
    db = services(request).db
    members, packages = names_in(values["members"]), names_in(values["packages"])
    perms = values["permission"] or GroupPerm.READ
    return await _attempt(
        lambda: orgs.create_group(
            db, ctx.identity, org, values["name"], perms, members=members, packages=packages
        ),
        lambda text, status: groups_view(request, ctx, org, status, {"new-group": text}, values),
        lambda: done(request, ctx, group_url(org, values["name"]), f"Group {values['name']} created."),
    )


@router.post("/organization/{login:packyard_login}/settings/groups/add")
async def add_to_group(request: Request, login: str) -> Response:
    """Seed 002's "choose 'owners', type their names, add": any group, several logins at once."""
    ctx, form, org = await _form_for(request, login)
    group, logins = field(form, "group").strip() or OWNERS_GROUP, field(form, "logins")
    names = names_in(logins)
    values = {"group": group, "logins": logins}

    def again(text: str, status: int) -> Response:
        return groups_view(request, ctx, org, status, {"add-members": text}, values)

    if not names:
        return await run_in_threadpool(again, "Type at least one username.", 400)
    db = services(request).db
    return await _attempt(
        lambda: orgs.add_members(db, ctx.identity, org, group, names),
        again,
        lambda: done(request, ctx, settings_url(org, "groups"), f"Added {', '.join(names)} to {group}."),
    )


# --- one group ---------------------------------------------------------------------------------------------------


def group_view(
    request: Request,
    ctx: PageContext,
    org: Account,
    name: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    group = orgs.get_group(services(request).db, ctx.identity, org, name)
    admin = may_admin(ctx, org)
    # A member who is not an owner sees only the packages they may see: a private package's name is its own.
    listed = [p for p in group.packages if admin or permissions.can_see(ctx.identity, p, via="web")]
    return org_page(
        request, ctx, org, "org_group.html", "groups", status,
        group=group, listed=listed, permissions=PERMISSIONS, names=orgs.PERMISSION_NAMES,
        packages=_package_names(request, org) if admin else [], errors=errors or {}, values=values or {},
        owners=OWNERS_GROUP,
    )  # fmt: skip


@router.get("/organization/{login:packyard_login}/settings/groups/{name}")
def group_page(request: Request, login: str, name: str) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    return group_view(request, ctx, visible_org(request, ctx, login), name)


def _group_action(
    kind: str, act: Callable[[Any, PageContext, Account, str, FormData], Any], said: Callable[[FormData], str]
) -> Callable[[Request, str, str], Awaitable[Response]]:
    """A POST on one group's page: run `act` (a service call), then back to the group's page with `said`."""

    async def route(request: Request, login: str, name: str) -> Response:
        ctx, form, org = await _form_for(request, login)
        db = services(request).db
        return await _attempt(
            lambda: act(db, ctx, org, name, form),
            lambda text, status: group_view(
                request, ctx, org, name, status, {kind: text}, {k: field(form, k) for k in form}
            ),
            lambda: done(request, ctx, group_url(org, name), said(form)),
        )

    return route


def _permission_name(value: str) -> str:
    return orgs.PERMISSION_NAMES.get(value, value)


def _require_names(text: str, what: str) -> list[str]:
    names = names_in(text)
    if not names:
        raise BadRequest(f"type at least one {what}")
    return names


router.add_api_route(
    "/organization/{login:packyard_login}/settings/groups/{name}/permission",
    _group_action(
        "permission",
        lambda db, ctx, org, name, form: orgs.set_group_perms(
            db, ctx.identity, org, name, field(form, "permission")
        ),
        lambda form: f"Permission changed to {_permission_name(field(form, 'permission'))}.",
    ),
    methods=["POST"],
)
router.add_api_route(
    "/organization/{login:packyard_login}/settings/groups/{name}/members",
    _group_action(
        "members",
        lambda db, ctx, org, name, form: orgs.add_members(
            db, ctx.identity, org, name, _require_names(field(form, "logins"), "username")
        ),
        lambda form: f"Added {', '.join(names_in(field(form, 'logins')))}.",
    ),
    methods=["POST"],
)
router.add_api_route(
    "/organization/{login:packyard_login}/settings/groups/{name}/members/remove",
    _group_action(
        "members",
        lambda db, ctx, org, name, form: orgs.set_member(
            db, ctx.identity, org, name, field(form, "login"), False
        ),
        lambda form: f"Removed {field(form, 'login')}.",
    ),
    methods=["POST"],
)
router.add_api_route(
    "/organization/{login:packyard_login}/settings/groups/{name}/packages",
    _group_action(
        "packages",
        lambda db, ctx, org, name, form: orgs.add_packages(
            db, ctx.identity, org, name, _require_names(field(form, "packages"), "package name")
        ),
        lambda form: f"Added {', '.join(names_in(field(form, 'packages')))}.",
    ),
    methods=["POST"],
)
router.add_api_route(
    "/organization/{login:packyard_login}/settings/groups/{name}/packages/remove",
    _group_action(
        "packages",
        lambda db, ctx, org, name, form: orgs.set_group_package(
            db, ctx.identity, org, name, field(form, "package"), False
        ),
        lambda form: f"Removed {field(form, 'package')} from the group.",
    ),
    methods=["POST"],
)


@router.post("/organization/{login:packyard_login}/settings/groups/{name}/delete")
async def delete_group(request: Request, login: str, name: str) -> Response:
    ctx, form, org = await _form_for(request, login)
    if not may_admin(ctx, org):  # no confirmation page for an action the caller may not do
        raise Forbidden(f"{ctx.identity.login} may not administer {org.login}")
    if not confirmed(form, name):
        return await run_in_threadpool(
            lambda: confirm_page(
                request,
                ctx,
                title=f"Delete the group {name}?",
                message=f"Its members lose what the group gave them on {org.login}'s packages.",
                action=f"{group_url(org, name)}/delete",
                expected=name,
                back=group_url(org, name),
                button="Delete the group",
            )
        )
    await run_in_threadpool(orgs.delete_group, services(request).db, ctx.identity, org, name)
    return done(request, ctx, settings_url(org, "groups"), f"Group {name} deleted.")
