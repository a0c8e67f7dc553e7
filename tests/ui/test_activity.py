"""Recent activity (ui/activity.py): the sentences, the feed's permissions, folding and pages; then in Chromium
with the people of tests/ui/dash_world.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from packyard.core import queries
from packyard.core.auth import identity_for
from packyard.core.db import Database
from packyard.core.models import Account, Event
from packyard.core.services import orgs
from packyard.core.services.accounts import create_user
from packyard.core.services.packages import PackageInfo, create_package, delete_package, update_package
from packyard.ui import activity
from tests.ui.conftest import sign_in
from tests.ui.dash_world import MEMBER, ORG, OUTSIDER, OWNER, World, ok, upload_wheel, world
from tests.unit.api.helpers import auth

SECRETS = ("orbit/hidden", "hidden-0.", "hidden 0.", ">hidden<", "classified")
"""What would give orbit/hidden away in a page (not the word alone: `visually-hidden`, `type="hidden"`)."""


def leaks(html: str) -> list[str]:
    return [mark for mark in SECRETS if mark in html]


def ev(
    kind: str,
    owner: str = "alice",
    package: str | None = "demo",
    version: str | None = "1.2",
    basename=None,
    **data,
):
    return Event(kind=kind, owner=owner, package=package, version=version, basename=basename, data=data)


def said(event: Event, actor: str | None = "alice", **kw) -> str:
    return "".join(p.text for p in activity.sentence(event, actor, **kw))


# --- sentences ---------------------------------------------------------------------------------------------------


def test_sentences_read_like_what_happened() -> None:
    wheel = "demo-1.2-py3-none-any.whl"
    assert said(ev("file.added", basename=wheel), home="alice") == f"alice uploaded demo 1.2 ({wheel})"
    assert said(ev("file.added", basename=wheel), home="bob") == f"alice uploaded alice/demo 1.2 ({wheel})"
    assert said(ev("label.added", basename=wheel, label="dev"), "bob", home="alice") == (
        f"bob added label dev to demo 1.2 ({wheel})"
    )
    assert (
        said(ev("label.added", label="dev"), "bob", home="alice", count=3)
        == "bob added label dev to 3 files of demo 1.2"
    )
    assert said(ev("label.removed", label="dev"), "bob", home="alice", count=2, one_version=False) == (
        "bob removed label dev from 2 files of demo"
    )
    assert said(ev("label.locked", package=None, version=None, label="main")) == "alice locked label main"
    assert said(ev("access.changed", version=None, new="private"), home="alice") == "alice made demo private"
    assert said(ev("group.member_added", package=None, version=None, group="devs", member="bob")) == (
        "alice added bob to group devs"
    )
    assert said(ev("package.transferred", owner="acme", version=None, old_owner="alice"), home="acme") == (
        "alice transferred demo from alice to acme"
    )
    assert said(ev("file.added", basename=wheel), None, home="alice").startswith("someone uploaded")
    assert (
        said(ev("conda.reindexed", version=None), home="alice") == "alice conda reindexed demo"
    )  # unknown kinds


def test_names_are_text_and_links_stay_on_this_site() -> None:
    hostile = ev("file.added", package="<script>x</script>", basename='"><img src=x onerror=alert(1)>')
    parts = activity.sentence(hostile, "alice", home="alice")
    assert [p.href for p in parts if p.href] == ["/alice", "/alice/%3Cscript%3Ex%3C/script%3E"]
    gone = activity.sentence(ev("package.removed", version=None), "alice", home="alice", exists=False)
    assert all(p.href != "/alice/demo" for p in gone)  # a removed package is not linked


def test_notifications_are_said_to_their_person() -> None:
    added = ev("group.member_added", owner="acme", package=None, version=None, group="devs", member="bob")
    parts = activity.notification_sentence(added, "alice", member_of=["acme"])
    assert "".join(p.text for p in parts) == "alice added you to the organization acme (group devs)"
    assert ("acme", "/dashboard/acme") in [(p.text, p.href) for p in parts]
    owner = ev("group.member_added", owner="acme", package=None, version=None, group="owners", member="bob")
    text = "".join(p.text for p in activity.notification_sentence(owner, "alice"))
    assert text == "alice made you an owner of the organization acme"


def test_relative_times() -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    assert activity.ago(now - dt.timedelta(seconds=20), now) == "just now"
    assert activity.ago(now - dt.timedelta(minutes=1), now) == "1 minute ago"
    assert activity.ago(now - dt.timedelta(hours=5), now) == "5 hours ago"
    assert activity.ago(now - dt.timedelta(days=6), now) == "6 days ago"
    assert activity.ago(now - dt.timedelta(days=30), now) == "2026-11-06"


# --- the feed on a database --------------------------------------------------------------------------------------


def _identity(db: Database, login: str):
    with db.read() as session:
        return identity_for(db, session.scalars(select(Account).where(Account.login == login)).one())


def _feed(db: Database, login: str, namespace: str, **kw) -> activity.Feed:
    ident = _identity(db, login)
    with db.read() as session:
        owner = queries.owner(session, namespace)
        return activity.feed(session, ident, [owner], home=namespace, **kw)


def _texts(feed: activity.Feed) -> list[str]:
    return [entry.text for entry in feed.entries]


@pytest.fixture
def acme(db: Database) -> Database:
    """alice owns acme, bob is in its read group `devs`, which lists acme/tool; acme/hidden is private."""
    for login in ("alice", "bob", "eve"):
        create_user(db, login, "password-123")
    alice = _identity(db, "alice")
    org = orgs.create_org(db, alice, "acme")
    alice = _identity(db, "alice")
    orgs.create_group(db, alice, org, "devs", "read")
    create_package(db, alice, org, "tool", PackageInfo(summary="shared"))
    create_package(db, alice, org, "hidden", PackageInfo(summary="classified", access="private"))
    orgs.set_group_package(db, alice, org, "devs", "tool", True)
    orgs.set_member(db, alice, org, "devs", "bob", True)
    return db


def test_a_member_sees_only_the_packages_they_may_see(acme: Database) -> None:
    alice = _identity(acme, "alice")
    update_package(acme, alice, "acme", "hidden", PackageInfo(summary="still classified"))
    assert any("hidden" in text for text in _texts(_feed(acme, "alice", "acme")))
    bobs = _texts(_feed(acme, "bob", "acme"))
    assert "alice created package tool" in bobs and "alice added bob to group devs" in bobs
    assert not any("hidden" in text for text in bobs)
    assert _feed(acme, "eve", "acme").entries == []  # not a member: no feed at all


def test_a_private_package_made_public_shows_its_history_and_a_deleted_one_only_to_admins(
    acme: Database,
) -> None:
    alice = _identity(acme, "alice")
    update_package(acme, alice, "acme", "hidden", PackageInfo(access="public"))
    assert "alice made hidden public" in _texts(_feed(acme, "bob", "acme"))
    delete_package(acme, alice, "acme", "hidden")
    assert not any("hidden" in text for text in _texts(_feed(acme, "bob", "acme")))
    assert "alice removed package hidden" in _texts(_feed(acme, "alice", "acme"))


def test_alike_events_fold_and_pages_go_back_in_time(acme: Database) -> None:
    alice = _identity(acme, "alice")
    for n in range(25):
        update_package(acme, alice, "acme", "tool", PackageInfo(summary=f"take {n}"))
    first = _feed(acme, "bob", "acme", per_page=10)
    assert len(first.entries) == 10 and first.older is not None
    assert set(_texts(first)) == {"alice updated the details of tool"}
    second = _feed(acme, "bob", "acme", per_page=10, before=first.older)
    assert max(e.serial for e in second.entries) < min(e.serial for e in first.entries)
    everything: list[activity.Entry] = []
    before = None
    while True:
        page = _feed(acme, "bob", "acme", per_page=10, before=before)
        everything += page.entries
        if page.older is None:
            break
        before = page.older
    serials = [e.serial for e in everything]
    assert serials == sorted(set(serials), reverse=True)  # no entry twice, newest first
    assert everything[-1].text == "alice created the organization acme"

    # A label put on many files is one line, not one per file: the events as the label service writes them.
    with acme.write() as session:
        for version in ("1.0", "1.1", "2.0"):
            session.add(Event(kind="label.added", actor_id=alice.account.id, owner="acme", package="tool",
                              version=version, basename=f"tool-{version}.whl", data={"label": "dev"}))  # fmt: skip
    top = _feed(acme, "bob", "acme").entries[0]
    assert top.count == 3 and top.text == "alice added label dev to 3 files of tool"


# --- in Chromium -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(site, tmp_path_factory: pytest.TempPathFactory) -> World:
    return world(site, tmp_path_factory.mktemp("activity"))


def test_uploads_show_on_the_dashboards_of_those_who_may_see_them(site, people, page, tmp_path: Path) -> None:
    with site.client() as client:
        basename = upload_wheel(client, people.tokens[OWNER], ORG, "tool", "2.0", tmp_path)
        hidden = upload_wheel(client, people.tokens[OWNER], ORG, "hidden", "0.2", tmp_path)
        ok(
            client.post(
                f"/api/channels/{ORG}/beta", headers=auth(people.tokens[OWNER]), json={"package": "tool"}
            )
        )
        ok(
            client.post(
                f"/api/channels/{ORG}/beta", headers=auth(people.tokens[OWNER]), json={"package": "hidden"}
            )
        )

    sign_in(page, site, OWNER)
    feed = page.locator("section[aria-labelledby=activity-h] ol.feed").inner_text()
    assert f"{OWNER} uploaded {ORG}/tool 2.0 ({basename})" in feed  # an organization's, named with it
    assert f"{OWNER} uploaded {ORG}/hidden 0.2 ({hidden})" in feed  # nora may see everything of orbit
    assert f"{OWNER} added label beta to 2 files of {ORG}/tool" in feed

    member = page.context.browser.new_context()
    try:
        theirs = member.new_page()
        sign_in(theirs, site, MEMBER)
        theirs.goto(f"{site.url}/dashboard/{ORG}")
        feed = theirs.locator("ol.feed").inner_text()
        assert f"{OWNER} uploaded tool 2.0 ({basename})" in feed
        assert f"{OWNER} added label beta to 2 files of tool" in feed
        assert theirs.locator("ol.feed a[href='/orbit/tool']").count() >= 1
        assert leaks(theirs.content()) == [] and hidden not in theirs.content()
        theirs.goto(f"{site.url}/")  # omar's own dashboard covers orbit too
        assert f"{OWNER} uploaded {ORG}/tool 2.0" in theirs.locator("ol.feed").inner_text()
        assert leaks(theirs.content()) == []
    finally:
        member.close()


def test_an_unrelated_user_never_sees_a_private_package_events(site, people, page) -> None:
    sign_in(page, site, OUTSIDER)
    for path in ("/", f"/dashboard/{ORG}", "/notifications", f"/{ORG}", "/search?q=hidden"):
        page.goto(f"{site.url}{path}")
        assert leaks(page.content()) == [], path
    page.goto(f"{site.url}/")
    # pia's namespace is quiet (only her own account: its creation, her login's token), and she sees no one else's
    feed = page.locator("ol.feed > li").all_inner_texts()
    assert all(f"created the user {OUTSIDER}" in e or "created the access token" in e for e in feed), feed
    assert ORG not in page.locator("section[aria-labelledby=activity-h]").inner_text()


def test_older_activity_pages(site, people, page) -> None:
    with site.client() as client:
        for n in range(25):
            ok(
                client.patch(
                    f"/api/package/{ORG}/tool",
                    headers=auth(people.tokens[OWNER]),
                    json={"public_attrs": {"summary": f"v{n}"}},
                )
            )
    sign_in(page, site, MEMBER)
    page.goto(f"{site.url}/dashboard/{ORG}")
    ids = "Array.from(document.querySelectorAll('ol.feed > li'), li => Number(li.id.split('-')[1]))"
    first = page.evaluate(ids)
    assert len(first) == activity.PER_PAGE and first == sorted(first, reverse=True)
    page.click("a[rel=next]")
    page.wait_for_url(f"{site.url}/dashboard/{ORG}?before=*")
    second = page.evaluate(ids)
    assert second and max(second) < min(first)  # it goes on where the first page stopped
    assert page.locator("nav.pager a:has-text('Newest')").count() == 1
