"""The one place that decides who may do what.

Every endpoint — REST, conda, PyPI, CRAN, downloads, the UI — asks `can(identity, permission, target, via=...)`
or `require`, which raises the error the caller should see. Two questions are combined:

1. What does the *account* behind the identity have on the target? Owners, organization owners and site
   administrators have everything; a group gives its permission on the packages it lists; collaborators may write
   (or only read, when added with `read`); anybody may read a public package and any signed-in identity an `authenticated` one; nobody else may know that a
   private package exists. (The account's memberships arrive pre-loaded in `Identity.grants`.)
2. What does the *credential* allow? A password or session allows everything its account has. A token allows at
   most what its scopes grant through the interface (`via`) used, and for writes only on the package types its
   scopes cover (`Scope.types`) — it never grants more than its owner has.

Besides packages and namespaces, two questions about the credential itself live here: may it mint a given token
(`require_mint`: only one at most as powerful as itself), and may it act for the account as a whole — manage its
tokens, create organizations (`require_unrestricted`: only a password or an `all` token of no organization).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, and_, or_, true

from packyard.core import formats as registry
from packyard.core.auth import Identity
from packyard.core.errors import Forbidden, PackyardError, Unauthorized, unseen_package
from packyard.core.models import Access, Account, Package


class Permission(enum.IntEnum):
    """Ordered: each level includes the ones below it."""

    READ = 1  # see metadata, list, search, download
    WRITE = 2  # upload, remove files and releases, label files
    ADMIN = 3  # package settings and access, delete the package, collaborators, transfer, namespace labels


_R, _W, _A = Permission.READ, Permission.WRITE, Permission.ADMIN


@dataclass(frozen=True)
class Scope:
    """A token scope: what it grants, through which interfaces, on which package types."""

    name: str
    grants: frozenset[Permission]
    interfaces: frozenset[str]
    """The interfaces (`via`) it works through; "*" = all."""
    description: str
    types: frozenset[str] | None = None
    """The package types (File.package_type) it acts on; None = every type. The format scopes work through the
    REST API too, but only on their own format's packages: a `pypi` token may not stage a conda package or
    remove an R file there, as it may not through conda or CRAN."""


BASE_SCOPES: dict[str, Scope] = {
    s.name: s
    for s in (
        Scope(
            "all",
            frozenset({_R, _W, _A}),
            frozenset({"*"}),
            "Allow everything your account may do: every repository, the REST API, your tokens",
        ),
        Scope("api", frozenset({_R, _W, _A}), frozenset({"api"}), "Allow full access to the REST API"),
        Scope("api:read", frozenset({_R}), frozenset({"api"}), "Allow reading through the REST API"),
        Scope(
            "api:write",
            frozenset({_R, _W}),
            frozenset({"api"}),
            "Allow reading and writing through the REST API (uploads, labels)",
        ),
        Scope(
            "repos",
            frozenset({_R}),
            frozenset({"*"}),
            "Allow private downloads from every repository (conda, PyPI, R, files)",
        ),
        Scope(
            "repo",
            frozenset({_R}),
            frozenset({"*"}),
            "Allow private downloads from every repository (as repos)",
        ),
    )
}
"""The scopes that are not a format's; each format adds its own (`FormatSpec.scopes`, core/formats.py)."""

BASE_INTERFACES = frozenset({"api", "web"})


def scope(name: str) -> Scope | None:
    """The scope of that name, or None for a name no scope has."""
    return BASE_SCOPES.get(name) or registry.scope(name)


def all_scopes() -> list[Scope]:
    """Every scope a token may have: the base ones, then the formats' in registration order."""
    return [*BASE_SCOPES.values(), *registry.scopes()]


def interfaces() -> frozenset[str]:
    """Every interface a request may come through, for what an "all interfaces" scope covers."""
    return BASE_INTERFACES | registry.interfaces()


def _grants(name: str, permission: Permission, via: str) -> bool:
    granted = scope(name)
    if granted is None:
        return False
    return permission in granted.grants and ("*" in granted.interfaces or via in granted.interfaces)


