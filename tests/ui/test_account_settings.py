"""Your account in the browser: the profile (`/settings`), the password (`/settings/password`), deleting the
account; each checked through the REST API and the real `anaconda` client where it shows there, and attempted as
a forger (no CSRF token, another session's token, a wrong password or word) to see that nothing changes.

Logins are prefixed `account-` (the live server is shared with the other UI modules); each test that changes a
password or deletes an account has its own user, since the server locks a login out after 3 failed passwords.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.clients.anaconda import Anaconda
from tests.ui.conftest import (
    PASSWORD,
    Site,
    api_token,
    axe_problems,
    create_package,
    csrf_from,
    http_sign_in,
    shoot,
    sign_in,
)
from tests.unit.api.helpers import auth

NEW_PASSWORD = "a-brand-new-password"


def user(site: Site, login: str) -> str:
    site.server.create_user(login, PASSWORD)
    return login


def basic_ok(site: Site, login: str, password: str) -> bool:
    with site.client() as client:
        response = client.post("/api/authentications", auth=(login, password), json={"note": "check"})
    assert response.status_code in (200, 401, 429), response.text
    return response.status_code == 200


def profile(site: Site, login: str) -> dict:
    with site.client() as client:
        return client.get(f"/api/user/{login}").json()


# --- the profile -------------------------------------------------------------------------------------------------


def test_the_profile_is_edited_on_the_page_and_shows_over_rest(site: Site, page, tmp_path: Path) -> None:
    login = user(site, "account-prof")
    sign_in(page, site, login)
    page.goto(f"{site.url}/settings")
    page.fill("#profile-name", "Pat Example")
    page.fill("#profile-email", "pat@example.org")
    page.fill("#profile-company", "Example Lab")
    page.fill("#profile-location", "Lisbon")
    page.fill("#profile-url", "https://example.org/pat")
    page.fill("#profile-description", "Builds the **lab** packages.")
    page.click("form[action='/settings'] button[type=submit]")
    page.wait_for_url(f"{site.url}/settings")
    assert "Your profile was saved." in page.locator(".flash").inner_text()
    shown = profile(site, login)
    assert shown["name"] == "Pat Example" and shown["company"] == "Example Lab"
    assert shown["location"] == "Lisbon" and shown["url"] == "https://example.org/pat"
    assert "email" not in shown  # not public
    assert axe_problems(page) == []
    shoot(page, "account-settings", tmp_path)

    # A bad value is shown next to its field, and nothing is saved.
    page.fill("#profile-url", "javascript:alert(1)")
    page.fill("#profile-company", "Changed")
    page.click("form[action='/settings'] button[type=submit]")
    page.wait_for_load_state()
    assert "not a web address: start it with https://" in page.locator("#profile-url-error").inner_text()
    assert page.locator("#profile-url").get_attribute("aria-invalid") == "true"
    assert axe_problems(page) == []
    assert profile(site, login)["company"] == "Example Lab"


def test_patch_api_user_uses_the_same_service(site: Site) -> None:
    login = user(site, "account-patch")
    with site.client() as client:
        token = api_token(client, login)
        response = client.patch("/api/user", headers=auth(token), json={"location": "Porto"})
        assert response.status_code == 200, response.text
    assert profile(site, login)["location"] == "Porto"


def test_forged_profile_posts_change_nothing(site: Site) -> None:
    login, other = user(site, "account-prof2"), user(site, "account-prof3")
    with site.client() as victim, site.client() as forger:
        assert http_sign_in(victim, login).status_code == 303
        assert http_sign_in(forger, other).status_code == 303
        foreign = csrf_from(forger.get("/settings").text)
        assert victim.post("/settings", data={"name": "Forged"}).status_code == 403
        assert victim.post("/settings", data={"name": "Forged", "csrf_token": foreign}).status_code == 403
    assert profile(site, login)["name"] == ""


# --- the password ------------------------------------------------------------------------------------------------


def test_changing_the_password_signs_out_other_browsers_and_the_old_password_fails(
    site: Site, browser, page, tmp_path: Path
) -> None:
    login = user(site, "account-pw")
    with site.client() as client:
        old_token = api_token(client, login)
    other_context = browser.new_context()
    try:
        other = other_context.new_page()
        sign_in(other, site, login)
        other.goto(f"{site.url}/settings")
        assert other.locator("h1").inner_text() == "Settings"

        sign_in(page, site, login)
        page.goto(f"{site.url}/settings/password")
        assert axe_problems(page) == []
        shoot(page, "account-password", tmp_path)
        page.fill("#pw-current", PASSWORD)
        page.fill("#pw-new", NEW_PASSWORD)
        page.fill("#pw-new2", NEW_PASSWORD)
        page.check("#pw-revoke")
        page.click("form[action='/settings/password'] button[type=submit]")
        page.wait_for_url(f"{site.url}/settings/password")
        flash = page.locator(".flash").inner_text()
        assert "Your password was changed" in flash and "1 access token was revoked" in flash

        # This browser stays signed in; the other one is signed out.
        page.goto(f"{site.url}/settings")
        assert page.url == f"{site.url}/settings"
        other.goto(f"{site.url}/settings")
        assert other.url.startswith(f"{site.url}/login")
    finally:
        other_context.close()

    # The clients: the new password works, the old one fails (checked last: failures count toward the
    # lock-out); the revoked token is gone.
    assert basic_ok(site, login, NEW_PASSWORD)
    with site.client() as client:
        assert client.get("/api/user", headers=auth(old_token)).status_code == 401
    anaconda = Anaconda(tmp_path / "anaconda", site.server.api).configure()
    anaconda.login(login, NEW_PASSWORD)
    assert login in anaconda.output("org", "whoami")
    failed = anaconda.run(
        "org", "login", "--username", login, "--password", PASSWORD, "--hostname", "old", check=False
    )
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert not basic_ok(site, login, PASSWORD)


def test_a_wrong_current_password_changes_nothing(site: Site, page) -> None:
    login = user(site, "account-pw2")
    with site.client() as client:
        token = api_token(client, login)
    sign_in(page, site, login)
    page.goto(f"{site.url}/settings/password")
    page.fill("#pw-current", "not-my-password")
    page.fill("#pw-new", NEW_PASSWORD)
    page.fill("#pw-new2", NEW_PASSWORD)
    page.check("#pw-revoke")
    page.click("form[action='/settings/password'] button[type=submit]")
    page.wait_for_load_state()
    assert "That is not your password." in page.locator("#pw-current-error").inner_text()
    assert axe_problems(page) == []
    page.fill("#pw-current", PASSWORD)
    page.fill("#pw-new", NEW_PASSWORD)
    page.fill("#pw-new2", "something-else-entirely")
    page.click("form[action='/settings/password'] button[type=submit]")
    page.wait_for_load_state()
    assert "The two new passwords differ" in page.locator("#pw-new2-error").inner_text()
    assert basic_ok(site, login, PASSWORD)
    assert not basic_ok(site, login, NEW_PASSWORD)
    with site.client() as client:
        assert client.get("/api/user", headers=auth(token)).status_code == 200


def test_forged_password_posts_change_nothing(site: Site) -> None:
    login, other = user(site, "account-pw3"), user(site, "account-pw4")
    form = {"current": PASSWORD, "new": NEW_PASSWORD, "new2": NEW_PASSWORD}
    with site.client() as victim, site.client() as forger:
        assert http_sign_in(victim, login).status_code == 303
        assert http_sign_in(forger, other).status_code == 303
        foreign = csrf_from(forger.get("/settings/password").text)
        assert victim.post("/settings/password", data=form).status_code == 403
        assert victim.post("/settings/password", data={**form, "csrf_token": foreign}).status_code == 403
    assert basic_ok(site, login, PASSWORD)


def test_the_rest_password_change_needs_the_current_password(site: Site) -> None:
    login = user(site, "account-pw5")
    with site.client() as client:
        token = api_token(client, login)
        wrong = client.post(
            "/api/user/password",
            headers=auth(token),
            json={"current_password": "wrong-password", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 400
        right = client.post(
            "/api/user/password",
            headers=auth(token),
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert right.status_code == 200, right.text
    assert not basic_ok(site, login, PASSWORD)
    assert basic_ok(site, login, NEW_PASSWORD)


# --- deleting the account ----------------------------------------------------------------------------------------


def test_deleting_the_account_in_the_browser(site: Site, page, tmp_path: Path) -> None:
    login = user(site, "account-gone")
    with site.client() as client:
        token = api_token(client, login)
        create_package(client, token, login, "soon-gone", summary="goes with the account")
    sign_in(page, site, login)
    page.goto(f"{site.url}/settings")
    page.fill("#delete-password", PASSWORD)
    page.click("form[action='/settings/delete'] button.danger")
    dialog = page.locator("dialog.confirm-dialog")
    dialog.wait_for(state="visible")
    assert axe_problems(page) == []
    shoot(page, "account-delete", tmp_path)
    dialog.locator("input").fill(login)
    dialog.locator("button.danger").click()
    page.wait_for_url(f"{site.url}/")
    assert f"The account {login} was deleted, with its 1 package." in page.locator(".flash").inner_text()
    assert page.locator("header .account").inner_text().strip() == "Sign in"
    with site.client() as client:
        assert client.get(f"/api/user/{login}").status_code == 404
        assert client.get(f"/api/package/{login}/soon-gone").status_code == 404
        assert client.get("/api/user", headers=auth(token)).status_code == 401
    assert not basic_ok(site, login, PASSWORD)


def test_deleting_needs_the_word_and_the_password(site: Site) -> None:
    login, other = user(site, "account-stay"), user(site, "account-stay2")
    with site.client() as client, site.client() as forger:
        assert http_sign_in(client, login).status_code == 303
        assert http_sign_in(forger, other).status_code == 303
        csrf = csrf_from(client.get("/settings").text)
        asked = client.post("/settings/delete", data={"csrf_token": csrf, "password": PASSWORD})
        assert asked.status_code == 200 and f"Type <strong>{login}</strong> to confirm" in asked.text
        wrong_word = {"csrf_token": csrf, "password": PASSWORD, "confirm": "account-other"}
        assert client.post("/settings/delete", data=wrong_word).status_code == 400
        wrong_password = {"csrf_token": csrf, "password": "not-the-password", "confirm": login}
        refused = client.post("/settings/delete", data=wrong_password)
        assert refused.status_code == 400 and "That is not your password." in refused.text
        assert (
            client.post("/settings/delete", data={"password": PASSWORD, "confirm": login}).status_code == 403
        )
        foreign = csrf_from(forger.get("/settings").text)
        forged = {"csrf_token": foreign, "password": PASSWORD, "confirm": login}
        assert client.post("/settings/delete", data=forged).status_code == 403
    assert profile(site, login)["login"] == login


def test_the_last_owner_of_an_organization_cannot_delete_the_account(site: Site, page) -> None:
    login = user(site, "account-boss")
    with site.client() as client:
        token = api_token(client, login)
        assert client.post("/api/orgs/account-bossorg", headers=auth(token), json={}).status_code == 201
    sign_in(page, site, login)
    page.goto(f"{site.url}/settings")
    assert "only owner of the organization account-bossorg" in page.locator(".blockers").inner_text()
    assert page.locator("form[action='/settings/delete']").count() == 0
    with site.client() as client:
        assert http_sign_in(client, login).status_code == 303
        csrf = csrf_from(client.get("/settings").text)
        forced = client.post(
            "/settings/delete", data={"csrf_token": csrf, "password": PASSWORD, "confirm": login}
        )
        assert forced.status_code == 409
    assert profile(site, login)["login"] == login


@pytest.mark.parametrize("path", ["/settings", "/settings/password"])
def test_settings_need_a_signed_in_browser(site: Site, path: str) -> None:
    with httpx.Client(base_url=site.url) as client:
        response = client.get(path)
    assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"
