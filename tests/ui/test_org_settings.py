"""Organizations in Chromium (docs/manage/orgs.md): create one from account menu > Organizations (seed 001/002),
its dashboard at `/organization/ORG/dashboard`, its profile, owners (never the last), its members, and deleting it
(type its name, re-enter your password). Members read the settings without forms; everyone else gets the 404 of
a missing organization; forged forms change nothing. The module's people and organizations are prefixed `orgs-`.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field

import httpx
import pytest

from tests.ui.conftest import PASSWORD, Site, api_token, axe_problems, csrf_from, http_sign_in, shoot, sign_in
from tests.unit.api.helpers import auth

OWNER, CO_OWNER, MEMBER, OUTSIDER = "orgs-olga", "orgs-oscar", "orgs-mia", "orgs-nick"
ORG = "orgs-lab"  # made in the browser by the first test; the others make their own through the API
HTML = {"Accept": "text/html"}


@dataclass
class People:
    site: Site
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, login: str = OWNER) -> dict[str, str]:
        return auth(self.tokens[login])


def ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response


@pytest.fixture(scope="module")
def people(site: Site) -> People:
    for login in (OWNER, CO_OWNER, MEMBER, OUTSIDER):
        site.server.create_user(login, PASSWORD)
    made = People(site)
    with site.client() as client:
        for login in (OWNER, CO_OWNER, MEMBER, OUTSIDER):
            made.tokens[login] = api_token(client, login)
    return made


def new_org(people: People, login: str, member: bool = True) -> None:
    """An organization owned by OWNER, with MEMBER in its read group `staff`."""
    with people.site.client() as client:
        ok(client.post(f"/api/orgs/{login}", headers=people.api(), json={"email": "team@example.org"}))
        ok(client.post(f"/api/group/{login}/staff", headers=people.api(), json={"perms": "read"}))
        if member:
            ok(client.put(f"/api/group/{login}/staff/members/{MEMBER}", headers=people.api()))


def profile(people: People, login: str) -> dict:
    """What the organization's profile holds now (`PATCH` with nothing changes nothing and answers it)."""
    with people.site.client() as client:
        return ok(client.patch(f"/api/orgs/{login}", headers=people.api(), json={})).json()


def signed_in_client(site: Site, login: str) -> tuple[httpx.Client, str]:
    """A session of `login` and its own valid CSRF token: what a forged form from that user carries."""
    client = site.client()
    assert http_sign_in(client, login).status_code == 303
    return client, csrf_from(client.get("/").text)


def test_an_organization_is_created_from_the_account_menu(site, people, page, tmp_path) -> None:
    sign_in(page, site, OWNER)
    page.click("header details.account-menu > summary")
    page.click("header details.account-menu a[href='/organizations']")
    page.wait_for_url(f"{site.url}/organizations")
    assert axe_problems(page) == []
    page.fill("#org-login", "orgs lab")  # seed 001: no spaces or special characters
    page.fill("#org-email", "lab@example.org")
    page.click("form[action='/organizations'] button[type=submit]")
    assert "not a valid login" in page.locator("#create-error").inner_text()
    assert page.locator("#org-email").input_value() == "lab@example.org"  # what was typed stays
    shoot(page, "orgs-create-error", tmp_path)

    page.fill("#org-login", ORG)
    page.fill("#org-display", "The Orgs Lab")
    page.click("form[action='/organizations'] button[type=submit]")
    page.wait_for_url(
        f"{site.url}/organization/{ORG}/dashboard"
    )  # seed 001: the new organization's dashboard
    assert f"Organization {ORG} created." in page.locator(".flash").inner_text()
    assert page.locator("h1").inner_text() == "The Orgs Lab"
    assert page.locator("nav.org-actions a", has_text="Manage groups and owners").count() == 1
    assert OWNER in page.locator("section[aria-labelledby=members-h]").inner_text()
    assert axe_problems(page) == []
    shoot(page, "orgs-dashboard", tmp_path)
    shown = profile(people, ORG)
    assert shown["email"] == "lab@example.org" and shown["name"] == "The Orgs Lab"

    page.goto(f"{site.url}/organizations")
    assert page.locator(f".org-list a[href='/organization/{ORG}/dashboard']").count() >= 1
    assert page.locator(".org-list .badge-owner").count() == 1
    shoot(page, "orgs-organizations", tmp_path)

    with site.client() as client:  # the REST call takes the e-mail address too
        made = client.post("/api/orgs/orgs-rest", headers=people.api(), json={"email": "rest@example.org"})
        assert made.status_code == 201 and made.json()["email"] == "rest@example.org"
        bad = client.post("/api/orgs/orgs-rest2", headers=people.api(), json={"email": "not-an-address"})
        assert bad.status_code == 400 and "e-mail" in bad.text