def _acts_on(name: str, package_type: str | None) -> bool:
    """Does the scope act on this package type? `None` stands for every type: only untyped scopes cover it."""
    found = scope(name)
    types = found.types if found is not None else None
    return types is None or (package_type is not None and package_type in types)


def scope_allows(
    scopes: Collection[str], permission: Permission, via: str, types: Collection[str] = ()
) -> bool:
    """Do the scopes grant `permission` through `via`, on every one of `types` (when any are given)?"""
    if not types:
        return any(_grants(s, permission, via) for s in scopes)
    return all(any(_grants(s, permission, via) and _acts_on(s, t) for s in scopes) for t in types)


def token_namespace(identity: Identity) -> int | None:
    """The one namespace (account id) a token is confined to: its organization's for an organization token, the
    owner it is limited to for a channel-limited token (seed 004's channel-specific tokens), else None."""
    token = identity.token
    if token is None:
        return None
    if token.org_id is not None:
        return token.org_id
    return getattr(token, "limit_owner_id", None)


def _scoped(identity: Identity, owner_id: int) -> bool:
    """An organization token acts only inside its organization, and a channel-limited token only in its owner's
    namespace; elsewhere each is just a signed-in identity (it reads what is public, and nothing else)."""
    confined = token_namespace(identity)
    return confined is None or confined == owner_id


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
        elif package.id in grants.read_collaborations:
            level = max(level or Permission.READ, Permission.READ)
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


def can_use_mirror(identity: Identity, owner: Account, *, public: bool, via: str) -> bool:
    """May the identity read through organization `owner`'s mirror (its proxied index and the files it caches)?

    A public mirror is for anyone. A private one (core/mirrors) is for the organization's members and site
    administrators, as its cached packages are private to them: a token must allow reading through `via`, and
    an organization or channel-limited token only reads inside its own namespace. Whoever may not gets the
    answer of a hidden package (`unseen`) from the caller.
    """
    if public:
        return True
    account = identity.account
    if account is None or not _scoped(identity, owner.id):
        return False
    if identity.token is not None and not scope_allows(identity.scopes, Permission.READ, via):
        return False
    return account.is_admin or account.id == owner.id or owner.id in identity.grants.member_of


def is_mirror_fetcher(identity: Identity, owner: Account) -> bool:
    """Is this the mirror's own fetcher (core/mirrors/service.fetcher), the one writer a mirror accepts?

    The fetcher acts as the organization itself. No credential a client sends can be that: an organization has
    no password, and its tokens belong to their users (`Identity.account` is a user for every request)."""
    account = identity.account
    return account is not None and account.id == owner.id and identity.token is None


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
    identity: Identity,
    permission: Permission,
    target: Package | PackageRef | Account,
    *,
    via: str = "api",
    types: Collection[str] | None = None,
) -> bool:
    """`types`: the package types of the files the action touches (a stage, a file, a release's files). Left
    out, a write to a package concerns every type the package has; `()` says it touches no file of any type."""
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
    return scope_allows(identity.scopes, permission, via, _types_concerned(permission, target, types))


def _types_concerned(
    permission: Permission, target: Package | PackageRef | Account, types: Collection[str] | None
) -> Collection[str]:
    if types is not None:
        return types
    if permission >= Permission.WRITE and not isinstance(target, Account):
        return getattr(target, "package_types", None) or ()
    return ()


class PackageRef(Protocol):
    """What access decisions read of a package: listings pass light rows instead of loading whole packages."""

    @property
    def id(self) -> int: ...
    @property
    def owner_id(self) -> int: ...
    @property
    def access(self) -> str: ...


def can_see(identity: Identity, package: Package | PackageRef, *, via: str = "api") -> bool:
    """May the identity know that this package exists (listings, search, indexes)?"""
    return can(identity, Permission.READ, package, via=via)


