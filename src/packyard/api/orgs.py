"""Organizations, groups (anaconda-client's `groups` command), collaborators, transfers, access and sign-up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from packyard.api.body import body_of
from packyard.api.schemas import (
    DeletePackages,
    GroupCreate,
    GroupUpdate,
    OrgCreate,
    OrgProfile,
    SetAccess,
    SignUp,
    Transfer,
)
from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.models import Account, Group
from packyard.core.services import accounts, orgs
from packyard.core.services import packages as pkg_service
from packyard.web import shapes as ser
from packyard.web.deps import Caller, SignedIn, Svc, base_url, readable_package

router = APIRouter()


def _account(svc: Svc, login: str) -> Account:
    with svc.db.read() as session:
        return queries.owner(session, login)


def _group_json(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "perms": group.perms,
        "owner": group.org.login,
        "full_name": f"{group.org.login}/{group.name}",
        "members": len(group.members),
        "packages": len(group.packages),
        "created_at": ser.iso(group.created_at),
    }


@router.post("/orgs/{login}", status_code=201)
async def create_org(
    login: str, ident: SignedIn, svc: Svc, body: Annotated[OrgCreate, body_of(OrgCreate)]
) -> dict[str, Any]:
    """Packyard extension: create an organization (display name and contact e-mail optional); the caller becomes
    its first owner."""
    org = await run_in_threadpool(orgs.create_org, svc.db, ident, login, body.name or "", body.email or "")
    return _org_json(org)


def _org_json(org: Account) -> dict[str, Any]:
    """An organization as `GET /api/user/LOGIN` shows it, plus its contact e-mail (answers to its owners only)."""
    return {**ser.user(org), "email": org.email}


@router.patch("/orgs/{login}")
async def update_org(
    login: str, ident: SignedIn, svc: Svc, body: Annotated[OrgProfile, body_of(OrgProfile)]
) -> dict[str, Any]:
    """Packyard extension: change an organization's profile (name, email, company, location, url, description);
    the fields left out stay as they are. Owners and site administrators only. The same service as the page
    `/organization/ORG/settings/profile`."""
    changes = body.model_dump(exclude_unset=True)
    org = await run_in_threadpool(orgs.update_profile, svc.db, ident, _account(svc, login), changes)
    return _org_json(org)


@router.get("/orgs/{login}/members")
def org_members(login: str, ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    """Packyard extension: everyone in the organization with the groups they are in (its members only)."""
    return [
        {"login": a.login, "name": a.name, "groups": groups}
        for a, groups in orgs.org_members(svc.db, ident, _account(svc, login))
    ]


@router.delete("/orgs/{login}", status_code=201)
def delete_org(login: str, ident: SignedIn, svc: Svc) -> Response:
    orgs.delete_org(svc.db, ident, _account(svc, login))
    return Response(status_code=201)


@router.get("/user/orgs")
def my_orgs(ident: SignedIn, svc: Svc) -> list[dict[str, Any]]:
    assert ident.login is not None
    return [ser.user(o) for o in orgs.orgs_of(svc.db, ident.login)]


@router.get("/users/{login}/orgs")
def user_orgs(login: str, ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    """Only the memberships the caller may know of (docs/security.md): none for anonymous callers."""
    return [ser.user(o) for o in orgs.orgs_of(svc.db, login, viewer=ident)]


def _may_sign_up(ident: Caller, svc: Svc) -> Identity:
    """Checked before the body is read, so a refused caller learns nothing about what a sign-up needs."""
    if not svc.settings.allow_signup:
        permissions.require_site_admin(
            ident, "sign-up is disabled on this server (ask an administrator for an account): creating users"
        )
    return ident


@router.post("/users", status_code=201)
async def sign_up(
    svc: Svc,
    ident: Annotated[Identity, Depends(_may_sign_up)],
    body: Annotated[SignUp, body_of(SignUp)],
) -> dict[str, Any]:
    """Create a user: anyone when PACKYARD_ALLOW_SIGNUP is on, otherwise site administrators only."""
    user = await run_in_threadpool(
        lambda: accounts.sign_up(
            svc.db,
            ident,
            body.login,
            body.password,
            open_signup=svc.settings.allow_signup,
            email=body.email or "",
            name=body.name or "",
        )
    )
    return ser.user(user)


# --- groups ------------------------------------------------------------------------------------------------------


@router.get("/groups")
def my_groups(ident: SignedIn, svc: Svc) -> list[dict[str, Any]]:
    return [_group_json(g) for g in orgs.groups_of(svc.db, ident)]


@router.get("/groups/{org}")
def org_groups(org: str, ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    return [_group_json(g) for g in orgs.list_groups(svc.db, ident, _account(svc, org))]


@router.get("/group/{org}/{name}")
def get_group(org: str, name: str, ident: Caller, svc: Svc) -> dict[str, Any]:
    group = orgs.get_group(svc.db, ident, _account(svc, org), name)
    return {
        **_group_json(group),
        "member_logins": [m.login for m in group.members],
        "package_names": [p.name for p in group.packages],
    }


@router.post("/group/{org}/{name}", status_code=204)
async def create_group(
    org: str, name: str, ident: SignedIn, svc: Svc, body: Annotated[GroupCreate, body_of(GroupCreate)]
) -> Response:
    perms = body.perms or "read"
    await run_in_threadpool(orgs.create_group, svc.db, ident, _account(svc, org), name, perms)
    return Response(status_code=204)


@router.patch("/group/{org}/{name}")
async def update_group(
    org: str, name: str, ident: SignedIn, svc: Svc, body: Annotated[GroupUpdate, body_of(GroupUpdate)]
) -> dict[str, Any]:
    """Packyard extension: change a group's permission level (`{"permission": "read"|"write"|"admin"}`); the
    owners group always administers. The same service as the group's page in the organization's settings."""
    account = _account(svc, org)

    def work() -> dict[str, Any]:
        orgs.set_group_perms(svc.db, ident, account, name, body.permission)
        return _group_json(orgs.get_group(svc.db, ident, account, name))

    return await run_in_threadpool(work)


@router.delete("/group/{org}/{name}", status_code=204)
def delete_group(org: str, name: str, ident: SignedIn, svc: Svc) -> Response:
    orgs.delete_group(svc.db, ident, _account(svc, org), name)
    return Response(status_code=204)


@router.get("/group/{org}/{name}/members")
def group_members(org: str, name: str, ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    group = orgs.get_group(svc.db, ident, _account(svc, org), name)
    return [{"login": m.login, "name": m.name, "user_type": m.kind} for m in group.members]


@router.get("/group/{org}/{name}/members/{login}")
def is_group_member(org: str, name: str, login: str, ident: Caller, svc: Svc) -> Response:
    found = orgs.is_group_member(svc.db, ident, _account(svc, org), name, login)
    if not found:
        return Response(b'{"error": "not a member"}', status_code=404, media_type="application/json")
    return Response(status_code=204)


@router.put("/group/{org}/{name}/members/{login}", status_code=204)
def add_group_member(org: str, name: str, login: str, ident: SignedIn, svc: Svc) -> Response:
    orgs.set_member(svc.db, ident, _account(svc, org), name, login, True)
    return Response(status_code=204)


@router.delete("/group/{org}/{name}/members/{login}", status_code=204)
def remove_group_member(org: str, name: str, login: str, ident: SignedIn, svc: Svc) -> Response:
    orgs.set_member(svc.db, ident, _account(svc, org), name, login, False)
    return Response(status_code=204)


@router.get("/group/{org}/{name}/packages")
def group_packages(org: str, name: str, ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    """The group's packages that the caller may see: a private package's name is not told to every member."""
    group = orgs.get_group(svc.db, ident, _account(svc, org), name)
    return [
        {
            "full_name": f"{org}/{p.name}",
            "name": p.name,
            "summary": p.summary,
            "access": p.access,
            "public": p.access == "public",
            "package_types": p.package_types,
            "latest_version": None,
        }
        for p in group.packages
        if permissions.can_see(ident, p)  # a member sees only the names they may see, as on the group page
    ]


@router.put("/group/{org}/{name}/packages/{package}", status_code=204)
def add_group_package(org: str, name: str, package: str, ident: SignedIn, svc: Svc) -> Response:
    orgs.set_group_package(svc.db, ident, _account(svc, org), name, package, True)
    return Response(status_code=204)


@router.delete("/group/{org}/{name}/packages/{package}", status_code=204)
def remove_group_package(org: str, name: str, package: str, ident: SignedIn, svc: Svc) -> Response:
    orgs.set_group_package(svc.db, ident, _account(svc, org), name, package, False)
    return Response(status_code=204)


# --- collaborators, transfer, access ----------------------------------------------------------------------------


@router.get("/packages/{owner}/{name}/collaborators")
def list_collaborators(owner: str, name: str, ident: Caller, svc: Svc) -> list[dict[str, Any]]:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
    return [
        {"login": a.login, "name": a.name, "permission": level}
        for a, level in orgs.collaborator_levels(svc.db, ident, pkg)
    ]


@router.put("/packages/{owner}/{name}/collaborators/{login}", status_code=201)
def add_collaborator(
    owner: str,
    name: str,
    login: str,
    ident: SignedIn,
    svc: Svc,
    permission: Annotated[
        str, Query(description="write (the default: upload, label, edit) or read (see and install only)")
    ] = "write",
) -> Response:
    """Add a collaborator, or change what an existing one may do (`?permission=read`; anaconda-client sends none)."""
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
    orgs.set_collaborator(svc.db, ident, pkg, login, True, permission)
    return Response(status_code=201)


@router.delete("/packages/{owner}/{name}/collaborators/{login}", status_code=201)
def remove_collaborator(owner: str, name: str, login: str, ident: SignedIn, svc: Svc) -> Response:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
    orgs.set_collaborator(svc.db, ident, pkg, login, False)
    return Response(status_code=201)


@router.post("/package/{owner}/{name}/transfer")
async def transfer(
    owner: str,
    name: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[Transfer, body_of(Transfer)],
) -> dict[str, Any]:
    """Packyard extension: give a package to another owner you administer (yourself or your organization)."""
    to = body.to_owner

    def work() -> dict[str, Any]:
        moved = pkg_service.transfer(svc.db, ident, owner, name, to)
        with svc.db.read() as session:
            return ser.package(queries.package(session, moved.owner, moved.name), base_url(request))

    return await run_in_threadpool(work)


@router.post("/packages/{owner}/access")
async def set_access(
    owner: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[SetAccess, body_of(SetAccess)],
) -> list[dict[str, Any]]:
    """Packyard extension: set the access level of several packages at once, all or nothing."""
    names, access = body.packages, body.access

    def work() -> list[dict[str, Any]]:
        pkg_service.set_access(svc.db, ident, owner, names, access)
        with svc.db.read() as session:
            return [ser.package(queries.package(session, owner, n), base_url(request)) for n in names]

    return await run_in_threadpool(work)


@router.post("/packages/{owner}/delete")
async def delete_packages(
    owner: str,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[DeletePackages, body_of(DeletePackages)],
) -> dict[str, Any]:
    """Packyard extension: delete several packages of OWNER at once, all or nothing (the owner page's Delete)."""
    names = body.packages
    removed = await run_in_threadpool(pkg_service.delete_packages, svc.db, ident, owner, names)
    return {"deleted": removed}
