"""core.services.orgs additions for the organization pages (docs/manage/orgs.md): the profile, a group's permission
level, +New Group with members and packages in one transaction, several members at once, the members list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from packyard.core.auth import identity_for
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict, Forbidden, NotFound
from packyard.core.models import Account, Event
from packyard.core.services import orgs
from packyard.core.services.accounts import create_user
from packyard.core.services.packages import PackageInfo, create_package


def fresh(db: Database, login: str):
    with db.read() as session:
        account = session.scalars(select(Account).where(Account.login_key == login)).one()
    return identity_for(db, account)


def kinds(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Event.kind).order_by(Event.serial)))


@pytest.fixture
def lab(db: Database) -> Account:
    for login in ("olga", "mia", "nick"):
        create_user(db, login, "password-123")
    org = orgs.create_org(db, fresh(db, "olga"), "lab", "The Lab", "lab@example.org")
    create_package(db, fresh(db, "olga"), org, "tool", PackageInfo())
    return org


@pytest.mark.parametrize(
    ("changes", "problem"),
    [({"email": "nope"}, "not an e-mail address"), ({"url": "javascript:alert(1)"}, "not a web address"),
     ({"url": "example.org"}, "not a web address"), ({"name": "x" * 201}, "too long"),
     ({"colour": "red"}, "unknown profile fields"), ({"company": 3}, "must be text")],
)  # fmt: skip
def test_a_profile_is_checked_before_anything_changes(changes, problem) -> None:
    with pytest.raises(BadRequest, match=problem):
        orgs.clean_profile(changes)


def test_the_profile_changes_only_the_fields_given_and_says_which(db: Database, lab: Account) -> None:
    assert (lab.name, lab.email) == ("The Lab", "lab@example.org")
    olga = fresh(db, "olga")
    saved = orgs.update_profile(db, olga, lab, {"company": " Lab Inc. ", "url": "https://lab.example.org"})
    assert (saved.company, saved.url, saved.name) == ("Lab Inc.", "https://lab.example.org", "The Lab")
    orgs.update_profile(db, olga, lab, {"company": "Lab Inc."})  # unchanged: no event
    assert kinds(db).count("org.updated") == 1
    with db.read() as session:
        event = session.scalars(select(Event).where(Event.kind == "org.updated")).one()
    assert event.data == {"fields": ["company", "url"]}
    with pytest.raises(Forbidden):
        orgs.update_profile(db, fresh(db, "nick"), lab, {"company": "Hijacked"})


def test_new_group_with_members_and_packages_is_all_or_nothing(db: Database, lab: Account) -> None:
    olga = fresh(db, "olga")
    with pytest.raises(NotFound):
        orgs.create_group(db, olga, lab, "readers", "read", members=["mia", "ghost"], packages=["tool"])
    with pytest.raises(NotFound):
        orgs.create_group(db, olga, lab, "readers", "read", members=["mia"], packages=["no-such"])
    assert [g.name for g in orgs.list_groups(db, olga, lab)] == ["owners"]
    orgs.create_group(db, olga, lab, "readers", "read", members=["mia", "MIA"], packages=["tool"])
    group = orgs.get_group(db, olga, lab, "readers")
    assert [m.login for m in group.members] == ["mia"] and [p.name for p in group.packages] == ["tool"]
    assert kinds(db)[-3:] == ["group.created", "group.member_added", "group.package_added"]
    with pytest.raises(Conflict):
        orgs.create_group(db, olga, lab, "readers", "write")


def test_a_group_permission_level_changes_but_not_the_owners(db: Database, lab: Account) -> None:
    olga = fresh(db, "olga")
    orgs.create_group(db, olga, lab, "devs", "read", members=["mia"])
    orgs.set_group_perms(db, olga, lab, "devs", "write")
    assert orgs.get_group(db, olga, lab, "devs").perms == "write"
    orgs.set_group_perms(db, olga, lab, "devs", "write")  # no change, no event
    assert kinds(db).count("group.perms_changed") == 1
    with pytest.raises(BadRequest, match="read, write, admin"):
        orgs.set_group_perms(db, olga, lab, "devs", "root")
    with pytest.raises(BadRequest, match="owners group"):
        orgs.set_group_perms(db, olga, lab, "owners", "read")
    with pytest.raises(Forbidden):
        orgs.set_group_perms(db, fresh(db, "mia"), lab, "devs", "admin")
    assert orgs.get_group(db, olga, lab, "devs").perms == "write"


def test_several_members_are_added_at_once_or_none_and_listed_with_their_groups(
    db: Database, lab: Account
) -> None:
    olga = fresh(db, "olga")
    with pytest.raises(NotFound):
        orgs.add_members(db, olga, lab, "owners", ["mia", "ghost"])
    assert orgs.add_members(db, olga, lab, "owners", ["mia", "olga"]) == ["mia"]
    listed = {a.login: groups for a, groups in orgs.org_members(db, olga, lab)}
    assert listed == {"mia": ["owners"], "olga": ["owners"]}
    with pytest.raises(Forbidden):
        orgs.org_members(db, fresh(db, "nick"), lab)
    orgs.set_member(db, olga, lab, "owners", "olga", False)
    with pytest.raises(Conflict, match="last owner"):
        orgs.set_member(db, fresh(db, "mia"), lab, "owners", "mia", False)
