"""Dashboards, notifications and "Switch To" in Chromium (docs/ui.md: Dashboard, Notifications, Switching to an
organization), with the people of tests/ui/dash_world.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.ui.conftest import PASSWORD, axe_problems, csrf_from, http_sign_in, shoot, sign_in
from tests.ui.dash_world import MEMBER, ORG, OUTSIDER, OWNER, World, ok, world
from tests.unit.api.helpers import auth

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(scope="module")
def people(site, tmp_path_factory: pytest.TempPathFactory) -> World:
    return world(site, tmp_path_factory.mktemp("dash"))


def _badge(page) -> str | None:
    badge = page.locator("header .bell .unread-count")
    return badge.inner_text().replace("unread", "").strip() if badge.count() else None


def test_a_user_added_to_an_organization_is_notified_until_marked_read(site, people, page) -> None:
    newcomer = "newt"
    site.server.create_user(newcomer, PASSWORD)
    sign_in(page, site, newcomer)
    assert _badge(page) is None  # nothing yet
    with site.client() as client:
        owner = auth(people.tokens[OWNER])
        ok(client.put(f"/api/group/{ORG}/devs/members/{newcomer}", headers=owner))
        ok(client.put(f"/api/group/{ORG}/devs/members/{newcomer}", headers=owner))  # again: no second notice

    page.goto(f"{site.url}/")
    assert _badge(page) == "1"
    notes = page.locator("section[aria-labelledby=notes-h]")
    assert f"{OWNER} added you to the organization {ORG} (group devs)" in notes.inner_text()
    assert page.locator(f"header details.account-menu a[href='/dashboard/{ORG}']").count() == 1  # Switch To

    page.click("header .bell")
    page.wait_for_url(f"{site.url}/notifications")
    items = page.locator("ol.feed > li")
    assert items.count() == 1
    assert "unread" in (items.first.get_attribute("class") or "")
    assert f"{OWNER} added you to the organization {ORG} (group devs)" in items.first.inner_text()
    assert axe_problems(page) == []

    page.click("form[action='/notifications/read'] button")
    page.wait_for_url(f"{site.url}/notifications")
    assert _badge(page) is None
    assert page.locator("ol.feed > li.unread").count() == 0
    assert page.locator("ol.feed > li").count() == 1  # read, still listed
    assert page.locator("form[action='/notifications/read']").count() == 0

    # Taken out of the group: a new notification, unread again.
    with site.client() as client:
        ok(client.delete(f"/api/group/{ORG}/devs/members/{newcomer}", headers=auth(people.tokens[OWNER])))
    page.goto(f"{site.url}/notifications")
    assert _badge(page) == "1"
    assert f"{OWNER} removed you from group devs of {ORG}" in page.locator("ol.feed > li.unread").inner_text()


def test_marking_read_needs_the_csrf_token_and_keeps_later_notifications_unread(site, people) -> None:
    newcomer = "ruth"
    site.server.create_user(newcomer, PASSWORD)
    owner = auth(people.tokens[OWNER])
    with site.client() as browser, site.client() as api:
        assert http_sign_in(browser, newcomer).status_code == 303
        ok(api.put(f"/api/group/{ORG}/devs/members/{newcomer}", headers=owner))
        shown = browser.get("/notifications", headers=HTML).text
        forged = browser.post("/notifications/read", data={"up_to": "999999999"})
        assert forged.status_code == 403
        assert 'class="unread-count">1<' in browser.get("/notifications", headers=HTML).text
        # A notification that arrives after the page was drawn stays unread when that page's form is sent.
        ok(api.put(f"/api/packages/{ORG}/tool/collaborators/{newcomer}", headers=owner))
        up_to = shown.split('name="up_to" value="')[1].split('"')[0]
        sent = browser.post("/notifications/read", data={"csrf_token": csrf_from(shown), "up_to": up_to})
        assert sent.status_code == 303
        after = browser.get("/notifications", headers=HTML).text
        assert 'class="unread-count">1<' in after
        assert f'made you a collaborator on <a href="/{ORG}/tool">{ORG}/tool</a>' in after


def test_notifications_ask_anonymous_visitors_to_sign_in(site) -> None:
    with httpx.Client(base_url=site.url, follow_redirects=False) as client:
        response = client.get("/notifications", headers=HTML)
        assert response.status_code == 303 and response.headers["location"] == "/login?next=/notifications"
        for path in (f"/dashboard/{ORG}", "/dashboard/no-such-org"):  # the same answer: nothing is revealed
            response = client.get(path, headers=HTML)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_switching_to_an_organization_and_back(site, people, page) -> None:
    sign_in(page, site, MEMBER)
    menu = page.locator("header details.account-menu")
    assert MEMBER in menu.locator("summary").inner_text()
    menu.locator("summary").click()
    assert menu.locator(".menu-panel").is_visible()
    assert f"Signed in as {MEMBER}" in menu.locator(".menu-who").inner_text()
    menu.locator(f"a[href='/dashboard/{ORG}']").click()
    page.wait_for_url(f"{site.url}/dashboard/{ORG}")
    assert page.locator("h1").inner_text() == "Orbit Lab"
    assert ORG in page.locator("header .who").inner_text()  # the header says whose view this is
    members = page.locator("section[aria-labelledby=members-h]").inner_text()
    assert MEMBER in members and OWNER in members
    assert page.locator(".pkgs a[href='/orbit/tool']").count() == 1
    assert page.locator("a[href='/orbit/hidden']").count() == 0  # private, and not in omar's group
    assert "hidden" not in page.locator("main").inner_text()

    page.locator("header details.account-menu summary").click()
    page.locator("header .switch a[href='/']").click()
    page.wait_for_url(f"{site.url}/")
    assert page.locator("h1").inner_text() == f"Welcome, {MEMBER}"
    assert MEMBER in page.locator("header .who").inner_text()


def test_the_menu_works_without_javascript(site, people, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site, MEMBER)
        page.locator("header details.account-menu summary").click()  # <details> opens by itself
        page.locator(f"header .switch a[href='/dashboard/{ORG}']").click()
        page.wait_for_url(f"{site.url}/dashboard/{ORG}")
        assert page.locator("h1").inner_text() == "Orbit Lab"
    finally:
        context.close()


def test_the_menu_closes_on_escape(site, people, page) -> None:
    sign_in(page, site, MEMBER)
    menu = page.locator("header details.account-menu")
    menu.locator("summary").click()
    assert menu.get_attribute("open") is not None
    page.keyboard.press("Escape")
    assert menu.get_attribute("open") is None


def test_an_organization_dashboard_is_for_its_members_only(site, people) -> None:
    with site.client() as outsider:
        assert http_sign_in(outsider, OUTSIDER).status_code == 303
        theirs = outsider.get(f"/dashboard/{ORG}", headers=HTML)
        missing = outsider.get("/dashboard/no-such-org", headers=HTML)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(ORG, "X") == missing.text.replace("no-such-org", "X")
        assert outsider.get(f"/dashboard/{OWNER}", headers=HTML).status_code == 404  # another user's too
        assert "/dashboard/" not in outsider.get("/", headers=HTML).text  # belongs to no organization
        mine = outsider.get(f"/dashboard/{OUTSIDER}", headers=HTML, follow_redirects=False)
        assert mine.status_code == 303 and mine.headers["location"] == "/"


def test_an_organization_token_cannot_read_your_notifications(site, people) -> None:
    with site.client() as client:
        response = client.post(
            "/api/authentications",
            auth=(OWNER, PASSWORD),
            json={"note": "org token", "scopes": ["all"], "user": ORG},
        )
        if response.status_code != 200:
            pytest.fail(f"could not mint an organization token: {response.text}")
        token = response.json()["token"]
        page = client.get("/notifications", headers={**HTML, **auth(token)})
        assert page.status_code == 404
        assert "/notifications" not in client.get(f"/{ORG}", headers={**HTML, **auth(token)}).text
        home = client.get("/", headers={**HTML, **auth(token)})
        assert home.status_code == 200 and "/notifications" not in home.text
        # The organization's feed, which it may read. Other modules add events to it on the same server, so the
        # oldest one may be on a later page: follow "Older activity".
        for _ in range(50):
            if f"{OWNER} created the organization {ORG}" in re.sub(r"<[^>]+>", "", home.text):
                break
            older = re.search(r'href="([^"]*\?before=\d+)" rel="next"', home.text)
            assert older, "the organization's creation is in no page of its feed"
            home = client.get(older.group(1), headers={**HTML, **auth(token)})
            assert home.status_code == 200 and "/notifications" not in home.text
        else:
            pytest.fail("the organization's creation is not within 50 pages of its feed")


@pytest.mark.parametrize("path", ["/", f"/dashboard/{ORG}", "/notifications"])
def test_dashboard_pages_are_accessible_and_fit_a_phone(site, people, page, path, tmp_path: Path) -> None:
    sign_in(page, site, MEMBER)
    page.goto(f"{site.url}{path}")
    assert axe_problems(page) == []
    page.locator("header details.account-menu summary").click()
    assert axe_problems(page) == []  # the open menu too
    if path != "/":
        page.keyboard.press("Escape")  # the docs show the menu open once, on the dashboard
        page.evaluate("document.activeElement.blur()")
    name = {
        "/": "dashboard-activity",
        f"/dashboard/{ORG}": "org-dashboard",
        "/notifications": "notifications",
    }
    shoot(page, name[path], tmp_path)
