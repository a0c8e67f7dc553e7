"""A package's settings: `/OWNER/PACKAGE/settings` (details), `.../settings/collaborators`, `.../settings/admin`.

Seed 001's "Settings" tab with its left menu: the details (summary, description, license, URLs) for whoever may
write to the package (collaborators too); collaborators, the access level, the transfer to another owner and the
deletion for whoever administers it. Each menu entry is shown only to who may use it, and a settings URL the
caller may not use is the same 404 as a package that does not exist (nobody learns more from it than from the
package page).

Every form posts to a thin route that checks the CSRF token first and then calls the service the REST API calls:
`packages.update_package` (PATCH /api/package/OWNER/NAME), `packages.set_access` (POST /api/packages/OWNER/access),
`orgs.set_collaborator` (PUT/DELETE /api/packages/OWNER/NAME/collaborators/LOGIN), `packages.transfer`
(POST /api/package/OWNER/NAME/transfer), `packages.delete_package` (DELETE /api/package/OWNER/NAME). Those ask
`core.permissions` again: a forged form is refused there whatever the page showed. Transfer and delete need the
package name typed (ui/forms.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.errors import BadRequest, Conflict, NotFound
from packyard.core.models import AccountKind, Package
from packyard.core.permissions import Permission
from packyard.core.services import orgs
from packyard.core.services import packages as pkg_service
from packyard.ui import reads
from packyard.ui.forms import confirm_page, confirmed, done, field, read_form
from packyard.ui.package_reads import visible_package
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

SECTIONS = {"details": "Settings", "collaborators": "Collaborators", "admin": "Admin"}
"""The left menu, in order: section -> its name."""
NEEDS = {"details": Permission.WRITE, "collaborators": Permission.ADMIN, "admin": Permission.ADMIN}
"""What each section needs on the package (what its service asks for)."""
DETAILS = (
    ("summary", "Summary", "One line shown in listings and search."),
    ("license", "License", "An SPDX name such as BSD-3-Clause."),
    ("license_url", "License URL", ""),
    ("home", "Home page", ""),
    ("dev_url", "Development URL", "Where the source is developed."),
    ("doc_url", "Documentation URL", ""),
)
"""The one-line fields of the details form: (field, label, hint). The description is a Markdown textarea."""
COLLABORATOR_CHOICES = (("write", "Read and write"), ("read", "Read only"))
ACCESS_CHOICES = (
    ("public", "Public", "Anybody may see and install it."),
    ("authenticated", "Signed-in users", "Only signed-in users and tokens of this site."),
    ("private", "Private", "Only the owner, its groups with access and the collaborators (with a token)."),
)


def _base(pkg: Package) -> str:
    return f"/{quote(pkg.owner.login)}/{quote(pkg.name)}"


def _managed(session: Any, ident: Identity, owner: str, name: str, section: str) -> Package:
    """The package if the caller may use this settings section, else the package page's 404."""
    pkg = visible_package(session, ident, owner, name)
    if not permissions.can(ident, NEEDS[section], pkg, via="web"):
        raise NotFound(f"package {owner}/{name} not found")
    return pkg


@dataclass(frozen=True)
class Destination:
    login: str
    name: str


def destinations(session: Any, ident: Identity, pkg: Package) -> list[Destination]:
    """Where the caller may transfer the package: the organizations they administer and themselves, less the
    current owner (the service asks ADMIN on the destination; a site administrator may also type any login)."""
    me = ident.account
    out: list[Destination] = []
    if me is not None and me.id != pkg.owner_id:
        out.append(Destination(me.login, "yourself"))
    for org in reads.organizations(session, ident.grants.owner_of):
        if org.id != pkg.owner_id and org.kind == AccountKind.ORG:
            out.append(Destination(org.login, org.name or ""))
    return out


def _menu(ident: Identity, pkg: Package) -> list[tuple[str, str, str]]:
    base = _base(pkg) + "/settings"
    paths = {"details": base, "collaborators": base + "/collaborators", "admin": base + "/admin"}
    return [
        (section, title, paths[section])
        for section, title in SECTIONS.items()
        if permissions.can(ident, NEEDS[section], pkg, via="web")
    ]


