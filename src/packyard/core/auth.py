"""Turn any credential a client can send into an `Identity`.

Accepted, in this order: a `/t/TOKEN/` path prefix (moved into the ASGI scope by `packyard.middleware`),
`Authorization: token X`, `Authorization: Bearer X`, `X-Auth: X`, HTTP Basic `X:x-auth-token`, `__token__:X`
or `user:password`. Credentials that are present but wrong are an error (401), never silently anonymous.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from packyard.core import formats as registry
from packyard.core import throttle
from packyard.core.db import Database
from packyard.core.errors import BadRequest, TooManyRequests, Unauthorized
from packyard.core.models import (
    OWNERS_GROUP,
    Account,
    Collaborator,
    Group,
    GroupMember,
    GroupPackage,
    GroupPerm,
    LoginFailure,
    Token,
    utcnow,
)
from packyard.core.throttle import ThrottlePolicy

_hasher = PasswordHasher()
TOKEN_RE = re.compile(r"[A-Za-z0-9-]{16,200}")


@dataclass(frozen=True)
class Grants:
    """What an account has been given in other namespaces: read once per request, judged by permissions.py."""

    owner_of: frozenset[int] = frozenset()
    """Organizations (account ids) whose owners group has this account."""
    writer_in: frozenset[int] = frozenset()
    """Organizations where a write or admin group has this account: it may create packages there."""
    member_of: frozenset[int] = frozenset()
    """Organizations where any group has this account."""
    packages: Mapping[int, str] = field(default_factory=dict)
    """Package id -> the best permission (read/write/admin) of the groups that list it and have this account."""
    collaborations: frozenset[int] = frozenset()
    """Packages this account collaborates on with write access."""
    read_collaborations: frozenset[int] = frozenset()
    """Packages this account collaborates on with read access only."""


@dataclass(frozen=True)
class Identity:
    """Who is asking. `token` is set when the credential was a token; its scopes then bound what is allowed."""

    account: Account | None = None
    token: Token | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    grants: Grants = field(default_factory=Grants)

    @property
    def is_anonymous(self) -> bool:
        return self.account is None

    @property
    def login(self) -> str | None:
        return self.account.login if self.account else None


ANONYMOUS = Identity()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(account: Account, password: str) -> bool:
    if not account.password_hash:
        return False
    try:
        return _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordCache:
    """Successful password checks of this process, remembered for a short time.

    pip, uv and twine send the password with every request; argon2 costs ~150 ms and 64 MiB each time, which is
    what makes guessing slow and has no other purpose. So a success is remembered, keyed by an HMAC (random key,
    made here, never stored or shared) of the account id, the account's *current* password hash and the password.
    A lookup needs the account row read in the same request, so changing the password (a new salted hash) makes
    every entry of the old one unreachable at once, on every node; disabling is checked on the row each time.
    Failures are never remembered: a wrong password always pays argon2 and counts toward the rate limit. Nothing
    here is usable offline without the in-memory key, and no plaintext is kept.
    """

    def __init__(self, size: int, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()  # digest -> expiry (clock), oldest use first
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.ttl_seconds > 0

    def __len__(self) -> int:
        return len(self._entries)

    def _digest(self, account: Account, password: str) -> bytes:
        # The password goes last, so a NUL inside it cannot make two different triples collide.
        message = b"\0".join(
            (
                str(account.id).encode(),
                (account.password_hash or "").encode(),
                password.encode("utf-8", "surrogatepass"),
            )
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def hit(self, account: Account, password: str) -> bool:
        """Whether this password was verified against the account's current hash within the TTL."""
        if not self.enabled or not account.password_hash:
            return False
        digest = self._digest(account, password)
        with self._lock:
            expires = self._entries.get(digest)
            if expires is None:
                return False
            if expires <= self._clock():
                del self._entries[digest]
                return False
            self._entries.move_to_end(digest)
            return True

    def remember(self, account: Account, password: str) -> None:
        """Record a success; the least recently used entries go beyond `size`. The TTL runs from verification."""
        if not self.enabled or not account.password_hash:
            return
        digest = self._digest(account, password)
        with self._lock:
            self._entries[digest] = self._clock() + self.ttl_seconds
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def new_token() -> str:
    """A token conda accepts in `/t/TOKEN/` URLs: letters, digits and hyphens only."""
    return f"py-{secrets.token_hex(12)}-{secrets.token_hex(12)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    kind: str  # "token" or "password"
    secret: str
    login: str | None = None


def credential_from_request(headers: Mapping[str, str], path_token: str | None) -> Credential | None:
    """Pick the credential out of a request; pure, so every protocol parses headers the same way."""
    if path_token:
        return Credential("token", path_token)
    auth = headers.get("authorization", "").strip()
    scheme, _, value = auth.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme in ("token", "bearer") and value:
        return Credential("token", value)
    if scheme == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized(
                "the Basic authorization header is not valid base64 of user:password"
            ) from None
        if not sep:
            raise Unauthorized("the Basic authorization header must be user:password")
        if password == "x-auth-token":  # noqa: S105 - a marker, not a password
            return Credential("token", user)
        if user == "__token__":
            return Credential("token", password)
        return Credential("password", password, login=user)
    if headers.get("x-auth"):
        return Credential("token", headers["x-auth"].strip())
    return None


