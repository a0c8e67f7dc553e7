"""core/throttle.py: the delays, the per-(login, address) and per-address counts, and which address is the client's."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from packyard.config import Settings
from packyard.core.db import Database
from packyard.core.models import LoginFailure, utcnow
from packyard.core.throttle import (
    ThrottlePolicy,
    check,
    client_address,
    delay_seconds,
    retry_after,
    split_networks,
    throttle_source,
)
from tests.unit.core.conftest import Backend

POLICY = ThrottlePolicy(allowed=3, per_address_allowed=5, window_seconds=3600, base_seconds=5, max_seconds=60)


def test_delays_start_after_the_allowed_failures_double_and_stop_at_the_cap() -> None:
    assert [delay_seconds(n, 3, POLICY) for n in range(9)] == [0, 0, 0, 5, 10, 20, 40, 60, 60]
    assert delay_seconds(10**6, 3, POLICY) == 60  # no overflow however long the attack


def _fail(db: Database, login: str, addr: str, n: int, ago: float) -> None:
    with db.write() as session:
        at = utcnow() - dt.timedelta(seconds=ago)
        session.add_all([LoginFailure(login_key=login, remote_addr=addr, at=at) for _ in range(n)])


def test_only_the_address_that_failed_waits(backend: Backend) -> None:
    db = backend.db
    _fail(db, "admin", "10.0.0.66", 4, ago=1)  # 4 failures: the second delay, 10 s, from the last one
    with db.read() as session:
        now = utcnow()
        assert 8 <= retry_after(session, "admin", "10.0.0.66", now, POLICY) <= 9
        assert retry_after(session, "admin", "10.0.0.7", now, POLICY) == 0  # the real user elsewhere
        assert retry_after(session, "bob", "10.0.0.66", now, POLICY) == 0  # 4 < 5 per address
        assert check(session, "admin", "10.0.0.66", now, POLICY).pair_failures == 4


def test_a_delay_ends_and_old_failures_stop_counting(backend: Backend) -> None:
    db = backend.db
    _fail(db, "admin", "10.0.0.66", 3, ago=30)  # the first delay (5 s) has passed
    _fail(db, "admin", "10.0.0.67", 10, ago=4000)  # outside the window
    with db.read() as session:
        assert retry_after(session, "admin", "10.0.0.66", utcnow(), POLICY) == 0
        assert retry_after(session, "admin", "10.0.0.67", utcnow(), POLICY) == 0


def test_one_address_spraying_many_logins_waits_for_all_of_them(backend: Backend) -> None:
    db = backend.db
    for login in ("a", "b", "c", "d", "e", "f"):
        _fail(db, login, "10.0.0.99", 1, ago=1)
    with db.read() as session:
        assert 8 <= retry_after(session, "someone-else", "10.0.0.99", utcnow(), POLICY) <= 9  # 6 > 5: 10 s
        assert retry_after(session, "someone-else", "10.0.0.98", utcnow(), POLICY) == 0


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("10.0.0.66", "10.0.0.66"),
        ("::ffff:10.0.0.66", "10.0.0.66"),  # the same IPv4 client through a dual-stack socket
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::1", "::/64"),
        ("testclient", "testclient"),  # not an address (Starlette's test client): as it is
        ("x" * 300, "x" * 100),
    ],
)
def test_failures_count_per_ipv4_address_and_per_ipv6_64(address: str, source: str) -> None:
    assert throttle_source(address) == source


def test_rotating_addresses_inside_one_ipv6_64_does_not_escape_the_delay(backend: Backend) -> None:
    """The attacker holds 2001:db8:1:2::/64 and sends each wrong password from a new address of it."""
    from packyard.core.auth import authenticate_password
    from packyard.core.errors import TooManyRequests, Unauthorized

    db = backend.db
    for n in range(POLICY.allowed):
        with pytest.raises(Unauthorized):
            authenticate_password(db, "admin", "guess", remote_addr=f"2001:db8:1:2::{n + 1:x}", policy=POLICY)
    with pytest.raises(TooManyRequests):  # a fresh address of the same /64 waits too
        authenticate_password(db, "admin", "guess", remote_addr="2001:db8:1:2:abcd::9", policy=POLICY)
    with pytest.raises(Unauthorized):  # another subscriber's /64 does not
        authenticate_password(db, "admin", "guess", remote_addr="2001:db8:1:3::1", policy=POLICY)


def test_an_overlong_login_is_a_401_on_every_database(backend_client) -> None:
    """The failure row's login column is 100 wide: a longer login (no account has one) is cut, never a 500."""
    for _ in range(2):
        assert backend_client.get("/api/user", auth=("x" * 300, "guess")).status_code == 401


TRUSTED = split_networks("127.0.0.1, 10.0.0.0/8 ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        (
            "203.0.113.9",
            ["1.2.3.4"],
            TRUSTED,
            "203.0.113.9",
        ),  # not from a trusted proxy: the header is ignored
        ("127.0.0.1", ["1.2.3.4"], (), "127.0.0.1"),  # no trusted proxies configured: ignored
        ("127.0.0.1", ["1.2.3.4"], TRUSTED, "1.2.3.4"),
        ("127.0.0.1", ["6.6.6.6, 1.2.3.4"], TRUSTED, "1.2.3.4"),  # the left part is what the client wrote
        ("127.0.0.1", ["6.6.6.6, 1.2.3.4, 10.1.2.3"], TRUSTED, "1.2.3.4"),  # a chain of trusted proxies
        ("127.0.0.1", ["6.6.6.6", "1.2.3.4"], TRUSTED, "1.2.3.4"),  # several headers: their entries in order
        ("127.0.0.1", ["10.1.1.1, 10.2.2.2"], TRUSTED, "10.1.1.1"),  # all trusted: the left-most
        ("127.0.0.1", ["1.2.3.4, junk"], TRUSTED, "127.0.0.1"),  # junk stops at the hop that wrote it
        ("127.0.0.1", [], TRUSTED, "127.0.0.1"),
        ("::1", ["2001:db8::5"], TRUSTED, "2001:db8::5"),
        ("::ffff:127.0.0.1", ["1.2.3.4"], TRUSTED, "1.2.3.4"),  # an IPv4-mapped peer is the IPv4 address
    ],
)
def test_the_client_address(peer: str, forwarded: list[str], trusted, expected: str) -> None:
    assert client_address(peer, forwarded, trusted) == expected


def test_a_bad_trusted_proxy_stops_start_up_naming_it(tmp_path) -> None:
    with pytest.raises(
        ValidationError, match=r"'10\.0\.0\.300' in PACKYARD_TRUSTED_PROXIES is not an IP address"
    ):
        Settings(data=tmp_path, trusted_proxies="127.0.0.1, 10.0.0.300")
    assert len(Settings(data=tmp_path, trusted_proxies="127.0.0.1,10.0.0.0/8").trusted_proxy_networks) == 2
