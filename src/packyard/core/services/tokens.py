"""API tokens: created with a password or by a token (at most as powerful as itself), listed, removed.

Who may do which is `core/permissions.py`'s question (`require_mint`, `require_unrestricted`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from packyard.core import permissions, queries
from packyard.core.auth import Identity, new_token, token_hash
from packyard.core.db import Database
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import Account, Token, utcnow
from packyard.core.services.events import emit

MAX_TOKEN_AGE_SECONDS = 100 * 365 * 24 * 3600
"""A hundred years: longer is no policy, and far enough in the future it no longer fits in a date."""


@dataclass(frozen=True)
class TokenInfo:
    """A token as every edge shows it (REST, CLI, the web UI): plain data, never the secret nor its hash."""

    public_id: str
    name: str
    scopes: tuple[str, ...]
    org: str | None
    """The organization's login for an org token."""
    channel: str | None
    """The owner's login for a token limited to one channel (owner)."""
    remote_addr: str
    hostname: str
    expires_at: dt.datetime | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, token: Token) -> TokenInfo:
        return cls(
            public_id=token.public_id,
            name=token.name,
            scopes=tuple(token.scopes or ()),
            org=token.org.login if token.org else None,
            channel=token.limit_owner.login if token.limit_owner else None,
            remote_addr=token.remote_addr,
            hostname=token.hostname,
            expires_at=token.expires_at,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
        )


def _org_named(db: Database, org: str | None) -> Account | None:
    if org is None:
        return None
    with db.read() as session:
        return queries.owner(session, org)


def normalise_scopes(scopes: Sequence[str] | str | None) -> list[str]:
    """anaconda-client sends a list whose items may hold several space-separated scopes; none means full access."""
    if isinstance(scopes, str):
        scopes = [scopes]
    flat = sorted({s for item in scopes or () for s in str(item).split()})
    unknown = [s for s in flat if permissions.scope(s) is None]
    if unknown:
        raise BadRequest(f"unknown scope(s) {', '.join(unknown)}; see GET /api/scopes for the list")
    return flat or ["all"]


def create_token(
    db: Database,
    identity: Identity,
    *,
    name: str,
    scopes: Sequence[str] | str | None = None,
    max_age: int | None = None,
    org: str | None = None,
    channel: str | None = None,
    fail_if_exists: bool = False,
    remote_addr: str = "",
    hostname: str = "",
    note_url: str = "",
    strength: str = "strong",
) -> tuple[TokenInfo, str]:
    """Returns the token and its secret; the secret is shown once and only its hash is kept.

    `org` is the login of the organization the token is for (its admins may mint one). `channel` limits the token
    to one owner's packages and namespace (a user or an organization; for an organization token, only the
    organization itself): `core.permissions` then lets it act nowhere else."""
    account = identity.account
    if account is None:
        raise BadRequest("a token must belong to a user")
    wanted = normalise_scopes(scopes)
    org_account = _org_named(db, org)
    if org_account is not None:
        permissions.require(identity, permissions.Permission.ADMIN, org_account)
    limit = _org_named(db, channel) if channel else None
    if limit is not None and org_account is not None and limit.id != org_account.id:
        raise BadRequest(
            f"an organization token acts only inside {org_account.login}; it cannot be limited to {limit.login}"
        )
    if max_age is not None and not 0 < max_age <= MAX_TOKEN_AGE_SECONDS:
        raise BadRequest(f"max-age must be a positive number of seconds, at most {MAX_TOKEN_AGE_SECONDS}")
    expires_at = permissions.mint_expiry(
        identity, utcnow() + dt.timedelta(seconds=max_age) if max_age else None
    )
    permissions.require_mint(identity, wanted, org_account, expires_at, limit)
    name = (name or f"token-{secrets.token_hex(4)}")[:300]
    secret = new_token()
    with db.write() as session:
        existing = session.scalar(
            select(Token).where(Token.account_id == account.id, Token.name == name, _org_is(org_account))
        )
        if existing is not None:
            if fail_if_exists:
                raise BadRequest(f"a token named {name!r} already exists")
            session.delete(existing)
            session.flush()
        token = Token(
            public_id=secrets.token_hex(12),
            account_id=account.id,
            org_id=org_account.id if org_account else None,
            limit_owner_id=limit.id if limit is not None and org_account is None else None,
            name=name,
            token_hash=token_hash(secret),
            scopes=wanted,
            expires_at=expires_at,
            remote_addr=remote_addr[:100],
            hostname=(hostname or "")[:300],
            note_url=(note_url or "")[:500],
            strength=strength if strength in ("strong", "weak") else "strong",
        )
        session.add(token)
        session.flush()
        session.refresh(token)  # load the org for TokenInfo
        info = TokenInfo.of(token)
        _emit(session, "token.created", identity, info)
        return info, secret


def _emit(session: Session, kind: str, identity: Identity, info: TokenInfo) -> None:
    """A token event in the namespace it belongs to (the organization's for an org token): never the secret."""
    assert identity.account is not None
    emit(
        session,
        kind,
        identity,
        info.org or identity.account.login,
        token=info.name,
        token_id=info.public_id,
        scopes=list(info.scopes),
        channel=info.channel,
    )


def _org_is(org: Account | None) -> ColumnElement[bool]:
    return Token.org_id.is_(None) if org is None else Token.org_id == org.id


def list_tokens(db: Database, identity: Identity) -> list[TokenInfo]:
    permissions.require_unrestricted(identity, "listing your tokens")
    assert identity.account is not None
    with db.read() as session:
        rows = session.scalars(
            select(Token).where(Token.account_id == identity.account.id).order_by(Token.created_at)
        )
        return [TokenInfo.of(t) for t in rows]


def remove_token(
    db: Database, identity: Identity, *, name: str | None = None, org: str | None = None
) -> None:
    """Remove a token of the caller's by name (or by public id), or the token used for this request.

    Any token may remove itself (`anaconda logout`); removing others is token management. `org` is the login of
    the organization whose token (of the caller's) is meant."""
    assert identity.account is not None
    if name is not None:
        permissions.require_unrestricted(identity, "removing tokens")
    org_account = _org_named(db, org)
    with db.write() as session:
        if name is None:
            if identity.token is None:
                raise BadRequest("this request was not made with a token; name the token to remove")
            own = session.get(Token, identity.token.id)
            if own is not None:
                _emit(session, "token.removed", identity, TokenInfo.of(own))
                session.delete(own)
            return
        query = select(Token).where(
            Token.account_id == identity.account.id,
            (Token.name == name) | (Token.public_id == name),
            _org_is(org_account),
        )
        found = session.scalars(query).all()
        if not found:
            raise NotFound(f"no token named {name!r}")
        for token in found:
            _emit(session, "token.removed", identity, TokenInfo.of(token))
            session.delete(token)


def remove_all_tokens(session: Session, identity: Identity) -> int:
    """Every token of the caller's (personal and organization ones), in the caller's transaction: changing the
    password with "revoke all tokens" ticked. One event says how many went."""
    assert identity.account is not None
    found = session.scalars(select(Token).where(Token.account_id == identity.account.id)).all()
    for token in found:
        session.delete(token)
    if found:
        emit(session, "token.removed_all", identity, identity.account.login, count=len(found))
    return len(found)
