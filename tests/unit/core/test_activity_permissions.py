"""core.permissions for the dashboards: who reads a namespace's activity, which events, whose notifications."""

from __future__ import annotations

import pytest

from packyard.core import permissions
from packyard.core.auth import Grants, Identity
from packyard.core.models import Access, Account, AccountKind, Package, Token

ALICE = Account(id=1, login="alice", login_key="alice", kind=AccountKind.USER, is_admin=False)
BOB = Account(id=2, login="bob", login_key="bob", kind=AccountKind.USER, is_admin=False)
ROOT = Account(id=3, login="root", login_key="root", kind=AccountKind.USER, is_admin=True)
ACME = Account(id=10, login="acme", login_key="acme", kind=AccountKind.ORG, is_admin=False)
OTHER = Account(id=11, login="other", login_key="other", kind=AccountKind.ORG, is_admin=False)

PUBLIC = Package(id=100, owner_id=ACME.id, access=Access.PUBLIC, name="tool")
PRIVATE = Package(id=101, owner_id=ACME.id, access=Access.PRIVATE, name="hidden")
SHARED = Package(id=102, owner_id=ACME.id, access=Access.PRIVATE, name="shared")

ANONYMOUS = Identity()
OWNER = Identity(ALICE, grants=Grants(owner_of=frozenset({ACME.id}), member_of=frozenset({ACME.id})))
MEMBER = Identity(BOB, grants=Grants(member_of=frozenset({ACME.id}), packages={SHARED.id: "read"}))
STRANGER = Identity(Account(id=4, login="eve", login_key="eve", kind=AccountKind.USER, is_admin=False))
ADMIN = Identity(ROOT)


def token_identity(account: Account, scopes: set[str], org: Account | None = None, **grants) -> Identity:
    token = Token(id=1, account_id=account.id, org_id=org.id if org else None, scopes=sorted(scopes))
    return Identity(account, token=token, scopes=frozenset(scopes), grants=Grants(**grants))


@pytest.mark.parametrize(
    ("identity", "owner", "expected"),
    [
        (ANONYMOUS, ACME, False),
        (OWNER, ACME, True),
        (OWNER, ALICE, True),  # one's own namespace
        (MEMBER, ACME, True),  # any member, even of a read group
        (MEMBER, ALICE, False),  # another user's namespace
        (MEMBER, OTHER, False),
        (STRANGER, ACME, False),
        (ADMIN, ACME, True),
        (ADMIN, ALICE, True),
    ],
)
def test_who_reads_a_namespace_activity(identity: Identity, owner: Account, expected: bool) -> None:
    assert permissions.can_see_namespace_activity(identity, owner) is expected


def test_tokens_read_activity_only_through_the_web_and_only_for_their_organization() -> None:
    member = {"member_of": frozenset({ACME.id, OTHER.id})}
    assert permissions.can_see_namespace_activity(token_identity(BOB, {"repos"}, **member), ACME)
    assert not permissions.can_see_namespace_activity(token_identity(BOB, {"api:read"}, **member), ACME)
    org_token = token_identity(BOB, {"all"}, org=ACME, **member)
    assert permissions.can_see_namespace_activity(org_token, ACME)
    assert not permissions.can_see_namespace_activity(org_token, OTHER)
    assert not permissions.can_see_namespace_activity(org_token, BOB)


@pytest.mark.parametrize(
    ("identity", "package", "about_package", "expected"),
    [
        (OWNER, PRIVATE, True, True),
        (MEMBER, PUBLIC, True, True),
        (MEMBER, SHARED, True, True),  # listed in one of bob's groups
        (MEMBER, PRIVATE, True, False),  # a member who may not see the package sees none of its events
        (MEMBER, None, False, True),  # a namespace event (a group created, a label locked)
        (MEMBER, None, True, False),  # a package that is gone: its old readers are unknown
        (OWNER, None, True, True),  # ... its namespace's administrators saw it anyway
        (ADMIN, None, True, True),
        (STRANGER, PUBLIC, True, False),  # public, but not the stranger's namespace: no feed at all
        (ANONYMOUS, PUBLIC, True, False),
    ],
)
def test_which_events_of_a_feed_are_shown(
    identity: Identity, package: Package | None, about_package: bool, expected: bool
) -> None:
    assert permissions.can_see_event(identity, ACME, package, about_package=about_package) is expected


def test_notifications_are_read_by_their_own_person_only() -> None:
    assert permissions.can_see_notifications(MEMBER, BOB)
    assert not permissions.can_see_notifications(MEMBER, ALICE)
    assert not permissions.can_see_notifications(ANONYMOUS, BOB)
    assert not permissions.can_see_notifications(ADMIN, BOB)  # an administrator neither: they are personal
    assert permissions.can_see_notifications(token_identity(BOB, {"all"}), BOB)
    assert permissions.can_see_notifications(token_identity(BOB, {"repos"}), BOB)
    assert not permissions.can_see_notifications(token_identity(BOB, {"api"}), BOB)  # not through the web
    assert not permissions.can_see_notifications(token_identity(BOB, {"all"}, org=ACME), BOB)