def _show(
    request: Request, ctx: PageContext, owner: str, name: str, section: str, status: int = 200, **extra: Any
) -> Response:
    ident = ctx.identity
    svc = services(request)
    with svc.db.read() as session:
        pkg = _managed(session, ident, owner, name, section)
        values: dict[str, Any] = {}
        if section == "admin":
            values["destinations"] = destinations(session, ident, pkg)
        _ = pkg.owner
    if section == "collaborators":
        values["collaborators"] = orgs.collaborator_levels(svc.db, ident, pkg)
    return page(
        request,
        ctx,
        "package_settings.html",
        status,
        pkg=pkg,
        owner=pkg.owner,
        tab="settings",
        section=section,
        menu=_menu(ident, pkg),
        details=DETAILS,
        access_choices=ACCESS_CHOICES,
        collaborator_choices=COLLABORATOR_CHOICES,
        error=extra.pop("error", None),
        form_values=extra.pop("form_values", None),
        **values,
        **extra,
    )


# --- pages -------------------------------------------------------------------------------------------------------


@router.get("/{owner:packyard_login}/{name}/settings")
def details_page(request: Request, owner: str, name: str) -> Response:
    return _show(request, page_context(request), owner, name, "details")


@router.get("/{owner:packyard_login}/{name}/settings/collaborators")
def collaborators_page(request: Request, owner: str, name: str) -> Response:
    return _show(request, page_context(request), owner, name, "collaborators")


@router.get("/{owner:packyard_login}/{name}/settings/admin")
def admin_page(request: Request, owner: str, name: str) -> Response:
    return _show(request, page_context(request), owner, name, "admin")


# --- forms -------------------------------------------------------------------------------------------------------


async def _form(request: Request) -> tuple[PageContext, FormData]:
    """Every form here: the caller, then the form, then its CSRF token, before anything else is read."""
    ctx = await page_context_async(request)
    form = await read_form(request)
    check_csrf(request, ctx, form.get("csrf_token"))
    return ctx, form


def _where(request: Request, ident: Identity, owner: str, name: str, section: str) -> tuple[str, str]:
    """(owner login, package name) as spelled, if the caller may use the section (else the 404)."""
    with services(request).db.read() as session:
        pkg = _managed(session, ident, owner, name, section)
        return pkg.owner.login, pkg.name


@router.post("/{owner:packyard_login}/{name}/settings")
async def save_details(request: Request, owner: str, name: str) -> Response:
    ctx, form = await _form(request)
    values = {key: field(form, key).strip() for key, _, _ in DETAILS}
    description = field(form, "description")
    info = pkg_service.PackageInfo(
        summary=values["summary"], description=description, license=values["license"],
        license_url=values["license_url"], home=values["home"], dev_url=values["dev_url"],
        doc_url=values["doc_url"],
    )  # fmt: skip
    login, pkg_name = await run_in_threadpool(_where, request, ctx.identity, owner, name, "details")
    try:
        await run_in_threadpool(
            pkg_service.update_package, services(request).db, ctx.identity, login, pkg_name, info
        )
    except BadRequest as exc:
        return await run_in_threadpool(
            _show, request, ctx, login, pkg_name, "details", 400, error=exc.message,
            form_values={**values, "description": description},
        )  # fmt: skip
    return done(request, ctx, f"/{quote(login)}/{quote(pkg_name)}/settings", "Saved the package's details.")


@router.post("/{owner:packyard_login}/{name}/settings/access")
async def save_access(request: Request, owner: str, name: str) -> Response:
    ctx, form = await _form(request)
    access = field(form, "access")
    login, pkg_name = await run_in_threadpool(_where, request, ctx.identity, owner, name, "admin")
    await run_in_threadpool(
        pkg_service.set_access, services(request).db, ctx.identity, login, [pkg_name], access
    )
    words = dict((a, label) for a, label, _ in ACCESS_CHOICES)
    return done(
        request, ctx, f"/{quote(login)}/{quote(pkg_name)}/settings/admin", f"Access set to {words[access]}."
    )


