"""Organizations, their groups, and package collaborators.

An organization is an `Account` of kind org. Its owners are the members of its built-in `owners` group (perms
admin, applying to every package of the organization); other groups give their permission on the packages they
list.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from packyard.core import permissions, queries
from packyard.core.auth import Identity, validate_login
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from packyard.core.models import (
    OWNERS_GROUP,
    Account,
    AccountKind,
    Collaborator,
    Group,
    GroupMember,
    GroupPackage,
    GroupPerm,
    Package,
    package_key,
)
from packyard.core.permissions import Permission
from packyard.core.services.events import emit


def create_org(db: Database, identity: Identity, login: str, name: str = "") -> Account:
    creator = identity.account
    if creator is None:
        raise Unauthorized("log in to create an organization")
    if creator.kind != AccountKind.USER:
        raise BadRequest("organizations are created by users")
    permissions.require_unrestricted(identity, "creating an organization")
    validate_login(login)
    with db.write() as session:
        if session.scalar(select(Account.id).where(Account.login_key == login.lower())) is not None:
            raise Conflict(f"the login {login!r} is already taken")
        org = Account(login=login, login_key=login.lower(), kind=AccountKind.ORG, name=name or login)
        session.add(org)
        session.flush()
        owners = Group(org_id=org.id, name=OWNERS_GROUP, perms=GroupPerm.ADMIN)
        session.add(owners)
        session.flush()
        session.add(GroupMember(group_id=owners.id, account_id=creator.id))
        emit(session, "org.created", identity, org.login)
    return org


def delete_org(db: Database, identity: Identity, org: Account) -> None:
    """Delete an organization with everything in it (packages, files, labels, groups, its tokens).

    Like creating one, an act for the account: it also ends every owner's tokens for the organization."""
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    permissions.require_unrestricted(identity, f"deleting the organization {org.login}")
    with db.write() as session:
        for pkg in session.scalars(select(Package).where(Package.owner_id == org.id)):
            for rel in pkg.releases:
                for f in rel.files:
                    emit(
                        session,
                        "file.removed",
                        identity,
                        org.login,
                        pkg.name,
                        rel.version,
                        f.basename,
                        labels=[label.name for label in f.labels],
                        sha256=f.sha256,
                        package_type=f.package_type,
                    )
            emit(session, "package.removed", identity, org.login, pkg.name)
        session.delete(session.get_one(Account, org.id))
        emit(session, "org.removed", identity, org.login)


def _require_org(account: Account) -> None:
    if account.kind != AccountKind.ORG:
        raise BadRequest(f"{account.login} is a user, not an organization")


def orgs_of(db: Database, login: str, viewer: Identity | None = None) -> Sequence[Account]:
    """The organizations `login` belongs to; with a `viewer`, only the memberships that viewer may know of."""
    with db.read() as session:
        user = queries.owner(session, login)
        orgs = session.scalars(
            select(Account)
            .join(Group, Group.org_id == Account.id)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.account_id == user.id)
            .distinct()
            .order_by(Account.login_key)
        ).all()
        if viewer is None:
            return orgs
        return [org for org in orgs if permissions.can_see_membership(viewer, user, org)]


def _group(session: Session, org: Account, name: str) -> Group:
    group = session.scalar(
        select(Group)
        .options(selectinload(Group.members), selectinload(Group.packages))
        .where(Group.org_id == org.id, Group.name == name)
    )
    if group is None:
        raise NotFound(f"group {org.login}/{name} not found")
    return group


def require_viewer(identity: Identity, org: Account) -> None:
    _require_org(org)
    token_ok = identity.token is None or permissions.scope_allows(identity.scopes, Permission.READ, "api")
    if permissions.is_member(identity, org) and token_ok:
        return
    if identity.is_anonymous:
        raise Unauthorized(f"log in to see the groups of {org.login}")
    raise Forbidden(f"only members of {org.login} may see its groups")


def list_groups(db: Database, identity: Identity, org: Account) -> Sequence[Group]:
    require_viewer(identity, org)
    with db.read() as session:
        return session.scalars(
            select(Group)
            .options(selectinload(Group.members), selectinload(Group.packages))
            .where(Group.org_id == org.id)
            .order_by(Group.name)
        ).all()


def groups_of(db: Database, identity: Identity) -> Sequence[Group]:
    assert identity.account is not None
    with db.read() as session:
        return session.scalars(
            select(Group)
            .options(selectinload(Group.members), selectinload(Group.packages))
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.account_id == identity.account.id)
            .order_by(Group.org_id, Group.name)
        ).all()


def get_group(db: Database, identity: Identity, org: Account, name: str) -> Group:
    require_viewer(identity, org)
    with db.read() as session:
        return _group(session, org, name)


def create_group(db: Database, identity: Identity, org: Account, name: str, perms: str) -> Group:
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    if perms not in tuple(GroupPerm):
        raise BadRequest(f"perms must be one of {', '.join(GroupPerm)}")
    validate_login(name)
    with db.write() as session:
        if session.scalar(select(Group.id).where(Group.org_id == org.id, Group.name == name)):
            raise Conflict(f"group {org.login}/{name} already exists")
        group = Group(org_id=org.id, name=name, perms=perms)
        session.add(group)
        emit(session, "group.created", identity, org.login, group=name, perms=perms)
    return group


