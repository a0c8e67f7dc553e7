"""core.services.notifications on a real database: what is addressed to whom, what counts as unread, marking read."""

from __future__ import annotations

from sqlalchemy import select

from packyard.core import queries
from packyard.core.auth import identity_for
from packyard.core.db import Database
from packyard.core.models import Account, Event, Package
from packyard.core.services import notifications, orgs
from packyard.core.services.accounts import create_user
from packyard.core.services.packages import PackageInfo, create_package


def fresh(db: Database, login: str):
    """The identity as a new request would load it (its seen serial and grants read now)."""
    with db.read() as session:
        account = session.scalars(select(Account).where(Account.login_key == login)).one()
    return identity_for(db, account)


def package(db: Database, owner: str, name: str) -> Package:
    """The package as the API hands it to the services (its owner loaded)."""
    with db.read() as session:
        pkg = queries.package(session, owner, name)
        assert pkg.owner.login == owner
        return pkg


def texts(db: Database, login: str) -> list[tuple[str, str]]:
    with db.read() as session:
        events, _ = notifications.recent(session, fresh(db, login))
        return [(e.kind, e.owner) for e in events]


def unread(db: Database, login: str) -> int:
    with db.read() as session:
        return notifications.unread_count(session, fresh(db, login))


def test_membership_and_collaboration_changes_notify_the_person_once(db: Database) -> None:
    for login in ("alice", "bob", "carol"):
        create_user(db, login, "password-123")
    alice = fresh(db, "alice")
    acme = orgs.create_org(db, alice, "acme")
    alice = fresh(db, "alice")
    orgs.create_group(db, alice, acme, "devs", "read")
    orgs.set_member(db, alice, acme, "devs", "bob", True)
    orgs.set_member(db, alice, acme, "devs", "bob", True)  # already in: nothing happens, nothing is logged
    orgs.set_member(db, alice, acme, "devs", "alice", True)  # alice did it herself: not news to her
    assert texts(db, "bob") == [("group.member_added", "acme")]
    assert texts(db, "alice") == [] and texts(db, "carol") == []
    assert unread(db, "bob") == 1

    create_package(db, alice, acme, "tool", PackageInfo(summary="x"))
    orgs.set_collaborator(db, alice, package(db, "acme", "tool"), "carol", True)
    assert texts(db, "carol") == [("collaborator.added", "acme")]
    with db.read() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind.like("group.member%"))).all()
    assert list(kinds).count("group.member_added") == 2  # bob once, alice once


def test_marking_read_moves_forward_only_and_never_past_the_log(db: Database) -> None:
    for login in ("alice", "bob"):
        create_user(db, login, "password-123")
    alice = fresh(db, "alice")
    acme = orgs.create_org(db, alice, "acme")
    alice = fresh(db, "alice")
    orgs.create_group(db, alice, acme, "devs", "read")
    orgs.set_member(db, alice, acme, "devs", "bob", True)
    with db.read() as session:
        (first,), _ = notifications.recent(session, fresh(db, "bob"))
    orgs.set_member(db, alice, acme, "devs", "bob", False)
    assert unread(db, "bob") == 2

    notifications.mark_read(db, fresh(db, "bob"), first.serial)  # what the page showed then
    assert unread(db, "bob") == 1  # the removal came later: still unread
    notifications.mark_read(db, fresh(db, "bob"), 1)  # an older form: no step back
    assert unread(db, "bob") == 1
    notifications.mark_read(db, fresh(db, "bob"), 10**12)  # a made-up serial: clamped to the log's end
    assert unread(db, "bob") == 0
    with db.read() as session:
        seen = session.scalars(select(Account.notifications_seen_serial).where(Account.login == "bob")).one()
        assert seen == session.scalar(select(Event.serial).order_by(Event.serial.desc()).limit(1))
    orgs.set_member(db, alice, acme, "devs", "bob", True)
    assert unread(db, "bob") == 1  # a new one after that is unread again


def test_a_private_package_is_not_named_to_someone_who_lost_access(db: Database) -> None:
    for login in ("alice", "carol"):
        create_user(db, login, "password-123")
    alice = fresh(db, "alice")
    owner = fresh(db, "alice").account
    assert owner is not None
    create_package(db, alice, owner, "secret", PackageInfo(access="private"))
    orgs.set_collaborator(db, alice, package(db, "alice", "secret"), "carol", True)
    assert texts(db, "carol") == [("collaborator.added", "alice")]  # she may see it now
    orgs.set_collaborator(db, alice, package(db, "alice", "secret"), "carol", False)
    assert texts(db, "carol") == []  # no longer: neither notification names it
    assert unread(db, "carol") == 0
