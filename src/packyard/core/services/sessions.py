"""Browser sessions of the web UI: created at sign-in, found by the cookie, ended at sign-out.

The cookie carries 256 random bits; the database keeps only their sha256 (like tokens: that much randomness
makes a fast hash safe and the lookup one indexed query), so a copy of the database opens no session. A session
also records a fingerprint of the account's password hash when it began: changing the password (a new salted
hash) ends every session of the account at its next request, with nothing to find and delete. Disabled
accounts are refused from their row on every request.

The table's model lives here, beside the only code that writes it, until issue #11's restructuring settles
`core/models.py` (it is registered on the same `Base.metadata`, and migration 0009 creates it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, delete, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from packyard.core.db import Database
from packyard.core.models import Account, Base, utcnow

TOUCH_EVERY = dt.timedelta(minutes=5)
"""`last_seen_at` is written at most this often per session, so that page views stay reads."""


class WebSession(Base):
    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """sha256 (hex) of the cookie's secret; the secret itself is never stored."""
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    password_mark: Mapped[str] = mapped_column(String(64))
    """sha256 of the account's password hash at sign-in: a new password ends the session."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    remote_addr: Mapped[str] = mapped_column(String(100), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")

    account: Mapped[Account] = relationship(lazy="joined")


def session_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _password_mark(account: Account) -> str:
    return hashlib.sha256((account.password_hash or "").encode()).hexdigest()


@dataclass(frozen=True)
class Started:
    secret: str
    """Goes into the cookie, once; only its hash is kept."""
    expires_at: dt.datetime


def start(
    db: Database, account: Account, *, max_age_seconds: int, remote_addr: str = "", user_agent: str = ""
) -> Started:
    """A new session for an account whose password was just checked. Expired sessions are swept here."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + dt.timedelta(seconds=max_age_seconds)
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        session.add(
            WebSession(
                id_hash=session_hash(secret),
                account_id=account.id,
                password_mark=_password_mark(account),
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
                remote_addr=remote_addr[:100],
                user_agent=user_agent[:300],
            )
        )
    return Started(secret, expires)


def account_for(db: Database, secret: str) -> tuple[Account, str] | None:
    """The account a cookie's secret signs in, with the session's hash; None when it opens nothing (unknown,
    ended, expired, password changed since, account disabled)."""
    if not secret or len(secret) > 200:
        return None
    key = session_hash(secret)
    with db.read() as session:
        found = session.get(WebSession, key)
    if found is None:
        return None
    account = found.account
    now = utcnow()
    if found.expires_at <= now or account.is_disabled or found.password_mark != _password_mark(account):
        return None
    if now - found.last_seen_at > TOUCH_EVERY:
        with db.write() as session:
            session.execute(update(WebSession).where(WebSession.id_hash == key).values(last_seen_at=now))
    return account, key


def end(db: Database, secret: str) -> None:
    """Sign-out: the session row goes, so the cookie opens nothing any more, wherever a copy of it is."""
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.id_hash == session_hash(secret)))


def end_all(db: Database, account_id: int) -> int:
    """Every session of an account (for a future "sign out everywhere" and account removal)."""
    with db.write() as session:
        result = session.execute(delete(WebSession).where(WebSession.account_id == account_id))
    return int(getattr(result, "rowcount", 0) or 0)