@dataclass(frozen=True)
class Visibility:
    """`can_see` for one identity over every package at once, reduced to data.

    Listings (owner pages, search, counts) must not load thousands of rows to ask `can_see` of each, so this
    says the same thing as a SQL clause over `Package` (`clause`). Being a frozen value, it is also the key under
    which a page may cache what it computed for "packages this identity may see": two identities with equal
    visibilities see exactly the same packages. tests/unit/core/test_visibility_sql.py proves that the clause and
    `can_see` agree over the permission-matrix world.
    """

    signed_in: bool = False
    """`authenticated` packages too (any account whose credential may read non-public packages)."""
    everything: bool = False
    """A site administrator: every package (within `org`, for an organization token)."""
    org: int | None = None
    """An organization or channel-limited token: its account's own rights count only inside this namespace."""
    owners: frozenset[int] = frozenset()
    """Namespaces whose every package is visible: the account's own and the organizations it owns."""
    packages: frozenset[int] = frozenset()
    """Single packages visible through a group or as a collaborator."""

    def clause(self) -> ColumnElement[bool]:
        public = Package.access == Access.PUBLIC
        if not self.signed_in:
            return public
        granted: ColumnElement[bool] = true()
        if not self.everything:
            parts = []
            if self.owners:
                parts.append(Package.owner_id.in_(sorted(self.owners)))
            if self.packages:
                parts.append(Package.id.in_(sorted(self.packages)))
            if not parts:
                return Package.access.in_((Access.PUBLIC, Access.AUTHENTICATED))
            granted = or_(*parts)
        if self.org is not None:
            granted = and_(Package.owner_id == self.org, granted)
        return or_(Package.access.in_((Access.PUBLIC, Access.AUTHENTICATED)), granted)


def visibility(identity: Identity, *, via: str = "api") -> Visibility:
    """What `can_see(identity, package, via=via)` answers for every package, as a `Visibility`.

    Mirrors `account_level` and `can`: anonymous callers and tokens whose scopes do not allow reading through
    `via` see public packages only (a token reads public packages without any scope); any other account sees
    `authenticated` packages, and what its ownership, organizations, groups and collaborations give it, which an
    organization token keeps only inside its organization.
    """
    account = identity.account
    if account is None:
        return Visibility()
    if identity.token is not None and not scope_allows(identity.scopes, Permission.READ, via):
        return Visibility()
    org = token_namespace(identity)
    if account.is_admin:
        return Visibility(signed_in=True, everything=True, org=org)
    grants = identity.grants
    return Visibility(
        signed_in=True,
        org=org,
        owners=frozenset({account.id, *grants.owner_of}),
        packages=frozenset(grants.packages) | grants.collaborations | grants.read_collaborations,
    )


def can_see_clause(identity: Identity, *, via: str = "api") -> ColumnElement[bool]:
    """`can_see` as a SQL condition on `Package`: "packages this identity may see", for listings and counts."""
    return visibility(identity, via=via).clause()


def require(
    identity: Identity,
    permission: Permission,
    target: Package | Account,
    *,
    via: str = "api",
    types: Collection[str] | None = None,
) -> None:
    """Raise what the caller should get: 401 (asking for credentials) when anonymous, 403 when they don't suffice.

    A package the caller may not even read answers as if it did not exist (`unseen`): who may not see a private
    package must not learn that it exists, so no 401/403 may say more than the 404 of a missing name."""
    if can(identity, permission, target, via=via, types=types):
        return
    if not isinstance(target, Account) and not can(identity, Permission.READ, target, via=via):
        raise unseen(identity, f"{target.owner.login}/{target.name}", via=via)
    if identity.is_anonymous:
        name = f"{target.owner.login}/{target.name}" if not isinstance(target, Account) else target.login
        raise Unauthorized(f"{name}: this requires authentication")
    raise Forbidden(_forbidden_message(identity, permission, target, via, types))


ASKING_INTERFACES = frozenset({"conda", "pypi", "cran"})
"""The package managers' indexes: there a name the caller may not see answers 401 to anonymous callers, since
pip (basic-auth retries, keyring) and conda only send credentials after a 401. Everywhere else it answers 404."""


def unseen(identity: Identity, name: str, *, via: str = "api") -> PackyardError:
    """The one answer for a package (or project, channel) `name` that does not exist *or* that the caller may not
    see: both must look the same, status and text, so that private names are never confirmed.

    Anonymous callers of a package manager's index get 401 (so the client sends credentials), everyone else 404.
    The text depends only on the name and the interface, never on whether the name exists.
    """
    if identity.is_anonymous and via in ASKING_INTERFACES:
        return Unauthorized(
            f"{name}: not found, or private: pass a token (/t/TOKEN/..., or Basic TOKEN:x-auth-token)"
        )
    return unseen_package(name)


