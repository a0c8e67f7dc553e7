"""Site administration in the browser (`/site-admin`, ui/site_admin.py): users (create, disable and enable, reset a
password, lift a lock-out), organizations, storage and the event log; the REST endpoints under /api/admin; and
everyone else's 404. Logins are prefixed `admin-` (the live server is shared with the other UI modules)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import ADMIN_PASSWORD
from tests.ui.conftest import PASSWORD, Site, api_token, axe_problems, csrf_from, http_sign_in, shoot, sign_in
from tests.unit.api.helpers import auth

ADMIN = "admin"


def _user(site: Site, login: str) -> str:
    site.server.create_user(login, PASSWORD)
    with site.client() as client:
        return api_token(client, login)


def _admin_token(site: Site) -> str:
    if "admin" not in site.tokens:
        with site.client() as client:
            response = client.post(
                "/api/authentications", auth=(ADMIN, ADMIN_PASSWORD), json={"note": "admin-tests"}
            )
            assert response.status_code == 200, response.text
            site.tokens["admin"] = response.json()["token"]
    return site.tokens["admin"]


def _row(site: Site, login: str) -> dict:
    with site.client() as client:
        found = client.get("/api/admin/users", params={"q": login}, headers=auth(_admin_token(site))).json()
    return next(u for u in found["users"] if u["login"] == login)


def _sign_in_admin(page, site: Site) -> None:
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    assert page.locator(".account-menu a[href='/site-admin']").count() == 1


# --- who may see it -------------------------------------------------------------------------------------------------


def test_everyone_but_a_site_administrator_gets_the_404_of_a_missing_page(site: Site) -> None:
    _user(site, "admin-nobody")
    victim_token = _user(site, "admin-victim")
    with site.client() as anonymous:
        anonymous.headers["Accept"] = "text/html"
        missing = anonymous.get("/no-such-page/at-all/here")
        for path in (
            "/site-admin",
            "/site-admin/users/admin-victim",
            "/site-admin/events",
            "/site-admin/storage",
        ):
            response = anonymous.get(path)
            assert response.status_code == 404, path
            assert "This page does not exist." in response.text
        assert missing.status_code == 404
    with site.client() as client:
        assert http_sign_in(client, "admin-nobody").status_code == 303
        home = client.get("/")
        assert "/site-admin" not in home.text  # no Administration link in the menu
        assert 'href="/upload"' in home.text
        for path in (
            "/site-admin",
            "/site-admin/users",
            "/site-admin/orgs",
            "/site-admin/users/admin-victim",
        ):
            assert client.get(path).status_code == 404, path
        token = csrf_from(home.text)
        for action in ("disable", "unlock", "password"):
            forged = client.post(
                f"/site-admin/users/admin-victim/{action}",
                data={"csrf_token": token, "password": "hijacked-123", "password2": "hijacked-123"},
            )
            assert forged.status_code == 404, action
        no_csrf = client.post("/site-admin/users/admin-victim/disable", data={})
        assert no_csrf.status_code == 403
        created = client.post(
            "/site-admin/users",
            data={"csrf_token": token, "login": "admin-sneaky", "password": "x" * 10, "password2": "x" * 10},
        )
        assert created.status_code == 404
        # REST: the same services refuse
        nobody = api_token(client, "admin-nobody")
        assert client.get("/api/admin/users", headers=auth(nobody)).status_code == 403
        refused = client.post("/api/admin/users/admin-victim/disable", headers=auth(nobody), json={})
        assert refused.status_code == 403
        assert "site administrators" in refused.json()["error"]
    # nothing changed
    row = _row(site, "admin-victim")
    assert not row["is_disabled"]
    with site.client() as client:
        assert client.get("/api/user", headers=auth(victim_token)).status_code == 200
        assert (
            client.post("/api/authentications", auth=("admin-victim", PASSWORD), json={}).status_code == 200
        )
    assert all(u["login"] != "admin-sneaky" for u in _users(site, "admin-sneaky"))


def _users(site: Site, q: str) -> list[dict]:
    with site.client() as client:
        return client.get("/api/admin/users", params={"q": q}, headers=auth(_admin_token(site))).json()[
            "users"
        ]


def test_an_administrators_forged_form_from_another_session_is_refused(site: Site, page) -> None:
    """The admin's CSRF token, sent with someone else's session: 403, nothing changes."""
    _user(site, "admin-target")
    _user(site, "admin-attacker")
    _sign_in_admin(page, site)
    page.goto(f"{site.url}/site-admin/users/admin-target")
    admin_csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    with site.client() as client:
        assert http_sign_in(client, "admin-attacker").status_code == 303
        forged = client.post("/site-admin/users/admin-target/disable", data={"csrf_token": admin_csrf})
        assert forged.status_code == 403
    assert not _row(site, "admin-target")["is_disabled"]


# --- users ----------------------------------------------------------------------------------------------------------


def test_disabling_a_user_ends_their_session_and_tokens(site: Site, page, tmp_path: Path) -> None:
    token = _user(site, "admin-carol")
    carol = site.client()
    assert http_sign_in(carol, "admin-carol").status_code == 303
    assert "Signed in as" in carol.get("/").text

    _sign_in_admin(page, site)
    page.click(".account-menu summary")
    page.click(".account-menu a[href='/site-admin']")
    page.fill("#user-q", "admin-carol")
    page.click("form.admin-search button[type=submit]")
    assert page.locator("#users-count").inner_text().startswith("1 user")
    page.click("table.admin-table a:text-is('admin-carol')")
    page.click("button:text-is('Disable admin-carol')")
    assert "Disabled admin-carol" in page.locator(".flash-ok").inner_text()
    assert "disabled" in page.locator("#user-status").inner_text()
    assert axe_problems(page) == []
    shoot(page, "admin-user", tmp_path)

    # the real effects: her token answers 401, her session opens nothing, her password does not sign in
    with site.client() as client:
        assert client.get("/api/user", headers=auth(token)).status_code == 401
        assert client.post("/api/authentications", auth=("admin-carol", PASSWORD), json={}).status_code == 401
    assert "Signed in as" not in carol.get("/").text
    carol.close()

    page.click("button:text-is('Enable admin-carol')")
    assert "Enabled admin-carol" in page.locator(".flash-ok").inner_text()
    with site.client() as client:
        assert client.get("/api/user", headers=auth(token)).status_code == 200

    # the events, in the log, filtered
    page.goto(f"{site.url}/site-admin/events")
    page.select_option("#ev-kind", "user.disabled")
    page.fill("#ev-owner", "admin-carol")
    page.click("form.admin-filters button[type=submit]")
    rows = page.locator("table.admin-events tbody tr")
    assert rows.count() == 1
    assert "admin disabled the user admin-carol" in rows.first.inner_text()
    assert axe_problems(page) == []


def test_an_administrator_cannot_disable_themselves(site: Site) -> None:
    with site.client() as client:
        refused = client.post("/api/admin/users/admin/disable", headers=auth(_admin_token(site)), json={})
    assert refused.status_code == 400
    assert "your own account" in refused.json()["error"]


def test_resetting_a_password_in_the_browser(site: Site, page) -> None:
    _user(site, "admin-dave")
    dave = site.client()
    assert http_sign_in(dave, "admin-dave").status_code == 303
    _sign_in_admin(page, site)
    page.goto(f"{site.url}/site-admin/users/admin-dave")
    page.fill("#reset-password", "brand-new-pass")
    page.fill("#reset-password2", "other-new-pass")
    page.click("form[action$='/password'] button[type=submit]")
    assert "the two passwords differ" in page.locator("#admin-error").inner_text()
    page.fill("#reset-password", "short")
    page.fill("#reset-password2", "short")
    page.evaluate(
        "document.querySelectorAll('input[minlength]').forEach(e => e.removeAttribute('minlength'))"
    )
    page.click("form[action$='/password'] button[type=submit]")
    assert "at least 8 characters" in page.locator("#admin-error").inner_text()
    page.fill("#reset-password", "brand-new-pass")
    page.fill("#reset-password2", "brand-new-pass")
    page.click("form[action$='/password'] button[type=submit]")
    assert "Set a new password for admin-dave" in page.locator(".flash-ok").inner_text()
    with site.client() as client:
        assert client.get("/api/user", auth=("admin-dave", PASSWORD)).status_code == 401
        assert client.get("/api/user", auth=("admin-dave", "brand-new-pass")).status_code == 200
    assert "Signed in as" not in dave.get("/").text  # the old session ended
    dave.close()


def test_unlocking_a_locked_out_login_in_the_browser(site: Site, page, tmp_path: Path) -> None:
    _user(site, "admin-erin")
    with site.client() as client:
        for _ in range(3):  # the UI site allows 3 failures (PACKYARD_LOGIN_FAILURES_ALLOWED)
            failed = http_sign_in(client, "admin-erin", "wrong-password")
            assert failed.status_code in (400, 401), failed.status_code
        locked = http_sign_in(client, "admin-erin")
        assert locked.status_code == 429, locked.status_code
    _sign_in_admin(page, site)
    page.goto(f"{site.url}/site-admin/users?status=locked")
    assert page.locator("table.admin-table a:text-is('admin-erin')").count() == 1
    assert axe_problems(page) == []
    shoot(page, "admin-users", tmp_path)
    page.click("table.admin-table a:text-is('admin-erin')")
    assert "throttled after 3 failed sign-ins" in page.locator("#user-lock").inner_text()
    page.click("button:text-is('Unlock sign-in')")
    assert "Unlocked admin-erin: 3 failed sign-ins forgotten" in page.locator(".flash-ok").inner_text()
    assert "no recent failed sign-ins" in page.locator("#user-lock").inner_text()
    with site.client() as client:
        assert http_sign_in(client, "admin-erin").status_code == 303


def test_creating_a_user_in_the_browser(site: Site, page) -> None:
    _sign_in_admin(page, site)
    page.goto(f"{site.url}/site-admin/users")
    page.fill("#new-login", "admin-frank")
    page.fill("#new-name", "Frank")
    page.fill("#new-email", "frank@example.org")
    page.fill("#new-password", "frank-password")
    page.fill("#new-password2", "frank-password")
    page.click("form[method=post][action='/site-admin/users'] button[type=submit]")
    assert "Created the user admin-frank" in page.locator(".flash-ok").inner_text()
    with site.client() as client:
        assert client.get("/api/user", auth=("admin-frank", "frank-password")).status_code == 200
    # a taken login: the error on the form, the fields kept
    page.goto(f"{site.url}/site-admin/users")
    page.fill("#new-login", "admin-frank")
    page.fill("#new-password", "frank-password")
    page.fill("#new-password2", "frank-password")
    page.click("form[method=post][action='/site-admin/users'] button[type=submit]")
    assert "already taken" in page.locator("#admin-error").inner_text()
    assert page.input_value("#new-login") == "admin-frank"


# --- organizations, storage, events; REST ----------------------------------------------------------------------------


def test_organizations_storage_and_event_pages(site: Site, page, tmp_path: Path) -> None:
    _sign_in_admin(page, site)
    page.goto(f"{site.url}/site-admin/orgs")
    acme = page.locator("table.admin-table tr", has_text="acme")
    assert "alice" in acme.inner_text()
    assert axe_problems(page) == []
    shoot(page, "admin-orgs", tmp_path)

    page.goto(f"{site.url}/site-admin/storage")
    alice = page.locator("#storage-table tr", has_text="alice").first
    assert int(alice.locator("[data-bytes]").get_attribute("data-bytes")) > 0
    assert "blob" in page.locator("#blob-bytes").inner_text()
    assert axe_problems(page) == []
    shoot(page, "admin-storage", tmp_path)

    page.goto(f"{site.url}/site-admin/events?actor=alice&kind=package.created")
    texts = page.locator("table.admin-events tbody tr").all_inner_texts()
    assert texts and all("package.created" in t for t in texts)
    assert axe_problems(page) == []
    shoot(page, "admin-events", tmp_path)


def test_rest_endpoints(site: Site) -> None:
    token = _admin_token(site)
    with site.client() as client:
        created = client.post(
            "/api/admin/users", headers=auth(token), json={"login": "admin-gina", "password": "gina-password"}
        )
        assert created.status_code == 201, created.text
        assert (
            client.post(
                "/api/admin/users/admin-gina/password",
                headers=auth(token),
                json={"password": "gina-2-password"},
            ).status_code
            == 200
        )
        assert client.get("/api/user", auth=("admin-gina", "gina-2-password")).status_code == 200
        assert client.post("/api/admin/users/admin-gina/disable", headers=auth(token), json={}).json()[
            "disabled"
        ]
        assert client.get("/api/user", auth=("admin-gina", "gina-2-password")).status_code == 401
        client.post("/api/admin/users/admin-gina/disable", headers=auth(token), json={"disabled": False})
        for _ in range(3):
            client.get("/api/user", auth=("admin-gina", "wrong"))
        assert client.get("/api/user", auth=("admin-gina", "gina-2-password")).status_code == 429
        assert _row(site, "admin-gina")["locked"]
        assert (
            client.post("/api/admin/users/admin-gina/unlock", headers=auth(token)).json()["failures_cleared"]
            == 3
        )
        assert client.get("/api/user", auth=("admin-gina", "gina-2-password")).status_code == 200
        assert client.post("/api/admin/users/nobody-here/unlock", headers=auth(token)).status_code == 404

        orgs = client.get("/api/admin/orgs", headers=auth(token)).json()["orgs"]
        acme = next(o for o in orgs if o["login"] == "acme")
        assert acme["owners"] == ["alice"] and acme["packages"] >= 1
        used = client.get("/api/admin/storage", headers=auth(token)).json()
        assert used["blob_bytes"] > 0 and used["files"] >= used["blobs"] > 0

        kinds = ["user.created", "user.password_reset", "user.disabled", "user.enabled", "user.unlocked"]
        page1 = client.get(
            "/api/admin/events", headers=auth(token), params={"owner": "admin-gina", "limit": 3}
        ).json()
        assert [e["kind"] for e in page1["events"]] == kinds[::-1][:3]
        page2 = client.get(
            "/api/admin/events",
            headers=auth(token),
            params={"owner": "admin-gina", "limit": 3, "before": page1["older"]},
        ).json()
        assert [e["kind"] for e in page2["events"]] == kinds[::-1][3:]
        assert page2["older"] is None
        assert all(e["actor"] == "admin" for e in page1["events"] + page2["events"])
        prefixed = client.get(
            "/api/admin/events", headers=auth(token), params={"kind": "user.", "owner": "admin-gina"}
        ).json()
        assert len(prefixed["events"]) == 5
        future = client.get("/api/admin/events", headers=auth(token), params={"since": "2999-01-01"}).json()
        assert future["events"] == []
    schema = httpx.get(f"{site.url}/api/openapi.json").json()
    for path in ("/api/admin/users", "/api/admin/users/{login}/disable", "/api/admin/users/{login}/password",
                 "/api/admin/users/{login}/unlock", "/api/admin/orgs", "/api/admin/storage", "/api/admin/events"):  # fmt: skip
        assert path in schema["paths"], path


def test_the_cli_calls_the_same_service(site: Site) -> None:
    _user(site, "admin-hank")
    site.server.cli("user", "disable", "admin-hank")
    site.server.cli("user", "disable", "admin-hank", "--enable")
    with site.client() as client:
        for _ in range(3):
            client.get("/api/user", auth=("admin-hank", "wrong"))
    out = site.server.cli("user", "unlock", "admin-hank").stdout
    assert "3 failed sign-ins forgotten" in out
    with site.client() as client:
        events = client.get(
            "/api/admin/events",
            headers=auth(_admin_token(site)),
            params={"owner": "admin-hank", "kind": "user."},
        ).json()["events"]
    assert [e["kind"] for e in events] == ["user.unlocked", "user.enabled", "user.disabled", "user.created"]
    assert all(e["actor"] is None for e in events)  # the operator at the command line
