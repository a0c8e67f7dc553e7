"""Users and organizations: one namespace of logins."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity, hash_password, validate_login
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict
from packyard.core.models import OWNERS_GROUP, Account, AccountKind, Group, GroupMember, Package
from packyard.core.services.events import emit


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
    try:
        create_user(db, login, password, is_admin=True, name="Administrator")
    except Conflict:
        # Several nodes starting at once on a new database: another one created the administrator first.
        with db.read() as session:
            if session.scalar(select(Account.id).where(Account.is_admin.is_(True)).limit(1)) is not None:
                return None
        raise
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


# --- self-service: the profile, the password, deleting the account (the settings pages and REST) ---------------

PROFILE_FIELDS: dict[str, int] = {
    "name": 200,
    "email": 200,
    "company": 200,
    "location": 200,
    "url": 500,
    "description": 10_000,
}
"""The profile fields of an account, a user's (`PATCH /api/user`, `/settings`) or an organization's
(`PATCH /api/orgs/ORG`, its Profile tab), and the most characters each may hold."""

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _profile_error(field: str, value: str) -> str | None:
    """What is wrong with one profile value, or None; pure, so the page can show it beside the field."""
    limit = PROFILE_FIELDS[field]
    if len(value) > limit:
        return f"too long: at most {limit} characters"
    if field == "email" and value and not _EMAIL.fullmatch(value):
        return "not an e-mail address (name@example.org)"
    if field == "url" and value and not re.match(r"https?://[^\s/]+", value):
        return "not a web address: start it with https:// or http://"
    if field != "description" and any(c in value for c in "\r\n\t\0"):
        return "one line of text"
    return None


def profile_errors(changes: Mapping[str, object]) -> dict[str, str]:
    """Every field of `changes` whose value is not acceptable, with the reason (unknown fields included)."""
    errors: dict[str, str] = {}
    for name, value in changes.items():
        if name not in PROFILE_FIELDS:
            errors[name] = f"unknown profile fields: not one of {', '.join(PROFILE_FIELDS)}"
            continue
        if not isinstance(value, str):
            errors[name] = "must be text"
            continue
        problem = _profile_error(name, value)
        if problem:
            errors[name] = problem
    return errors


def clean_profile(changes: Mapping[str, object]) -> dict[str, str]:
    """The profile fields of `changes`, trimmed and checked, or a 400 naming every field that is wrong: the one
    check for users' and organizations' profiles, so the pages and the API say the same for the same input."""
    cleaned: dict[str, object] = {
        k: ("" if v is None else v.strip() if isinstance(v, str) and k != "description" else v)
        for k, v in changes.items()
    }
    errors = profile_errors(cleaned)
    if errors:
        raise BadRequest("; ".join(f"{k}: {v}" for k, v in errors.items()))
    return {k: str(v) for k, v in cleaned.items()}


def _self(identity: Identity, action: str) -> Account:
    permissions.require_unrestricted(identity, action)
    account = identity.account
    assert account is not None
    if account.kind != AccountKind.USER:
        raise BadRequest(f"{account.login} is an organization: {action} is for users")
    return account


def update_profile(db: Database, identity: Identity, changes: Mapping[str, str]) -> Account:
    """Change the signed-in user's own profile (only the fields given); one `user.updated` event names the
    fields that changed (not their values: the e-mail address is not public)."""
    account = _self(identity, "editing your profile")
    cleaned = clean_profile(changes)
    with db.write() as session:
        row = session.get_one(Account, account.id)
        changed = sorted(k for k, v in cleaned.items() if getattr(row, k) != v)
        for name in changed:
            setattr(row, name, cleaned[name])
        if changed:
            emit(session, "user.updated", identity, row.login, fields=changed)
        session.flush()
        session.expunge(row)
        return row


def change_password(
    db: Database, identity: Identity, new_password: str, *, revoke_tokens: bool = False
) -> int:
    """Set the signed-in user's new password, end every browser session of theirs and, when asked, remove every
    token of theirs; returns how many tokens went. The caller has just checked the *current* password (the page
    through `ui.forms.reauthenticate`, REST through `auth.authenticate_password`: the same check as sign-in,
    with its throttle). The session the change was made from is started again by the page."""
    account = _self(identity, "changing your password")
    if len(new_password) < 8:
        raise BadRequest("the new password must be at least 8 characters long")
    if len(new_password) > 1000:
        raise BadRequest("the new password must be at most 1000 characters long")
    password_hash = hash_password(new_password)  # slow on purpose: outside the write transaction
    from packyard.core.services import sessions, tokens

    removed = 0
    with db.write() as session:
        row = session.get_one(Account, account.id)
        row.password_hash = password_hash
        if revoke_tokens:
            removed = tokens.remove_all_tokens(session, identity)
        emit(session, "user.password_changed", identity, row.login, tokens_revoked=removed)
    sessions.end_all(db, account.id)
    return removed


def sole_owner_of(session: Session, account_id: int) -> list[str]:
    """The organizations whose only owner is this account (they would be left without one)."""
    owners_groups = select(Group.id, Group.org_id).where(Group.name == OWNERS_GROUP).subquery()
    mine = (
        select(owners_groups.c.org_id)
        .join(GroupMember, GroupMember.group_id == owners_groups.c.id)
        .where(GroupMember.account_id == account_id)
    )
    counts = (
        select(Account.login, func.count(GroupMember.account_id))
        .join(Group, (Group.org_id == Account.id) & (Group.name == OWNERS_GROUP))
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Account.id.in_(mine))
        .group_by(Account.login)
    )
    return sorted(login for login, n in session.execute(counts) if n <= 1)


def deletion_blockers(db: Database, identity: Identity) -> list[str]:
    """Why the signed-in user's account may not be deleted now (empty when it may): the page shows these
    instead of the delete form, and `delete_account` refuses with them."""
    account = identity.account
    if account is None:
        return []
    reasons: list[str] = []
    with db.read() as session:
        for org in sole_owner_of(session, account.id):
            reasons.append(
                f"you are the only owner of the organization {org}: add another owner or delete it first"
            )
        if account.is_admin:
            admins = session.scalar(
                select(func.count())
                .select_from(Account)
                .where(Account.is_admin.is_(True), Account.is_disabled.is_(False))
            )
            if (admins or 0) <= 1:
                reasons.append(
                    "you are the only site administrator: make another user an administrator first"
                )
    return reasons


def delete_account(db: Database, identity: Identity) -> int:
    """Delete the signed-in user's own account with every package it owns (as anaconda.org's "Delete account"
    and `anaconda remove USER` do), its tokens, sessions, group memberships and collaborations; returns how many
    packages went. Refused (409) while the user is an organization's only owner or the only site administrator.
    The caller has just checked the password and the typed login."""
    account = _self(identity, "deleting your account")
    blockers = deletion_blockers(db, identity)
    if blockers:
        raise Conflict("; ".join(blockers))
    from packyard.core.services import packages, sessions  # packages -> orgs -> accounts: imported when used

    with db.write() as session:
        pkgs = list(session.scalars(select(Package).where(Package.owner_id == account.id)))
        for pkg in pkgs:
            packages.remove_package_in(session, identity, pkg)
        emit(session, "user.removed", identity, account.login, packages=len(pkgs))
        session.delete(session.get_one(Account, account.id))
    sessions.end_all(db, account.id)
    return len(pkgs)