def test_the_profile_is_edited_by_owners_and_read_by_members(site, people, page, browser, tmp_path) -> None:
    org = "orgs-profiled"
    new_org(people, org)
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/organization/{org}/dashboard")
    page.click("nav.org-actions a:has-text('Settings')")
    page.wait_for_url(f"{site.url}/organization/{org}/settings/profile")
    page.fill("#p-url", "javascript:alert(1)")
    page.click("form[action$='/settings/profile'] button")
    assert "not a web address" in page.locator(".alert").inner_text()
    assert profile(people, org)["url"] == ""
    page.fill("#p-name", "Profiled Org")
    page.fill("#p-company", "Acme Research")
    page.fill("#p-location", "Lisbon")
    page.fill("#p-url", "https://example.org/profiled")
    page.fill("#p-description", "We **measure** things.")
    page.click("form[action$='/settings/profile'] button")
    page.wait_for_url(f"{site.url}/organization/{org}/settings/profile")
    assert "Profile saved." in page.locator(".flash").inner_text()
    assert axe_problems(page) == []
    shoot(page, "orgs-profile", tmp_path)
    shown = profile(people, org)
    assert (shown["name"], shown["company"], shown["location"], shown["url"], shown["description"]) == (
        "Profiled Org", "Acme Research", "Lisbon", "https://example.org/profiled", "We **measure** things.",
    )  # fmt: skip
    page.goto(f"{site.url}/organization/{org}/dashboard")
    assert f"{OWNER} updated the profile of {org}" in page.locator("ol.feed").inner_text()

    member = browser.new_context().new_page()
    sign_in(member, site, MEMBER)
    member.goto(f"{site.url}/organization/{org}/settings/profile")
    assert member.locator("form[action$='/settings/profile']").count() == 0
    assert "Acme Research" in member.locator("dl.pairs").inner_text()
    assert member.locator("nav.org-tabs a[href$='/settings/account']").count() == 0
    member.goto(f"{site.url}/organization/{org}/dashboard")
    assert member.locator("nav.org-actions a", has_text="Manage").count() == 0
    assert axe_problems(member) == []
    member.context.close()

    with site.client() as client:  # the REST endpoint: the same service and the same checks
        changed = client.patch(f"/api/orgs/{org}", headers=people.api(), json={"location": "Porto"})
        assert changed.status_code == 200 and changed.json()["location"] == "Porto"
        assert changed.json()["company"] == "Acme Research"  # left out: unchanged
        refused = client.patch(f"/api/orgs/{org}", headers=people.api(MEMBER), json={"location": "Faro"})
        assert refused.status_code == 403
        assert "patch" in client.get("/api/openapi.json").json()["paths"]["/api/orgs/{login}"]


def test_outsiders_get_the_404_of_a_missing_organization(site, people) -> None:
    org = "orgs-private-club"
    new_org(people, org)
    outsider, _ = signed_in_client(site, OUTSIDER)
    with closing(outsider):
        for path in (
            "dashboard",
            "settings/profile",
            "settings/groups",
            "settings/members",
            "settings/account",
        ):
            there = outsider.get(f"/organization/{org}/{path}", headers=HTML)
            missing = outsider.get(f"/organization/orgs-no-such-org/{path}", headers=HTML)
            assert there.status_code == missing.status_code == 404, path
            assert there.text.replace(org, "ORG") == missing.text.replace("orgs-no-such-org", "ORG")
    with site.client() as anonymous:
        sent = anonymous.get(f"/organization/{org}/settings/profile")
        assert sent.status_code == 303 and sent.headers["location"].startswith("/login?next=")