def authenticate_token(db: Database, secret: str) -> Identity:
    with db.read() as session:
        token = session.scalar(select(Token).where(Token.token_hash == token_hash(secret)))
    if token is None:
        raise Unauthorized("the token is not valid (it may have been removed)")
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("the token has expired")
    if token.account.is_disabled:
        raise Unauthorized("the account that owns this token is disabled")
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        # Written at most once a minute per token, so that reads stay reads.
        with db.write() as session:
            session.execute(update(Token).where(Token.id == token.id).values(last_used_at=now))
    with db.read() as session:
        grants = load_grants(session, token.account_id)
    return Identity(
        account=token.account, token=token, scopes=frozenset(token.scopes or ["all"]), grants=grants
    )


def find_account(session: Session, login: str) -> Account | None:
    return session.scalar(select(Account).where(Account.login_key == login.lower()))


def authenticate_password(
    db: Database,
    login: str,
    password: str,
    *,
    remote_addr: str,
    policy: ThrottlePolicy,
    cache: PasswordCache | None = None,
) -> Identity:
    """Check a password, unless this address must first wait (core/throttle.py: per login and address, and per
    address); a failure is recorded with the address, a success forgets this address's failures for the login.

    The throttle and the account (its hash, kind, disabled flag) are read from the database on every call, also
    when `cache` remembers this password: only argon2 is skipped, never a check of current state.
    """
    key = login.lower()[:100]  # the column's width; a longer login names no account (validate_login)
    source = throttle.throttle_source(remote_addr)
    now = utcnow()
    with db.read() as session:
        verdict = throttle.check(session, key, source, now, policy)
        account = find_account(session, login)
    wait = verdict.wait
    if wait > 0:
        raise TooManyRequests(
            f"too many failed sign-ins from your address; try again in {wait} second{'s' if wait != 1 else ''}",
            retry_after=wait,
        )
    remembered = account is not None and cache is not None and cache.hit(account, password)
    if account is None or account.kind != "user" or not (remembered or verify_password(account, password)):
        since = now - dt.timedelta(seconds=policy.window_seconds)
        with db.write() as session:
            session.add(LoginFailure(login_key=key, remote_addr=source))
            session.execute(delete(LoginFailure).where(LoginFailure.at < since))
        raise Unauthorized("invalid username or password")
    if account.is_disabled:
        raise Unauthorized("this account is disabled")
    if cache is not None and not remembered:
        cache.remember(account, password)
    if verdict.pair_failures:  # a success stays a read when there is nothing to forget
        _forget_failures(db, key, source)
    return identity_for(db, account)


def _forget_failures(db: Database, key: str, remote_addr: str) -> None:
    with db.write() as session:
        session.execute(
            delete(LoginFailure).where(LoginFailure.login_key == key, LoginFailure.remote_addr == remote_addr)
        )


def identity_for(db: Database, account: Account) -> Identity:
    """The identity of a signed-in account (password, session, or the CLI acting as it)."""
    with db.read() as session:
        grants = load_grants(session, account.id)
    return Identity(account=account, scopes=frozenset({"all"}), grants=grants)


# Keyed by str: the column holds the GroupPerm's value (a StrEnum member equals and hashes as its value).
_RANK: dict[str, int] = {GroupPerm.READ: 1, GroupPerm.WRITE: 2, GroupPerm.ADMIN: 3}


def load_grants(session: Session, account_id: int) -> Grants:
    """Two indexed queries: the account's groups (with their package lists) and its collaborations."""
    owner_of: set[int] = set()
    writer_in: set[int] = set()
    member_of: set[int] = set()
    packages: dict[int, str] = {}
    rows = session.execute(
        select(Group.org_id, Group.name, Group.perms, GroupPackage.package_id)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .join(GroupPackage, GroupPackage.group_id == Group.id, isouter=True)
        .where(GroupMember.account_id == account_id)
    )
    for org_id, name, perms, package_id in rows:
        member_of.add(org_id)
        if name == OWNERS_GROUP:
            owner_of.add(org_id)
        if perms in (GroupPerm.WRITE, GroupPerm.ADMIN):
            writer_in.add(org_id)
        if package_id is not None and _RANK[perms] > _RANK.get(packages.get(package_id, ""), 0):
            packages[package_id] = perms
    collaborations: set[int] = set()
    reading: set[int] = set()
    for package_id, permission in session.execute(
        select(Collaborator.package_id, Collaborator.permission).where(Collaborator.account_id == account_id)
    ):
        (reading if permission == "read" else collaborations).add(package_id)
    return Grants(
        owner_of=frozenset(owner_of),
        writer_in=frozenset(writer_in | owner_of),
        member_of=frozenset(member_of),
        packages=packages,
        collaborations=frozenset(collaborations),
        read_collaborations=frozenset(reading),
    )


def validate_login(login: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", login) or login.lower() in reserved_logins():
        raise BadRequest(
            f"{login!r} is not a valid login: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return login


RESERVED_LOGINS = frozenset(
    {
        "api",
        "t",
        "static",
        "login",
        "logout",
        "settings",
        "download",
        "search",
        "docs",
        "health",
        "user",
        "users",
        "orgs",
        "label",
        "signup",
        "notifications",  # the web UI's notifications page
        "dashboard",  # the web UI's /dashboard/ORG
        "organizations",  # the web UI's list of your organizations (ui/org_settings.py)
        "organization",  # the web UI's /organization/ORG/dashboard and /organization/ORG/settings/...
        "upload",  # the web UI's upload form
        "site-admin",  # the web UI's site administration
    }
)
"""Logins that would collide with the app's own URLs; each format adds its URL prefixes and reserved names."""


def reserved_logins() -> frozenset[str]:
    return RESERVED_LOGINS | registry.reserved_names()
