"""Organizations, their groups, and package collaborators.

An organization is an `Account` of kind org. Its owners are the members of its built-in `owners` group (perms
admin, applying to every package of the organization); other groups give their permission on the packages they
list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

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
from packyard.core.services import accounts
from packyard.core.services.events import emit

# --- the profile: what an organization says about itself --------------------------------------------------------

PROFILE_LIMITS = accounts.PROFILE_FIELDS
"""The profile fields an owner may edit (the same as a user's) and their longest length."""
clean_profile = accounts.clean_profile


def create_org(db: Database, identity: Identity, login: str, name: str = "", email: str = "") -> Account:
    creator = identity.account
    if creator is None:
        raise Unauthorized("log in to create an organization")
    if creator.kind != AccountKind.USER:
        raise BadRequest("organizations are created by users")
    permissions.require_unrestricted(identity, "creating an organization")
    validate_login(login)
    profile = clean_profile({"name": name, "email": email})
    with db.write() as session:
        if session.scalar(select(Account.id).where(Account.login_key == login.lower())) is not None:
            raise Conflict(f"the login {login!r} is already taken")
        org = Account(
            login=login,
            login_key=login.lower(),
            kind=AccountKind.ORG,
            name=profile["name"] or login,
            email=profile["email"],
        )
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
    from packyard.core.services import packages  # it imports this module

    with db.write() as session:
        for pkg in list(session.scalars(select(Package).where(Package.owner_id == org.id))):
            packages.remove_package_in(session, identity, pkg)
        session.delete(session.get_one(Account, org.id))
        emit(session, "org.removed", identity, org.login)


def update_profile(db: Database, identity: Identity, org: Account, changes: Mapping[str, object]) -> Account:
    """Change an organization's name, e-mail, company, location, URL or description (its administrators).

    Only the fields given change; the event names the fields that did (not their values: an e-mail address
    is not for every member's activity feed)."""
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    cleaned = clean_profile(changes)
    with db.write() as session:
        row = session.get_one(Account, org.id)
        changed = sorted(k for k, v in cleaned.items() if getattr(row, k) != v)
        for key in changed:
            setattr(row, key, cleaned[key])
        if changed:
            emit(session, "org.updated", identity, row.login, fields=changed)
    return row


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


PERMISSION_NAMES: dict[str, str] = {
    GroupPerm.READ: "Read-Only",
    GroupPerm.WRITE: "Read-Write",
    GroupPerm.ADMIN: "Administration",
}
"""What the pages call each group permission (seed 001's words); the API uses the values (read, write, admin)."""


def _perms(perms: str) -> str:
    if perms not in tuple(GroupPerm):
        raise BadRequest(f"the permission must be one of {', '.join(GroupPerm)}, not {perms!r}")
    return perms


def _user(session: Session, login: str) -> Account:
    user = queries.owner(session, login)
    if user.kind != AccountKind.USER:
        raise BadRequest(f"{login} is an organization; only users can be members")
    return user


def _org_package(session: Session, org: Account, package: str) -> Package:
    pkg = session.scalar(
        select(Package).where(Package.owner_id == org.id, Package.name_key == package_key(package))
    )
    if pkg is None:
        raise NotFound(f"package {org.login}/{package} not found")
    return pkg


def create_group(
    db: Database,
    identity: Identity,
    org: Account,
    name: str,
    perms: str,
    *,
    members: Iterable[str] = (),
    packages: Iterable[str] = (),
) -> Group:
    """A new group with its members and packages, all in one transaction: a misspelt login or package name
    leaves no half-made group behind. Each member is notified (the `group.member_added` event)."""
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    _perms(perms)
    validate_login(name)
    with db.write() as session:
        if session.scalar(select(Group.id).where(Group.org_id == org.id, Group.name == name)):
            raise Conflict(f"group {org.login}/{name} already exists")
        users = {u.id: u for u in (_user(session, login) for login in members)}
        pkgs = {p.id: p for p in (_org_package(session, org, package) for package in packages)}
        group = Group(org_id=org.id, name=name, perms=perms)
        session.add(group)
        session.flush()
        emit(session, "group.created", identity, org.login, group=name, perms=perms)
        for user in users.values():
            session.add(GroupMember(group_id=group.id, account_id=user.id))
            emit(session, "group.member_added", identity, org.login, group=name, member=user.login)
        for pkg in pkgs.values():
            session.add(GroupPackage(group_id=group.id, package_id=pkg.id))
            emit(session, "group.package_added", identity, org.login, pkg.name, group=name)
    return group


def set_group_perms(db: Database, identity: Identity, org: Account, name: str, perms: str) -> Group:
    """Change what a group's members may do with its packages (read, write, admin). The owners group always
    administers everything, so its level is not for changing."""
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    _perms(perms)
    if name == OWNERS_GROUP:
        raise BadRequest("the owners group always has the Administration permission; it cannot be changed")
    with db.write() as session:
        group = _group(session, org, name)
        old = group.perms
        if old != perms:
            group.perms = perms
            emit(session, "group.perms_changed", identity, org.login, group=name, old=old, perms=perms)
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
        user = _user(session, login)
        present = user in group.members
        if member == present:
            return  # nothing changed: no event, so nobody is notified twice of one membership
        if member:
            session.add(GroupMember(group_id=group.id, account_id=user.id))
        else:
            if name == OWNERS_GROUP and len(group.members) == 1:
                raise Conflict(
                    f"{user.login} is the last owner of {org.login}: an organization always keeps one owner, "
                    "so add another owner first"
                )
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


def add_members(
    db: Database, identity: Identity, org: Account, name: str, logins: Iterable[str]
) -> list[str]:
    """Add several users to a group at once (the page's members box, "type their names, add"), all or none: an
    unknown login adds nobody. Returns the logins that were not members yet; each of them is notified."""
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    added: list[str] = []
    with db.write() as session:
        group = _group(session, org, name)
        present = {m.id for m in group.members}
        users = {u.id: u for u in (_user(session, login) for login in logins)}
        for user in users.values():
            if user.id in present:
                continue
            session.add(GroupMember(group_id=group.id, account_id=user.id))
            emit(session, "group.member_added", identity, org.login, group=name, member=user.login)
            added.append(user.login)
    return added


def add_packages(
    db: Database, identity: Identity, org: Account, name: str, names: Iterable[str]
) -> list[str]:
    """List several of the organization's packages in a group at once, all or none (the packages box)."""
    _require_org(org)
    permissions.require(identity, Permission.ADMIN, org)
    added: list[str] = []
    with db.write() as session:
        group = _group(session, org, name)
        present = {p.id for p in group.packages}
        pkgs = {p.id: p for p in (_org_package(session, org, package) for package in names)}
        for pkg in pkgs.values():
            if pkg.id in present:
                continue
            session.add(GroupPackage(group_id=group.id, package_id=pkg.id))
            emit(session, "group.package_added", identity, org.login, pkg.name, group=name)
            added.append(pkg.name)
    return added


def org_members(db: Database, identity: Identity, org: Account) -> list[tuple[Account, list[str]]]:
    """Everyone in the organization, by login, each with the groups they are in (for its members only)."""
    require_viewer(identity, org)
    with db.read() as session:
        rows = session.execute(
            select(Account, Group.name)
            .join(GroupMember, GroupMember.account_id == Account.id)
            .join(Group, Group.id == GroupMember.group_id)
            .where(Group.org_id == org.id)
            .order_by(Account.login_key, Group.name)
        ).all()
    out: dict[int, tuple[Account, list[str]]] = {}
    for account, group in rows:
        out.setdefault(account.id, (account, []))[1].append(group)
    return list(out.values())


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
        pkg = _org_package(session, org, package)
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
