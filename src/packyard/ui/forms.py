"""What every form of the UI shares: reading a small form, the typed confirmation of a dangerous action, asking
for the password again, and the one-line message shown on the page a form redirects to.

The management pages (docs/ui.md, "Managing") are all built the same way: a POST route reads the form with
`read_form` and checks its CSRF token (`ui.security.check_csrf`) before anything else, asks `core.permissions`
through the service it calls (the same function as the REST API), and answers with `done()`: a 303 to the page
to show next carrying a flash message. A dangerous action names the word to type (`confirmed`); when the form
came without it (a browser without JavaScript, or a forged POST), the route answers `confirm_page()`, which
re-posts the same fields plus the typed word, so the action works without scripts and never without the word.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from packyard.core.errors import BadRequest, Forbidden, TooLarge, TooManyRequests, Unauthorized
from packyard.ui.security import PageContext, finish, is_https
from packyard.web.deps import check_password, services

MAX_FORM_BYTES = 64 * 1024
FLASH_COOKIE = "packyard_flash"
CONFIRM_FIELD = "confirm"


async def read_form(request: Request, *, max_fields: int = 50) -> FormData:
    """A urlencoded or multipart form without files, refused (413) above 64 KiB before it is read."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise TooLarge("the form is too large")
    return await request.form(max_files=0, max_fields=max_fields, max_part_size=MAX_FORM_BYTES)


def field(form: FormData, name: str) -> str:
    """A text field, or "" when it is missing or is a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def fields(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (ticked checkboxes), text only, in the order sent."""
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def safe_next(value: str) -> str:
    """Only a path on this site (no scheme, no host, no `//` or `/\\` tricks) may be the place to return to."""
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# --- dangerous actions ----------------------------------------------------------------------------------------


def confirmed(form: FormData, expected: str) -> bool:
    """Whether the form carries the typed confirmation `expected` (an account or package name), compared
    case-sensitively after trimming spaces: a wrong word is refused, never taken as "close enough"."""
    typed = field(form, CONFIRM_FIELD).strip()
    if not typed:
        return False
    if typed != expected:
        raise BadRequest(f"type {expected!r} exactly to confirm; you typed {typed!r}")
    return True


async def reauthenticate(request: Request, ctx: PageContext, password: str) -> None:
    """Ask for the signed-in user's password again (deleting an account or organization, changing the password).

    Goes through the same check as sign-in, so failures count towards the throttle (core/throttle.py) and a
    throttled address stays throttled. A session is required: a token in the URL or a header cannot stand in for the password."""
    account = ctx.identity.account
    if account is None or not ctx.via_session:
        raise Forbidden("sign in with your password to do this")
    if not password:
        raise BadRequest("enter your password to confirm")
    svc = services(request)
    try:
        await run_in_threadpool(check_password, request, svc, account.login, password)
    except Unauthorized:
        raise BadRequest("that is not your password") from None
    except TooManyRequests:
        raise


@dataclass(frozen=True)
class Hidden:
    name: str
    value: str


def confirm_page(
    request: Request,
    ctx: PageContext,
    *,
    title: str,
    message: str,
    action: str,
    expected: str,
    form: FormData | None = None,
    keep: Iterable[str] = (),
    items: Sequence[str] = (),
    button: str = "Delete",
    back: str = "/",
    password: bool = False,
    status: int = 200,
) -> Response:
    """The page that asks for the typed word when a dangerous form came without it: it re-posts the fields named
    in `keep` (all their values) to `action`, plus the word (and the password when `password`)."""
    from packyard.ui.render import page  # render imports this module's flash reader

    hidden: list[Hidden] = []
    if form is not None:
        for name in keep:
            hidden.extend(Hidden(name, v) for v in fields(form, name))
    return page(
        request,
        ctx,
        "confirm.html",
        status,
        title=title,
        message=message,
        action=action,
        expected=expected,
        hidden=hidden,
        items=list(items),
        button=button,
        back=safe_next(back),
        ask_password=password,
    )


# --- the message after a redirect -----------------------------------------------------------------------------


def _flash_mac(request: Request, payload: str) -> str:
    key = services(request).settings.signing_key
    return hmac.new(key, f"packyard-flash:{payload}".encode(), hashlib.sha256).hexdigest()[:32]


def done(request: Request, ctx: PageContext, to: str, message: str = "", *, kind: str = "ok") -> Response:
    """303 to `to` (a path on this site) with a one-time message for the next page (a signed, short-lived cookie:
    nothing a link from elsewhere could put on the page)."""
    response = RedirectResponse(safe_next(to), status_code=303)
    if message:
        payload = json.dumps(
            [kind if kind in ("ok", "error") else "ok", message[:300]], separators=(",", ":")
        )
        value = payload.encode().hex() + "." + _flash_mac(request, payload)
        response.set_cookie(
            FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax", secure=is_https(request), path="/"
        )
    return finish(request, response, ctx)


def take_flash(request: Request) -> dict[str, Any] | None:
    """The message a form left for this page, if its signature holds (the caller clears the cookie)."""
    raw = request.cookies.get(FLASH_COOKIE, "")
    if not raw or "." not in raw or len(raw) > 1400:
        return None
    hex_payload, mac = raw.rsplit(".", 1)
    try:
        payload = bytes.fromhex(hex_payload).decode()
    except ValueError:
        return None
    if not hmac.compare_digest(_flash_mac(request, payload), mac):
        return None
    try:
        kind, message = json.loads(payload)
    except (ValueError, TypeError):
        return None
    return {"kind": str(kind), "message": str(message)}


def clear_flash(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(
            FLASH_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
        )
