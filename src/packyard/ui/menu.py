"""What the account menu in every page header needs: who you are, your organizations, your unread count.

`account_menu(request)` is a template global, called by `_account_menu.html` only when someone is signed in, so
anonymous pages cost nothing. It reads the database once per request (cached on `request.state`); routes that
render from the event loop (the error pages) call it through a thread first, so that read never blocks the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select

from packyard.core import permissions
from packyard.core.models import Account
from packyard.core.services import notifications
from packyard.ui.security import PageContext
from packyard.web.deps import services


@dataclass(frozen=True)
class AccountMenu:
    login: str
    orgs: list[str]
    """The organizations the account may switch to, by login."""
    unread: int | None
    """Unread notifications, or None when this credential may not read them (an organization's token)."""
    current: str
    """Whose dashboard or settings the page shows (`/dashboard/ORG`, `/organization/ORG/...`), else the account's
    own login."""

    @property
    def unread_text(self) -> str:
        if not self.unread:
            return ""
        return f"{notifications.UNREAD_CAP}+" if self.unread > notifications.UNREAD_CAP else str(self.unread)


def _current(request: Request, login: str, orgs: list[str]) -> str:
    parts = request.url.path.split("/")
    if len(parts) >= 3 and parts[1] in ("dashboard", "organization"):
        match = next((o for o in orgs if o.lower() == parts[2].lower()), None)
        if match is not None:
            return match
    return login


def account_menu(request: Request) -> AccountMenu | None:
    cached: AccountMenu | None = getattr(request.state, "account_menu", None)
    if cached is not None:
        return cached
    ctx: PageContext | None = getattr(request.state, "page_context", None)
    account = ctx.identity.account if ctx is not None else None
    if ctx is None or account is None:
        return None
    ident = ctx.identity
    with services(request).db.read() as session:
        ids = ident.grants.member_of
        orgs = []
        if ids:
            orgs = [
                org
                for org in session.scalars(
                    select(Account).where(Account.id.in_(ids)).order_by(Account.login_key)
                )
                if permissions.can_see_namespace_activity(ident, org)
            ]
        unread = (
            notifications.unread_count(session, ident)
            if permissions.can_see_notifications(ident, account)
            else None
        )
    logins = [o.login for o in orgs]
    menu = AccountMenu(account.login, logins, unread, _current(request, account.login, logins))
    request.state.account_menu = menu
    return menu
