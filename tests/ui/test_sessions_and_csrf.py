"""Sign-in, sign-out and CSRF against a live server: the browser for what users do, httpx for what attackers do."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx
from sqlalchemy import create_engine, text

from packyard.core.db import Database
from packyard.core.services.sessions import WebSession
from tests.ui.conftest import PASSWORD, csrf_from, http_sign_in, sign_in


def test_sign_in_shows_who_you_are_and_sign_out_ends_it(site, page) -> None:
    page.goto(f"{site.url}/alice/secret")
    assert "Nothing here" in page.content()
    page.click("header .account a:has-text('Sign in')")
    page.fill("#login", "alice")
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{site.url}/alice/secret")  # back where the sign-in started
    assert page.locator("h1").inner_text() == "secret"
    assert "alice" in page.locator("header .who").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "packyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here

    page.click("header button:has-text('Sign out')")
    page.wait_for_url(f"{site.url}/")
    assert page.locator("header .account").inner_text().strip() == "Sign in"


def test_wrong_password_says_so_and_does_not_sign_in(site, page) -> None:
    sign_in(page, site, "bob", "not-the-password")
    assert page.locator("[role=alert]").inner_text() == "Invalid username or password."
    assert page.locator("#login").input_value() == "bob"  # kept, the password is not
    assert page.locator("#password").input_value() == ""
    assert not [c for c in page.context.cookies() if c["name"] == "packyard_session"]


def test_too_many_failures_throttle_this_address(site, page) -> None:
    # The site allows 3 failures per login and address (PACKYARD_LOGIN_FAILURES_ALLOWED=3); then this address
    # waits (tests/ui/test_sign_in_throttle.py shows other addresses do not).
    for _ in range(3):
        sign_in(page, site, "locked", "wrong-password")
        assert "Invalid username or password" in page.locator("[role=alert]").inner_text()
    sign_in(page, site, "locked", PASSWORD)  # even the right password, for now
    alert = page.locator("[role=alert]").inner_text()
    assert "Too many failed sign-ins from your address; try again in" in alert, alert
    assert not [c for c in page.context.cookies() if c["name"] == "packyard_session"]


def test_sign_out_invalidates_the_session_server_side(site) -> None:
    with site.client() as client:
        assert http_sign_in(client, "alice").status_code == 303
        stolen = client.cookies["packyard_session"]
        home = client.get("/")
        assert "Welcome, alice" in home.text
        assert client.get("/alice/secret").status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf_from(home.text)})
        assert out.status_code == 303
    # A copy of the old cookie (kept by an attacker, or another tab) opens nothing any more.
    with httpx.Client(base_url=site.url, cookies={"packyard_session": stolen}) as replay:
        home = replay.get("/")
        assert "Welcome" not in home.text and ">Sign in<" in home.text
        assert replay.get("/alice/secret").status_code == 404


def test_only_the_hash_of_a_session_id_is_stored(site) -> None:
    with site.client() as client:
        assert http_sign_in(client, "bob").status_code == 303
        secret = client.cookies["packyard_session"]
    engine = create_engine(f"sqlite:///{site.server.data / 'packyard.db'}")
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT id_hash FROM web_sessions")).scalars().all()
    finally:
        engine.dispose()
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert secret not in stored


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(site) -> None:
    with site.client() as client:
        client.get("/login")  # gets the anonymous CSRF cookie, but the form below does not carry the token
        response = client.post("/login", data={"login": "alice", "password": PASSWORD, "next": "/"})
        assert response.status_code == 403
        assert "packyard_session" not in client.cookies  # the password was not even checked

        assert http_sign_in(client, "alice").status_code == 303
        response = client.post("/logout", data={})
        assert response.status_code == 403
        assert "Welcome, alice" in client.get("/").text  # still signed in


def test_another_sessions_csrf_token_is_refused(site) -> None:
    with site.client() as mallory, site.client() as victim:
        assert http_sign_in(mallory, "bob").status_code == 303
        foreign = csrf_from(mallory.get("/").text)
        assert http_sign_in(victim, "alice").status_code == 303
        response = victim.post("/logout", data={"csrf_token": foreign})
        assert response.status_code == 403
        assert "Welcome, alice" in victim.get("/").text


def test_the_anonymous_token_is_bound_to_its_cookie(site) -> None:
    with site.client() as one, site.client() as two:
        token = csrf_from(one.get("/login").text)
        two.get("/login")  # a cookie of its own
        response = two.post("/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 403
        bare = httpx.post(
            f"{site.url}/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token}
        )
        assert bare.status_code == 403  # no cookie at all


def test_session_cookies_do_not_authenticate_the_api(site) -> None:
    """The cookie is read by pages only: a forged cross-site request cannot act through the REST API."""
    with site.client() as client:
        assert http_sign_in(client, "alice").status_code == 303
        assert client.get("/api/user").status_code == 401
        # Read as anonymous: the private package answers as a missing one does.
        assert client.get("/api/package/alice/secret").status_code == 404
        hidden, missing = client.get("/api/package/alice/secret"), client.get("/api/package/alice/nosuch")
        assert hidden.text == missing.text.replace("nosuch", "secret")


def test_a_password_change_ends_existing_sessions(site) -> None:
    with site.client() as client:
        assert http_sign_in(client, "bob").status_code == 303
        assert "Welcome, bob" in client.get("/").text
        site.server.cli("user", "passwd", "bob", "--password", PASSWORD)  # same text, new salted hash
        assert "Welcome" not in client.get("/").text


def test_sign_up_when_open(site, page) -> None:
    page.goto(f"{site.url}/signup")
    page.fill("#login", "carol")
    page.fill("#email", "carol@example.org")
    page.fill("#password", "carol-password")
    page.fill("#password2", "carol-password")
    page.click("form[action='/signup'] button[type=submit]")
    page.wait_for_url(f"{site.url}/carol")
    assert "carol" in page.locator("header .who").inner_text()


def test_expired_sessions_open_nothing(site) -> None:
    with site.client() as client:
        assert http_sign_in(client, "alice").status_code == 303
        key = hashlib.sha256(client.cookies["packyard_session"].encode()).hexdigest()
        db = Database(f"sqlite:///{site.server.data / 'packyard.db'}")
        try:
            with db.write() as session:
                row = session.get(WebSession, key)
                assert row is not None
                row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        finally:
            db.dispose()
        assert "Welcome" not in client.get("/").text
