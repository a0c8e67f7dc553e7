"""The one place that decides who may do what.

Every endpoint — REST, conda, PyPI, CRAN, downloads, the UI — asks `can(identity, permission, target, via=...)`
or one of the `require_*` helpers built on it. Two questions are combined:

1. What does the *account* behind the identity have on the target? Owners (and site administrators) have
   everything on their own namespace; anybody may read a public package; any signed-in identity may read an
   `authenticated` package; nobody else may know a private package exists.
2. What does the *credential* allow? A password or session allows everything its account has. A token allows at
   most what its scopes grant through the interface (`via`) used — it never grants more than its owner has.
"""

from __future__ import annotations

import enum

from packyard.core.auth import Identity
from packyard.core.errors import Forbidden, Unauthorized
from packyard.core.models import Access, Account, Package


class Permission(enum.IntEnum):
    """Ordered: each level includes the ones below it."""

    READ = 1  # see metadata, list, search, download
    WRITE = 2  # upload, remove files and releases, label files
    ADMIN = 3  # package settings and access, delete the package, collaborators, transfer, namespace labels


# scope -> (highest permission it grants, interfaces it works through; "*" = all)
SCOPES: dict[str, tuple[Permission, frozenset[str], str]] = {
    "all": (Permission.ADMIN, frozenset({"*"}), "Full access to everything the account may do"),
    "api": (Permission.ADMIN, frozenset({"api"}), "Full access to the REST API"),
    "api:read": (Permission.READ, frozenset({"api"}), "Read access to the REST API"),
    "api:write": (
        Permission.WRITE,
        frozenset({"api"}),
        "Read and write access to the REST API (upload, labels)",
    ),
    "repos": (Permission.READ, frozenset({"*"}), "Download from every repository (conda, PyPI, CRAN, files)"),
    "repo": (Permission.READ, frozenset({"*"}), "Same as repos"),
    "conda": (Permission.WRITE, frozenset({"conda", "api"}), "Download and upload conda packages"),
    "conda:download": (Permission.READ, frozenset({"conda", "api"}), "Download conda packages"),
    "pypi": (Permission.WRITE, frozenset({"pypi", "api"}), "Download and upload PyPI packages"),
    "pypi:download": (Permission.READ, frozenset({"pypi", "api"}), "Download PyPI packages"),
    "pypi:upload": (Permission.WRITE, frozenset({"pypi", "api"}), "Upload PyPI packages"),
    "cran": (Permission.WRITE, frozenset({"cran", "api"}), "Download and upload R packages"),
    "cran:download": (Permission.READ, frozenset({"cran", "api"}), "Download R packages"),
}

INTERFACES = frozenset({"api", "conda", "pypi", "cran", "web"})


def scope_allows(scopes: frozenset[str], permission: Permission, via: str) -> bool:
    for scope in scopes:
        granted = SCOPES.get(scope)
        if granted is None:
            continue
        level, interfaces, _ = granted
        if level >= permission and ("*" in interfaces or via in interfaces):
            return True
    return False


def account_level(identity: Identity, package: Package) -> Permission | None:
    """What the account behind `identity` may do with `package`, ignoring the credential's scopes."""
    account = identity.account
    if account is not None and (account.is_admin or account.id == package.owner_id):
        return Permission.ADMIN
    if package.access == Access.PUBLIC:
        return Permission.READ
    if package.access == Access.AUTHENTICATED and account is not None:
        return Permission.READ
    return None


def namespace_level(identity: Identity, owner: Account) -> Permission | None:
    """What the account may do in `owner`'s namespace as a whole (create packages, manage labels)."""
    account = identity.account
    if account is not None and (account.is_admin or account.id == owner.id):
        return Permission.ADMIN
    return Permission.READ


def can(identity: Identity, permission: Permission, target: Package | Account, *, via: str = "api") -> bool:
    level = (
        account_level(identity, target) if isinstance(target, Package) else namespace_level(identity, target)
    )
    if level is None or level < permission:
        return False
    if identity.token is None:
        return True
    if permission == Permission.READ and isinstance(target, Package) and target.access == Access.PUBLIC:
        return True  # reading something public needs no scope: a token only narrows what its owner has
    return scope_allows(identity.scopes, permission, via)


def can_see(identity: Identity, package: Package, *, via: str = "api") -> bool:
    """May the identity know that this package exists (listings, search, indexes)?"""
    return can(identity, Permission.READ, package, via=via)


def require(
    identity: Identity, permission: Permission, target: Package | Account, *, via: str = "api"
) -> None:
    """Raise what the caller should get: 401 (asking for credentials) when anonymous, 403 when they don't suffice."""
    if can(identity, permission, target, via=via):
        return
    if identity.is_anonymous:
        name = f"{target.owner.login}/{target.name}" if isinstance(target, Package) else target.login
        raise Unauthorized(f"{name}: this requires authentication")
    raise Forbidden(_forbidden_message(identity, permission, target))


def _forbidden_message(identity: Identity, permission: Permission, target: Package | Account) -> str:
    name = f"{target.owner.login}/{target.name}" if isinstance(target, Package) else target.login
    what = {Permission.READ: "read", Permission.WRITE: "write to", Permission.ADMIN: "administer"}[permission]
    if (
        identity.token is not None
        and (
            (
                account_level(identity, target)
                if isinstance(target, Package)
                else namespace_level(identity, target)
            )
            or Permission.READ
        )
        >= permission
    ):
        return f"the token's scopes ({', '.join(sorted(identity.scopes))}) do not allow you to {what} {name}"
    return f"{identity.login} may not {what} {name}"


def visible_access_levels(identity: Identity) -> tuple[str, ...]:
    """Access levels of other people's packages this identity may list (owned ones are always listed)."""
    if identity.is_anonymous:
        return (Access.PUBLIC,)
    return (Access.PUBLIC, Access.AUTHENTICATED)