def test_owners_are_added_and_the_last_one_is_never_removed(site, people, page, browser, tmp_path) -> None:
    org = "orgs-owned"
    new_org(people, org, member=False)
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/organization/{org}/settings/groups")
    assert page.locator("#add-group").input_value() == "owners"  # seed 002: choose 'owners', type, add
    page.fill("#add-logins", CO_OWNER)
    page.click("form[action$='/groups/add'] button")
    page.wait_for_url(f"{site.url}/organization/{org}/settings/groups")
    assert f"Added {CO_OWNER} to owners." in page.locator(".flash").inner_text()
    shoot(page, "orgs-groups", tmp_path)

    co_owner = browser.new_context().new_page()  # the new owner is told on their dashboard
    sign_in(co_owner, site, CO_OWNER)
    notes = co_owner.locator("section[aria-labelledby=notes-h]").inner_text()
    assert f"{OWNER} made you an owner of the organization {org}" in notes
    co_owner.goto(f"{site.url}/organization/{org}/settings/groups/owners")
    co_owner.click(f"button[aria-label='Remove {OWNER} from owners']")
    co_owner.wait_for_url(f"{site.url}/organization/{org}/settings/groups/owners")
    assert co_owner.locator("button.remove-x").count() == 0  # the last owner has no remove button
    assert (
        "The last owner cannot be removed"
        in co_owner.locator("section[aria-labelledby=members-h]").inner_text()
    )
    assert axe_problems(co_owner) == []
    shoot(co_owner, "orgs-owners", tmp_path)
    co_owner.context.close()

    client, token = signed_in_client(site, CO_OWNER)
    with closing(client):  # forged: the last owner removes themselves anyway
        page_ = f"/organization/{org}/settings/groups/owners"
        refused = client.post(f"{page_}/members/remove", data={"csrf_token": token, "login": CO_OWNER})
        assert refused.status_code == 409 and "last owner" in refused.text
    with site.client() as api:
        owners = api.get(f"/api/group/{org}/owners", headers=people.api(CO_OWNER)).json()
        assert owners["member_logins"] == [CO_OWNER]
        last = api.delete(f"/api/group/{org}/owners/members/{CO_OWNER}", headers=people.api(CO_OWNER))
        assert last.status_code == 409


def test_the_members_list_shows_everyone_and_their_groups(site, people, page, tmp_path) -> None:
    org = "orgs-crowd"
    new_org(people, org)
    sign_in(page, site, MEMBER)
    page.goto(f"{site.url}/organization/{org}/settings/members")
    rows = page.locator("table.org-members tbody tr")
    assert rows.count() == 2
    text = page.locator("table.org-members").inner_text()
    assert OWNER in text and MEMBER in text and "staff" in text and "owners" in text
    assert axe_problems(page) == []
    shoot(page, "orgs-members", tmp_path)
    with site.client() as client:
        listed = ok(client.get(f"/api/orgs/{org}/members", headers=people.api(MEMBER))).json()
        assert {m["login"]: m["groups"] for m in listed} == {OWNER: ["owners"], MEMBER: ["staff"]}
        assert client.get(f"/api/orgs/{org}/members", headers=people.api(OUTSIDER)).status_code == 403


def test_deleting_an_organization_needs_its_name_and_your_password(site, people, page, tmp_path) -> None:
    org = "orgs-doomed"
    new_org(people, org)

    def exists() -> bool:
        with site.client() as client:
            return client.get(f"/api/groups/{org}", headers=people.api()).status_code == 200

    action = f"/organization/{org}/delete"
    owner, token = signed_in_client(site, OWNER)
    with closing(owner):
        wrong_word = owner.post(
            action, data={"csrf_token": token, "confirm": "orgs-doome", "password": PASSWORD}
        )
        assert wrong_word.status_code == 400
        wrong_password = owner.post(
            action, data={"csrf_token": token, "confirm": org, "password": "nope-nope"}
        )
        assert wrong_password.status_code == 400 and "not your password" in wrong_password.text
        no_csrf = owner.post(action, data={"confirm": org, "password": PASSWORD})
        assert no_csrf.status_code == 403
        asked = owner.post(action, data={"csrf_token": token})
        assert asked.status_code == 200 and 'name="password"' in asked.text  # the no-JavaScript confirm page
    for login, status in ((MEMBER, 403), (OUTSIDER, 404)):
        forger, forged_token = signed_in_client(site, login)
        with closing(forger):
            sent = forger.post(
                action, data={"csrf_token": forged_token, "confirm": org, "password": PASSWORD}
            )
            assert sent.status_code == status
    assert exists()

    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/dashboard/{org}")  # Switch To, then the organization's Settings > Account
    page.click("header details.account-menu > summary")
    page.click("header details.account-menu ul[aria-labelledby=org-menu-h] a:has-text('Settings')")
    page.click("nav.org-tabs a:has-text('Account')")
    page.wait_for_url(f"{site.url}/organization/{org}/settings/account")
    assert axe_problems(page) == []
    page.fill("#delete-org-password", PASSWORD)
    shoot(page, "orgs-delete", tmp_path)
    page.click(f"form[action='{action}'] button[type=submit]")
    dialog = page.locator("dialog.confirm-dialog")
    dialog.locator("input").fill(org)
    dialog.locator("button.danger").click()
    page.wait_for_url(f"{site.url}/organizations")
    assert f"The organization {org} was deleted." in page.locator(".flash").inner_text()
    assert not exists()
