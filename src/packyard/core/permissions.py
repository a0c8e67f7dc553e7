"""The one place that decides who may do what.

Every endpoint — REST, conda, PyPI, CRAN, downloads, the UI — asks `can(identity, permission, target, via=...)`
or `require`, which raises the error the caller should see. Two questions are combined:

1. What does the *account* behind the identity have on the target? Owners, organization owners and site
   administrators have everything; a group gives its permission on the packages it lists; collaborators may write;
   anybody may read a public package and any signed-in identity an `authenticated` one; nobody else may know that a
   private package exists. (The account's memberships arrive pre-loaded in `Identity.grants`.)
2. What does the *credential* allow? A password or session allows everything its account has. A token allows at
   most what its scopes grant through the interface (`via`) used — it never grants more than its owner has.
"""

from __future__ import annotations

import enum
from typing import Protocol

from packyard.core.auth import Identity
from packyard.core.errors import Forbidden, Unauthorized
from packyard.core.models import Access, Account, Package


class Permission(enum.IntEnum):
    """Ordered: each level includes the ones below it."""

    READ = 1  # see metadata, list, search, download
    WRITE = 2  # upload, remove files and releases, label files
    ADMIN = 3  # package settings and access, delete the package, collaborators, transfer, namespace labels


_R, _W, _A = Permission.READ, Permission.WRITE, Permission.ADMIN

# scope -> (the permissions it grants, the interfaces it works through ("*" = all), description)
SCOPES: dict[str, tuple[frozenset[Permission], frozenset[str], str]] = {
    "all": (frozenset({_R, _W, _A}), frozenset({"*"}), "Full access to everything the account may do"),
    "api": (frozenset({_R, _W, _A}), frozenset({"api"}), "Full access to the REST API"),
    "api:read": (frozenset({_R}), frozenset({"api"}), "Read access to the REST API"),
    "api:write": (
        frozenset({_R, _W}),
        frozenset({"api"}),
        "Read and write access to the REST API (upload, labels)",
    ),
    "repos": (frozenset({_R}), frozenset({"*"}), "Download from every repository (conda, PyPI, CRAN, files)"),
    "repo": (frozenset({_R}), frozenset({"*"}), "Same as repos"),
    "conda": (frozenset({_R, _W}), frozenset({"conda", "api"}), "Download and upload conda packages"),
    "conda:download": (frozenset({_R}), frozenset({"conda", "api"}), "Download conda packages"),
    "pypi": (frozenset({_R, _W}), frozenset({"pypi", "api"}), "Download and upload PyPI packages"),
    "pypi:download": (frozenset({_R}), frozenset({"pypi", "api"}), "Download PyPI packages"),
    "pypi:upload": (
        frozenset({_W}),
        frozenset({"pypi"}),
        "Upload PyPI packages with twine (no reading, no REST API)",
    ),
    "cran": (frozenset({_R, _W}), frozenset({"cran", "api"}), "Download and upload R packages"),
    "cran:download": (frozenset({_R}), frozenset({"cran", "api"}), "Download R packages"),
}

INTERFACES = frozenset({"api", "conda", "pypi", "cran", "web"})


def scope_allows(scopes: frozenset[str], permission: Permission, via: str) -> bool:
    for scope in scopes:
        granted = SCOPES.get(scope)
        if granted is None:
            continue
        allowed, interfaces, _ = granted
        if permission in allowed and ("*" in interfaces or via in interfaces):
            return True
    return False


def _scoped(identity: Identity, owner_id: int) -> bool:
    """An organization token acts only inside its organization; elsewhere it is just a signed-in identity."""
    token = identity.token
    return token is None or token.org_id is None or token.org_id == owner_id


def account_level(identity: Identity, package: Package | PackageRef) -> Permission | None:
    """What the account behind `identity` may do with `package`, ignoring the credential's scopes."""
    account = identity.account
    level: Permission | None = None
    if account is not None and _scoped(identity, package.owner_id):
        grants = identity.grants
        if account.is_admin or account.id == package.owner_id or package.owner_id in grants.owner_of:
            return Permission.ADMIN
        group_perm = grants.packages.get(package.id)
        if group_perm is not None:
            level = _GROUP_LEVEL[group_perm]
        if package.id in grants.collaborations:
            level = max(level or Permission.WRITE, Permission.WRITE)
    if package.access == Access.PUBLIC or (package.access == Access.AUTHENTICATED and account is not None):
        level = max(level or Permission.READ, Permission.READ)
    return level