@router.post("/{owner:packyard_login}/{name}/settings/collaborators")
async def add_collaborator(request: Request, owner: str, name: str) -> Response:
    ctx, form = await _form(request)
    who, permission = field(form, "login").strip(), field(form, "permission") or "write"
    return await run_in_threadpool(_collaborator, request, ctx, owner, name, who, True, permission)


@router.post("/{owner:packyard_login}/{name}/settings/collaborators/remove")
async def remove_collaborator(request: Request, owner: str, name: str) -> Response:
    ctx, form = await _form(request)
    who = field(form, "login").strip()
    return await run_in_threadpool(_collaborator, request, ctx, owner, name, who, False)


def _collaborator(
    request: Request, ctx: PageContext, owner: str, name: str, who: str, add: bool, permission: str = "write"
) -> Response:
    svc = services(request)
    with svc.db.read() as session:
        pkg = _managed(session, ctx.identity, owner, name, "collaborators")
        _ = pkg.owner
    back = _base(pkg) + "/settings/collaborators"
    if not who:
        return _show(request, ctx, owner, name, "collaborators", 400, error="Enter the username to add.")
    try:
        orgs.set_collaborator(svc.db, ctx.identity, pkg, who, add, permission)
    except (BadRequest, NotFound) as exc:
        if not add:
            raise
        return _show(request, ctx, owner, name, "collaborators", 400, error=_sentence(exc.message))
    if add:
        may = "read" if permission == "read" else "read and write"
        return done(request, ctx, back, f"{who} is now a collaborator on {pkg.name} ({may}).")
    return done(request, ctx, back, f"{who} is no longer a collaborator on {pkg.name}.")


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


@router.post("/{owner:packyard_login}/{name}/settings/transfer")
async def transfer(request: Request, owner: str, name: str) -> Response:
    ctx, form = await _form(request)
    to = field(form, "to_login").strip() or field(form, "to").strip()
    login, pkg_name = await run_in_threadpool(_where, request, ctx.identity, owner, name, "admin")
    admin = f"/{quote(login)}/{quote(pkg_name)}/settings/admin"
    if not to:
        return done(request, ctx, admin, "Choose the new owner, or type its username.", kind="error")
    if not confirmed(form, pkg_name):
        return confirm_page(
            request, ctx, title=f"Transfer {login}/{pkg_name} to {to}?",
            message=f"The package, its files and their labels move to {to}; {login}'s channels no longer have it.",
            action=f"/{quote(login)}/{quote(pkg_name)}/settings/transfer", expected=pkg_name, form=form,
            keep=("to", "to_login"), button="Transfer ownership", back=admin,
        )  # fmt: skip
    try:
        moved = await run_in_threadpool(
            pkg_service.transfer, services(request).db, ctx.identity, login, pkg_name, to
        )
    except (BadRequest, Conflict) as exc:
        return done(request, ctx, admin, _sentence(exc.message), kind="error")
    return done(
        request,
        ctx,
        f"/{quote(moved.owner)}/{quote(moved.name)}",
        f"Transferred {pkg_name} from {login} to {moved.owner}.",
    )


@router.post("/{owner:packyard_login}/{name}/settings/delete")
async def delete(request: Request, owner: str, name: str) -> Response:
    ctx, form = await _form(request)
    login, pkg_name = await run_in_threadpool(_where, request, ctx.identity, owner, name, "admin")
    if not confirmed(form, pkg_name):
        return confirm_page(
            request, ctx, title=f"Delete {login}/{pkg_name}?",
            message="Every version and file of this package is removed. There is no undo.",
            action=f"/{quote(login)}/{quote(pkg_name)}/settings/delete", expected=pkg_name,
            back=f"/{quote(login)}/{quote(pkg_name)}/settings/admin",
        )  # fmt: skip
    await run_in_threadpool(pkg_service.delete_package, services(request).db, ctx.identity, login, pkg_name)
    return done(request, ctx, f"/{quote(login)}", f"Deleted the package {pkg_name}.")