def _forbidden_message(
    identity: Identity,
    permission: Permission,
    target: Package | Account,
    via: str,
    types: Collection[str] | None,
) -> str:
    name = f"{target.owner.login}/{target.name}" if not isinstance(target, Account) else target.login
    what = {Permission.READ: "read", Permission.WRITE: "write to", Permission.ADMIN: "administer"}[permission]
    level = (
        account_level(identity, target)
        if not isinstance(target, Account)
        else namespace_level(identity, target)
    )
    if identity.token is not None and level is not None and level >= permission:
        scopes = ", ".join(sorted(identity.scopes))
        concerned = _types_concerned(permission, target, types)
        if concerned and scope_allows(identity.scopes, permission, via):
            return (
                f"the token's scopes ({scopes}) do not cover {', '.join(sorted(concerned))} packages, so they "
                f"do not allow you to {what} {name} with it; use a token with the matching scope or 'api:write'"
            )
        return f"the token's scopes ({scopes}) do not allow you to {what} {name}"
    confined = token_namespace(identity)
    if confined is not None and confined != (target.id if isinstance(target, Account) else target.owner_id):
        # "alice may not write to alice" would blame the account; it is the token that cannot act here.
        return f"{_restriction(identity)}, so it may not {what} {name}; use another token or your password"
    return f"{identity.login} may not {what} {name}"


# --- the credential itself: acting for the account, minting tokens -------------------------------------------------


def is_unrestricted(identity: Identity) -> bool:
    """Is this the account's own credential: a password or session, or a token with `all` and no organization?"""
    if identity.account is None:
        return False
    return token_namespace(identity) is None and (identity.token is None or "all" in identity.scopes)


def require_unrestricted(identity: Identity, action: str) -> None:
    """Token management and account-level actions: a narrower token must not be able to widen itself (mint,
    list or remove other tokens) nor act for the whole account (create organizations)."""
    if identity.is_anonymous:
        raise Unauthorized(f"{action} requires authentication: log in")
    if is_unrestricted(identity):
        return
    raise Forbidden(
        f"{action} needs your password or a token with the 'all' scope, no organization and no channel limit; "
        f"{_restriction(identity)}"
    )


def _restriction(identity: Identity) -> str:
    token = identity.token
    assert token is not None
    if token.org_id is not None:
        return (
            f"this token is restricted to the organization {token.org.login if token.org else token.org_id}"
        )
    if token.limit_owner_id is not None:
        owner = token.limit_owner.login if token.limit_owner else token.limit_owner_id
        return f"this token is limited to the channel {owner}"
    return f"this token has the scopes {', '.join(sorted(identity.scopes))}"


def covers(held: Collection[str], name: str) -> bool:
    """Do the `held` scopes grant everything the scope `name` does: each permission, through each interface, on
    each package type? False for a name no scope has."""
    wanted = scope(name)
    if wanted is None:
        return False
    vias = interfaces() if "*" in wanted.interfaces else wanted.interfaces
    types: Collection[str | None] = wanted.types or (None,)
    return all(
        any(_grants(h, permission, via) and _acts_on(h, t) for h in held)
        for permission in wanted.grants
        for via in vias
        for t in types
    )


def mint_expiry(identity: Identity, requested: dt.datetime | None) -> dt.datetime | None:
    """The expiry a token minted by `identity` gets: what was asked for, but never later than the minting
    token's own (a token asked for without an expiry expires with the token that made it)."""
    own = identity.token.expires_at if identity.token is not None else None
    if own is None:
        return requested
    return own if requested is None or requested > own else requested


