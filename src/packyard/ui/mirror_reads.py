"""What the pages show of an owner's mirrors (core/mirrors): the banner of the owner page, the settings tab.

Reads only, through core/mirrors/service.py (`of_owner`), and every "may this caller see it" asked of
core/permissions.py: a private mirror's banner is shown to those who may use it (`can_use_mirror`, as its index
is), and the upstream URL's credentials only to the organization's administrators (as `GET /api/mirrors/NAME`).
Kept apart from ui/mirrors.py (the forms) so that the owner page (ui/catalog.py) can import it without the routes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.errors import BadRequest
from packyard.core.mirrors import service as mirrors
from packyard.core.mirrors import upstream as mirror_http
from packyard.core.models import Account
from packyard.core.permissions import Permission
from packyard.ui.install_lines import Recipe, mirror_instructions

FORMAT_NAMES = {"pypi": "PyPI", "conda": "conda", "cran": "CRAN"}


def mirrors_of(session: Session, owner: Account) -> list[mirrors.MirrorInfo]:
    """Every mirror of `owner`, one per format it mirrors (no permission asked: callers decide what to show)."""
    found = (mirrors.of_owner(session, owner.id, fmt) for fmt in mirrors.MIRROR_FORMATS)
    return [info for info in found if info is not None]


def supported_formats() -> list[tuple[str, bool]]:
    """(format, whether this server can mirror it yet) for the "New mirror" form, as the service decides it."""
    out = []
    for fmt in mirrors.MIRROR_FORMATS:
        try:
            mirrors.validate_format(fmt)
        except BadRequest:
            out.append((fmt, False))
        else:
            out.append((fmt, True))
    return out


@dataclass(frozen=True)
class Banner:
    """One mirror as the owner page shows it: "Mirror of UPSTREAM (pypi)", its rules, state and index URLs."""

    info: mirrors.MirrorInfo
    upstream: str
    """Redacted unless the caller administers the mirror."""
    admin: bool
    recipes: list[Recipe]

    @property
    def format_name(self) -> str:
        return FORMAT_NAMES.get(self.info.format, self.info.format)

    @property
    def ttl_text(self) -> str:
        return ttl_text(self.info.ttl)

    @property
    def last_ok(self) -> str:
        return when(self.info.last_ok_at)


def ttl_text(seconds: int) -> str:
    """600 -> "10 minutes"; the exact seconds stay in the settings form."""
    if seconds == 0:
        return "none: upstream is asked at every request"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def banners(session: Session, identity: Identity, owner: Account, base: str) -> list[Banner]:
    """The mirrors of `owner` this caller may use, for the owner page (none for a first-party owner)."""
    out = []
    admin = permissions.can(identity, Permission.ADMIN, owner)
    for info in mirrors_of(session, owner):
        if not permissions.can_use_mirror(identity, owner, public=info.public, via="web"):
            continue
        out.append(
            Banner(
                info,
                info.upstream if admin else mirror_http.redacted(info.upstream),
                admin,
                mirror_instructions(base, owner.login, info.format, public=info.public),
            )
        )
    return out


def when(value: dt.datetime | None) -> str:
    """A UTC time for the banner's "last fetched" line."""
    if value is None:
        return "never"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
