"""Sign-in throttling: failed passwords slow down the address that sends them, never the login for everyone.

Two counters, both read from `login_failures` (the database, so every worker and node agrees):

- per (login, client address): after `allowed` failures within the window, each further attempt must wait
  `base * 2**(failures - allowed)` seconds (capped at `max`) after the last failure;
- per client address, whatever the login: the same with `per_address_allowed`, so one address cannot try a
  password against many logins.

A correct password from an address that has not failed is never held back by what other addresses did: that is
what keeps an attacker from locking the real user (or the administrator) out. `packyard user unlock LOGIN` and the
admin page forget the failures of a login from every address.

Failures are counted per *source*, `throttle_source(address)`: an IPv4 address as it is, an IPv6 address by its
/64 network, since one IPv6 subscriber (a home line, a cloud instance) is routinely given a whole /64 and could
otherwise try a fresh address for every password.

The client address is the socket's peer, or, when that peer is a trusted proxy (`PACKYARD_TRUSTED_PROXIES`), the
right-most address of `X-Forwarded-For` that is not itself a trusted proxy: the left part of that header is
whatever the client wrote and is never believed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core.models import LoginFailure

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ThrottlePolicy:
    """The settings of `config.Settings` that shape the delays (see docs/security.md, "Sign-in throttling")."""

    allowed: int = 10
    """Failures per (login, address) within the window before delays start."""
    per_address_allowed: int = 100
    """Failures per address (any login) within the window before delays start."""
    window_seconds: int = 3600
    """How long a failure counts."""
    base_seconds: float = 5
    """The first delay; each further failure doubles it."""
    max_seconds: float = 900
    """The longest delay."""


def delay_seconds(failures: int, allowed: int, policy: ThrottlePolicy) -> float:
    """How long after the last failure the next attempt must wait: 0 below `allowed`, then doubling, capped."""
    if failures < allowed:
        return 0.0
    exponent = min(failures - allowed, 62)  # 2**62 * base is past any cap; keeps the float finite
    return float(min(policy.base_seconds * 2**exponent, policy.max_seconds))


def _count(session: Session, since: dt.datetime, *where: object) -> tuple[int, dt.datetime | None]:
    row = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.at >= since, *where)  # type: ignore[arg-type]
    ).one()
    return int(row[0] or 0), row[1]


@dataclass(frozen=True)
class Verdict:
    wait: int
    """Seconds to wait before a password may be tried (Retry-After); 0: now."""
    pair_failures: int
    """Failures of this login from this address within the window (a success forgets them)."""


def check(
    session: Session, login_key: str, address: str, now: dt.datetime, policy: ThrottlePolicy
) -> Verdict:
    """Two indexed aggregate reads: this login from this address, and this address for any login."""
    since = now - dt.timedelta(seconds=policy.window_seconds)
    wait = 0.0
    counts = []
    for allowed, where in (
        (policy.allowed, (LoginFailure.login_key == login_key, LoginFailure.remote_addr == address)),
        (policy.per_address_allowed, (LoginFailure.remote_addr == address,)),
    ):
        failures, last = _count(session, since, *where)
        counts.append(failures)
        delay = delay_seconds(failures, allowed, policy)
        if delay and last is not None:
            if last.tzinfo is None:  # SQLite hands back naive UTC
                last = last.replace(tzinfo=dt.UTC)
            wait = max(wait, (last + dt.timedelta(seconds=delay) - now).total_seconds())
    return Verdict(max(0, int(-(-wait // 1))), counts[0])  # whole seconds, rounded up, as Retry-After wants


def retry_after(
    session: Session, login_key: str, address: str, now: dt.datetime, policy: ThrottlePolicy
) -> int:
    """Seconds the caller at `address` must wait before trying a password for `login_key`; 0 when it may now."""
    return check(session, login_key, address, now, policy).wait


IPV6_SOURCE_PREFIX = 64
"""One IPv6 source is a /64: the smallest block ISPs and clouds hand to one subscriber (RFC 6177, RFC 7421)."""


def throttle_source(address: str) -> str:
    """What failures are counted against: an IPv4 address itself (also written IPv4-mapped, `::ffff:a.b.c.d`),
    an IPv6 address's /64 (`2001:db8:1:2::/64`), anything else (a test client's "testclient") as it is. At most
    100 characters, the column's width."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_SOURCE_PREFIX), strict=False))
    return str(ip)


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDRs ("10.0.0.1", "10.0.0.0/8", "::1") -> networks; a bad entry is a ValueError naming it."""
    out = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} in PACKYARD_TRUSTED_PROXIES is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1)"
            ) from None
    return tuple(out)


def split_networks(setting: str) -> tuple[Network, ...]:
    """The setting's text: entries separated by commas or spaces."""
    return parse_networks(setting.replace(",", " ").split())


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in trusted)


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The address a request came from: `peer` unless it is a trusted proxy; then, walking `X-Forwarded-For`
    (every header's entries, in order) from the right, the first entry that is not a trusted proxy.

    An entry that is not an IP address stops the walk at the hop that wrote it (the last trusted one): a proxy
    we trust appends real addresses, so junk there came from the client side of it.
    """
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    current = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return current
        current = hop
        if not _trusted(hop, trusted):
            return hop
    return current