_GROUP_LEVEL = {"read": Permission.READ, "write": Permission.WRITE, "admin": Permission.ADMIN}


def namespace_level(identity: Identity, owner: Account) -> Permission:
    """What the account may do in `owner`'s namespace as a whole.

    ADMIN: manage the namespace (labels as a whole, groups, org tokens, deleting the org). WRITE: create packages.
    READ: everyone (they see what each package's access allows).
    """
    account = identity.account
    if account is None or not _scoped(identity, owner.id):
        return Permission.READ
    if account.is_admin or account.id == owner.id or owner.id in identity.grants.owner_of:
        return Permission.ADMIN
    if owner.id in identity.grants.writer_in:
        return Permission.WRITE
    return Permission.READ


def is_member(identity: Identity, org: Account) -> bool:
    """May the identity see an organization's groups?"""
    account = identity.account
    if account is None:
        return False
    return account.is_admin or account.id == org.id or org.id in identity.grants.member_of


def can_see_membership(identity: Identity, member: Account, org: Account) -> bool:
    """May the identity know that `member` belongs to `org` (GET /api/users/LOGIN/orgs)?

    anaconda.org lists only the memberships a member made public; Packyard has no public memberships, so only
    the member, site administrators and the organization's members (who see its groups anyway) may know. A
    token must allow reading through the REST API, and an organization token speaks only for its organization.
    """
    account = identity.account
    if account is None:
        return False
    if account.id == member.id:
        return True
    if identity.token is not None and not scope_allows(identity.scopes, Permission.READ, "api"):
        return False
    return _scoped(identity, org.id) and is_member(identity, org)


def can(
    identity: Identity, permission: Permission, target: Package | PackageRef | Account, *, via: str = "api"
) -> bool:
    level = (
        account_level(identity, target)
        if not isinstance(target, Account)
        else namespace_level(identity, target)
    )
    if level is None or level < permission:
        return False
    if identity.token is None:
        return True
    if permission == Permission.READ and not isinstance(target, Account) and target.access == Access.PUBLIC:
        return True  # reading something public needs no scope: a token only narrows what its owner has
    return scope_allows(identity.scopes, permission, via)


class PackageRef(Protocol):
    """What access decisions read of a package: listings pass light rows instead of loading whole packages."""

    id: int
    owner_id: int
    access: str


def can_see(identity: Identity, package: Package | PackageRef, *, via: str = "api") -> bool:
    """May the identity know that this package exists (listings, search, indexes)?"""
    return can(identity, Permission.READ, package, via=via)


def require(
    identity: Identity, permission: Permission, target: Package | Account, *, via: str = "api"
) -> None:
    """Raise what the caller should get: 401 (asking for credentials) when anonymous, 403 when they don't suffice."""
    if can(identity, permission, target, via=via):
        return
    if identity.is_anonymous:
        name = f"{target.owner.login}/{target.name}" if not isinstance(target, Account) else target.login
        raise Unauthorized(f"{name}: this requires authentication")
    raise Forbidden(_forbidden_message(identity, permission, target))


def _forbidden_message(identity: Identity, permission: Permission, target: Package | Account) -> str:
    name = f"{target.owner.login}/{target.name}" if not isinstance(target, Account) else target.login
    what = {Permission.READ: "read", Permission.WRITE: "write to", Permission.ADMIN: "administer"}[permission]
    level = (
        account_level(identity, target)
        if not isinstance(target, Account)
        else namespace_level(identity, target)
    )
    if identity.token is not None and level is not None and level >= permission:
        return f"the token's scopes ({', '.join(sorted(identity.scopes))}) do not allow you to {what} {name}"
    return f"{identity.login} may not {what} {name}"