def delete_group(db: Database, identity: Identity, org: Account, name: str) -> None:
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    if name == OWNERS_GROUP:
        raise BadRequest("the owners group cannot be removed")
    with db.write() as session:
        session.delete(_group(session, org, name))
        emit(session, "group.removed", identity, org.login, group=name)


def set_member(db: Database, identity: Identity, org: Account, name: str, login: str, member: bool) -> None:
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    with db.write() as session:
        group = _group(session, org, name)
        user = queries.owner(session, login)
        if user.kind != AccountKind.USER:
            raise BadRequest(f"{login} is an organization; only users can be members")
        present = user in group.members
        if member == present:
            return  # nothing changed: no event, so nobody is notified twice of one membership
        if member:
            session.add(GroupMember(group_id=group.id, account_id=user.id))
        else:
            if name == OWNERS_GROUP and len(group.members) == 1:
                raise Conflict(f"{login} is the last owner of {org.login}; add another owner first")
            session.execute(
                delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.account_id == user.id)
            )
        emit(
            session,
            "group.member_added" if member else "group.member_removed",
            identity,
            org.login,
            group=name,
            member=user.login,
        )


def is_group_member(db: Database, identity: Identity, org: Account, name: str, login: str) -> bool:
    group = get_group(db, identity, org, name)
    return any(m.login_key == login.lower() for m in group.members)


def set_group_package(
    db: Database, identity: Identity, org: Account, name: str, package: str, listed: bool
) -> None:
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    with db.write() as session:
        group = _group(session, org, name)
        pkg = session.scalar(
            select(Package).where(Package.owner_id == org.id, Package.name_key == package_key(package))
        )
        if pkg is None:
            raise NotFound(f"package {org.login}/{package} not found")
        if listed and pkg not in group.packages:
            session.add(GroupPackage(group_id=group.id, package_id=pkg.id))
        elif not listed and pkg in group.packages:
            session.execute(
                delete(GroupPackage).where(
                    GroupPackage.group_id == group.id, GroupPackage.package_id == pkg.id
                )
            )
        emit(
            session,
            "group.package_added" if listed else "group.package_removed",
            identity,
            org.login,
            pkg.name,
            group=name,
        )


def list_into_writer_groups(session: Session, identity: Identity, pkg: Package) -> None:
    """A package a non-owner creates in an organization joins their write/admin groups, so they can upload to it."""
    account = identity.account
    if account is None or pkg.owner_id in identity.grants.owner_of or account.is_admin:
        return
    groups = session.scalars(
        select(Group)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(
            Group.org_id == pkg.owner_id,
            GroupMember.account_id == account.id,
            Group.perms.in_((GroupPerm.WRITE, GroupPerm.ADMIN)),
        )
    ).all()
    for group in groups:
        session.add(GroupPackage(group_id=group.id, package_id=pkg.id))


# --- collaborators -------------------------------------------------------------------------------------------


COLLABORATOR_PERMISSIONS = ("write", "read")
"""What a collaborator may be given: `write` (the default, seed 001's "full read/write") or `read`."""


def collaborators(db: Database, identity: Identity, pkg: Package) -> Sequence[Account]:
    return [account for account, _ in collaborator_levels(db, identity, pkg)]


def collaborator_levels(db: Database, identity: Identity, pkg: Package) -> list[tuple[Account, str]]:
    """The package's collaborators with what each may do (`write` or `read`), by login."""
    permissions.require(identity, Permission.READ, pkg)
    with db.read() as session:
        rows = session.execute(
            select(Account, Collaborator.permission)
            .join(Collaborator, Collaborator.account_id == Account.id)
            .where(Collaborator.package_id == pkg.id)
            .order_by(Account.login_key)
        ).all()
        return [(account, permission) for account, permission in rows]


def set_collaborator(
    db: Database, identity: Identity, pkg: Package, login: str, present: bool, permission: str = "write"
) -> None:
    """Add (or change the permission of) a collaborator, or remove one; a change writes an event, which is also
    the person's notification."""
    permissions.require(identity, Permission.ADMIN, pkg)
    if permission not in COLLABORATOR_PERMISSIONS:
        raise BadRequest(f"a collaborator's permission is one of {', '.join(COLLABORATOR_PERMISSIONS)}")
    with db.write() as session:
        user = queries.owner(session, login)
        if user.kind != AccountKind.USER:
            raise BadRequest(f"{login} is an organization; collaborators are users")
        row = session.get(Collaborator, (pkg.id, user.id))
        unchanged = row is None if not present else row is not None and row.permission == permission
        if unchanged:
            return  # nothing changed: no event, so nobody is notified twice
        if present and row is not None:
            row.permission = permission
        elif present:
            session.add(Collaborator(package_id=pkg.id, account_id=user.id, permission=permission))
        else:
            session.execute(
                delete(Collaborator).where(
                    Collaborator.package_id == pkg.id, Collaborator.account_id == user.id
                )
            )
        emit(
            session,
            "collaborator.added" if present else "collaborator.removed",
            identity,
            pkg.owner.login,
            pkg.name,
            collaborator=user.login,
            **({"permission": permission} if present else {}),
        )
