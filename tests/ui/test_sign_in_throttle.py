"""Sign-in throttling against a live server, from several loopback source addresses (issue #14 item 4).

The server listens on 127.0.0.1; each client binds its socket to its own address (127.0.0.2, 127.0.0.3, ...),
which loopback routes, so the server sees as many clients as the test wants. docs/security.md, "Sign-in
throttling", says what is checked here: an attacker's failures slow down the attacker's address, never the real
user's; the delays grow; X-Forwarded-For counts only from a trusted proxy; `packyard user unlock` lifts it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server
from tests.ui.conftest import csrf_from

PASSWORD = "right-password-1"
ATTACKER, USER, PROXY, SPRAYER, FORM = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("throttle"),
        {
            "PACKYARD_LOGIN_FAILURES_ALLOWED": "3",
            "PACKYARD_LOGIN_FAILURES_PER_ADDRESS_ALLOWED": "8",
            "PACKYARD_LOGIN_DELAY_SECONDS": "1",
            "PACKYARD_LOGIN_DELAY_MAX_SECONDS": "4",
            "PACKYARD_TRUSTED_PROXIES": PROXY,
        },
    )
    try:
        for login in ("admin2", "carol", "dora", "erik"):
            live.create_user(login, PASSWORD)
        yield live
    finally:
        live.stop()


def client_from(server: LiveServer, address: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def user(client: httpx.Client, login: str, password: str, **headers: str) -> httpx.Response:
    return client.get("/api/user", auth=(login, password), headers=headers)


def test_an_attacker_slows_down_only_itself_with_growing_delays(server: LiveServer) -> None:
    with client_from(server, ATTACKER) as attacker, client_from(server, USER) as real:
        for _ in range(3):
            assert user(attacker, "admin2", "guess").status_code == 401
        waits = []
        for _ in range(3):  # each failure once the delay is over doubles the next delay: 1, 2, 4 s
            refused = user(attacker, "admin2", PASSWORD)  # even the right password waits
            assert refused.status_code == 429, refused.text
            assert "try again in" in refused.json()["error"]
            waits.append(int(refused.headers["Retry-After"]))
            time.sleep(waits[-1] + 0.2)
            assert user(attacker, "admin2", "guess").status_code == 401
        assert waits == [1, 2, 4], waits
        assert user(attacker, "admin2", PASSWORD).status_code == 429  # 4 s: the cap
        # Meanwhile the real user, at another address, signs in with the right password at once.
        assert user(real, "admin2", PASSWORD).status_code == 200
        # A forged X-Forwarded-For from an address that is no trusted proxy is ignored.
        forged = user(attacker, "admin2", PASSWORD, **{"X-Forwarded-For": "203.0.113.50"})
        assert forged.status_code == 429


def test_one_address_trying_many_logins_is_throttled_for_all_of_them(server: LiveServer) -> None:
    with client_from(server, SPRAYER) as sprayer, client_from(server, USER) as real:
        for login in ("carol", "dora", "erik", "nobody1", "nobody2", "nobody3", "nobody4", "nobody5"):
            for _ in range(1):
                assert user(sprayer, login, "guess").status_code == 401
        assert user(sprayer, "carol", PASSWORD).status_code == 429  # 8 failures from this address
        assert user(real, "carol", PASSWORD).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(server: LiveServer) -> None:
    with client_from(server, PROXY) as proxy:
        mallory = {"X-Forwarded-For": "198.51.100.7"}
        for _ in range(3):
            assert user(proxy, "dora", "guess", **mallory).status_code == 401
        assert user(proxy, "dora", PASSWORD, **mallory).status_code == 429
        # another client behind the same proxy is not held back; a forged left-hand entry changes nothing
        assert (
            user(proxy, "dora", PASSWORD, **{"X-Forwarded-For": "198.51.100.7, 198.51.100.8"}).status_code
            == 200
        )
        assert user(proxy, "dora", PASSWORD).status_code == 200  # the proxy itself has not failed


def test_the_sign_in_form_is_throttled_too_and_unlock_lifts_it(server: LiveServer) -> None:
    with client_from(server, FORM) as browser:

        def sign_in(password: str) -> httpx.Response:
            token = csrf_from(browser.get("/login").text)
            form = {"login": "erik", "password": password, "csrf_token": token, "next": "/"}
            return browser.post("/login", data=form)

        for _ in range(3):
            assert sign_in("guess").status_code == 400
        refused = sign_in(PASSWORD)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert "Too many failed sign-ins from your address" in refused.text
        # REST Basic auth and twine's upload from that address wait as well: one throttle for every interface
        assert user(browser, "erik", PASSWORD).status_code == 429
        twine = browser.post("/pypi/erik/", auth=("erik", PASSWORD), data={":action": "file_upload"})
        assert twine.status_code == 429 and int(twine.headers["Retry-After"]) >= 1, twine.text
        out = server.cli("user", "unlock", "erik").stdout
        assert out.startswith("unlocked erik ("), out  # its failures from every address
        assert sign_in(PASSWORD).status_code == 303


def test_the_settings_are_documented() -> None:
    docs = Path(__file__).parents[2] / "docs"
    text = (docs / "security.md").read_text() + (docs / "operations.md").read_text()
    for name in (
        "PACKYARD_LOGIN_FAILURES_ALLOWED",
        "PACKYARD_LOGIN_FAILURES_PER_ADDRESS_ALLOWED",
        "PACKYARD_LOGIN_FAILURE_WINDOW_SECONDS",
        "PACKYARD_LOGIN_DELAY_SECONDS",
        "PACKYARD_LOGIN_DELAY_MAX_SECONDS",
        "PACKYARD_TRUSTED_PROXIES",
    ):
        assert name in text, name
