"""Users and organizations: one namespace of logins."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from packyard.core import permissions
from packyard.core.auth import Identity, hash_password, validate_login
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict
from packyard.core.models import Account, AccountKind


def create_user(
    db: Database, login: str, password: str, *, email: str = "", name: str = "", is_admin: bool = False
) -> Account:
    validate_login(login)
    if len(password) < 8:
        raise BadRequest("the password must be at least 8 characters long")
    password_hash = hash_password(password)  # slow on purpose: outside the write transaction
    with db.write() as session:
        if session.scalar(select(Account.id).where(Account.login_key == login.lower())) is not None:
            raise Conflict(f"the login {login!r} is already taken")
        account = Account(
            login=login,
            login_key=login.lower(),
            kind=AccountKind.USER,
            email=email,
            name=name,
            password_hash=password_hash,
            is_admin=is_admin,
        )
        session.add(account)
    return account


def sign_up(
    db: Database,
    identity: Identity,
    login: object,
    password: object,
    *,
    open_signup: bool,
    email: str = "",
    name: str = "",
) -> Account:
    """`POST /api/users`: anyone while sign-up is open; otherwise a site administrator's own credential.

    `login` and `password` come straight from the request body: who may sign up is answered before what."""
    if not open_signup:
        permissions.require_site_admin(
            identity,
            "sign-up is disabled on this server (ask an administrator for an account): creating users",
        )
    if not isinstance(login, str) or not isinstance(password, str):
        raise BadRequest("login and password are required")
    return create_user(db, login, password, email=email, name=name)


def ensure_admin(db: Database, login: str, password: str | None) -> str | None:
    """Create the first administrator if there is none; returns the password when it was generated here."""
    with db.read() as session:
        if session.scalar(select(Account.id).where(Account.is_admin.is_(True)).limit(1)) is not None:
            return None
    generated = not password
    password = password or secrets.token_urlsafe(12)
    create_user(db, login, password, is_admin=True, name="Administrator")
    return password if generated else None


def set_password(db: Database, login: str, password: str) -> None:
    if len(password) < 8:
        raise BadRequest("the password must be at least 8 characters long")
    with db.write() as session:
        account = session.scalar(select(Account).where(Account.login_key == login.lower()))
        if account is None:
            raise BadRequest(f"no user {login!r}")
        account.password_hash = hash_password(password)


def set_disabled(db: Database, login: str, disabled: bool) -> None:
    """A disabled user cannot log in, and every token of theirs answers 401."""
    with db.write() as session:
        account = session.scalar(select(Account).where(Account.login_key == login.lower()))
        if account is None or account.kind != AccountKind.USER:
            raise BadRequest(f"no user {login!r}")
        account.is_disabled = disabled


def list_accounts(db: Database, kind: str | None = None) -> list[Account]:
    with db.read() as session:
        query = select(Account).order_by(Account.login_key)
        if kind:
            query = query.where(Account.kind == kind)
        return list(session.scalars(query))