def mint_refusal(
    identity: Identity,
    scopes: Collection[str],
    org: Account | None,
    expires_at: dt.datetime | None,
    limit: Account | None = None,
) -> str | None:
    """Why `identity` may not mint a token with these scopes, organization, expiry and channel limit; None when
    it may.

    A password mints anything its account may (org tokens: `require(ADMIN, org)` besides). A token mints only
    tokens at most as powerful as itself: scopes it covers, its own organization when it has one, its own channel
    limit when it has one, an expiry no later than its own."""
    token = identity.token
    if identity.account is None:
        return "a token must belong to a user"
    if token is None:
        return None
    held = ", ".join(sorted(identity.scopes))
    if token.org_id is not None and (org is None or org.id != token.org_id):
        login = token.org.login if token.org else str(token.org_id)
        return (
            f"this token acts only inside the organization {login}, so it may only create tokens for "
            f"{login} (anaconda auth --create --org {login})"
        )
    limited = getattr(token, "limit_owner_id", None)
    if limited is not None and (limit is None or limit.id != limited):
        login = token.limit_owner.login if token.limit_owner else str(limited)
        return (
            f"this token is limited to the channel {login}, so it may only create tokens limited to {login}"
        )
    wider = [s for s in scopes if not covers(identity.scopes, s)]
    if wider:
        return (
            f"this token's scopes ({held}) do not include {', '.join(wider)}: a token may only create tokens "
            "with the same or narrower scopes (use your password for more)"
        )
    if token.expires_at is not None and (expires_at is None or expires_at > token.expires_at):
        return (
            f"this token expires at {token.expires_at.isoformat()}; a token it creates may not expire later"
        )
    return None


def may_mint(
    identity: Identity,
    scopes: Collection[str],
    org: Account | None,
    expires_at: dt.datetime | None,
    limit: Account | None = None,
) -> bool:
    return mint_refusal(identity, scopes, org, expires_at, limit) is None


def require_mint(
    identity: Identity,
    scopes: Collection[str],
    org: Account | None,
    expires_at: dt.datetime | None,
    limit: Account | None = None,
) -> None:
    if identity.is_anonymous:
        raise Unauthorized("log in to create a token")
    reason = mint_refusal(identity, scopes, org, expires_at, limit)
    if reason is not None:
        raise Forbidden(reason)


def require_site_admin(identity: Identity, action: str) -> None:
    """Server-wide actions (creating users when sign-up is closed): a site administrator's own credential."""
    account = identity.account
    if account is None or not account.is_admin:
        raise Forbidden(f"{action} is for site administrators")
    require_unrestricted(identity, action)


# --- the web UI's dashboards: activity and notifications ------------------------------------------------------------


def can_see_namespace_activity(identity: Identity, owner: Account) -> bool:
    """May the identity read `owner`'s activity feed (a dashboard)?

    Only the namespace's own people: the account itself, an organization's members, site administrators. Even a
    feed of public packages says who works on what and when, which is the namespace's business; everyone else
    sees the owner page. An organization token speaks only for its organization, and a token must allow reading
    through the web.
    """
    account = identity.account
    if account is None or not _scoped(identity, owner.id):
        return False
    if identity.token is not None and not scope_allows(identity.scopes, Permission.READ, "web"):
        return False
    return account.is_admin or account.id == owner.id or owner.id in identity.grants.member_of


def can_see_event(
    identity: Identity, owner: Account, package: Package | PackageRef | None, *, about_package: bool
) -> bool:
    """May the identity see one event of `owner`'s activity feed?

    An event about a package (`about_package`) is shown only to those who may see that package now
    (`package`, None when it no longer exists): its name, versions and files are the package's. Events about
    a package that is gone are shown to the namespace's administrators only, since nobody can tell any more who
    could see it. Namespace events (groups, label locks) go to everyone who may read the feed.
    """
    if not can_see_namespace_activity(identity, owner):
        return False
    if not about_package:
        return True
    if package is None:
        return namespace_level(identity, owner) >= Permission.ADMIN
    return can_see(identity, package, via="web")


def can_see_notifications(identity: Identity, account: Account) -> bool:
    """May the identity read (and mark as read) `account`'s notifications?

    They are addressed to the person: only the account itself, through a session, its password, or a token that
    reads through the web and is not an organization's (an org token speaks for the organization, not for you).
    """
    if identity.account is None or identity.account.id != account.id:
        return False
    token = identity.token
    return token is None or (
        token_namespace(identity) is None and scope_allows(identity.scopes, Permission.READ, "web")
    )
