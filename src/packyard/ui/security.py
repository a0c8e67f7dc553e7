"""Who is looking at a page, and the protections every page and form gets (docs/security.md, "Web UI").

- Identity: a credential in the request (header or `/t/TOKEN/`) is judged exactly as the API judges it (a wrong
  one is a 401); otherwise the session cookie, if it opens a session, is the account's identity, which the
  permission function treats like a password (no token, so no scopes narrow it). The cookie is read only here:
  the API, conda, PyPI and CRAN routes never look at it, so a page on another site cannot make a browser act
  through them (no CSRF there by construction).
- CSRF: every form carries a synchronizer token, an HMAC under the settings' signing key of the session's hash
  (signed in) or of a random value in a `packyard_csrf` cookie (anonymous forms: sign-in, sign-up; a signed
  double-submit). A POST whose token does not match this request's session or cookie is a 403 before anything
  is read or changed.
- Headers: a strict Content-Security-Policy (no inline script or style anywhere in the UI), nosniff, a
  same-origin referrer policy (URLs may carry `/t/TOKEN/`), and no framing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from packyard.core import auth
from packyard.core.auth import Identity
from packyard.core.errors import Forbidden
from packyard.core.services import sessions
from packyard.web.deps import resolve_identity, services

SESSION_COOKIE = "packyard_session"
CSRF_COOKIE = "packyard_csrf"
CSRF_FIELD = "csrf_token"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass
class PageContext:
    """The caller of one page request: identity, how it signed in, and what its CSRF tokens are tied to."""

    identity: Identity
    session_key: str | None = None
    """sha256 of the session cookie's secret when the identity comes from a session."""
    anon_seed: str | None = None
    """The `packyard_csrf` cookie's value (or a new one to set) for anonymous forms."""
    set_anon_cookie: bool = False
    clear_session_cookie: bool = False

    @property
    def via_session(self) -> bool:
        return self.session_key is not None


def page_context(request: Request) -> PageContext:
    """Sync (may hash a password or write `last_seen_at`): call from a sync route or through a thread."""
    cached: PageContext | None = getattr(request.state, "page_context", None)
    if cached is not None:
        return cached
    svc = services(request)
    ctx: PageContext
    credential = auth.credential_from_request(request.headers, request.scope.get("packyard.path_token"))
    if credential is not None:
        ctx = PageContext(resolve_identity(request, svc))
    else:
        secret = request.cookies.get(SESSION_COOKIE, "")
        found = sessions.account_for(svc.db, secret) if secret else None
        if found is not None:
            account, key = found
            ctx = PageContext(auth.identity_for(svc.db, account), session_key=key)
        else:
            ctx = PageContext(auth.ANONYMOUS, clear_session_cookie=bool(secret))
    seed = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(seed) <= 100:
        ctx.anon_seed = seed
    request.state.page_context = ctx
    return ctx


async def page_context_async(request: Request) -> PageContext:
    return await run_in_threadpool(page_context, request)


def _mac(request: Request, kind: str, seed: str) -> str:
    key = services(request).settings.signing_key
    return hmac.new(key, f"packyard-csrf:{kind}:{seed}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, ctx: PageContext) -> str:
    """The token this page's forms carry; creates the anonymous seed (and its cookie) when there is none."""
    if ctx.session_key is not None:
        return _mac(request, "session", ctx.session_key)
    if ctx.anon_seed is None:
        ctx.anon_seed = secrets.token_urlsafe(24)
        ctx.set_anon_cookie = True
    return _mac(request, "anon", ctx.anon_seed)


def check_csrf(request: Request, ctx: PageContext, submitted: object) -> None:
    """403 unless the form's token is the one this request's session (or anonymous cookie) yields."""
    if not isinstance(submitted, str) or not submitted:
        raise Forbidden("the form has no CSRF token: reload the page and submit it again")
    if ctx.session_key is not None:
        expected = _mac(request, "session", ctx.session_key)
    elif ctx.anon_seed is not None:
        expected = _mac(request, "anon", ctx.anon_seed)
    else:
        raise Forbidden("the form's CSRF cookie is missing: allow cookies for this site and reload the page")
    if not hmac.compare_digest(expected, submitted):
        raise Forbidden("the form's CSRF token does not match your session: reload the page and try again")


def is_https(request: Request) -> bool:
    base = services(request).settings.base_url or ""
    return request.url.scheme == "https" or base.startswith("https://")


def finish(request: Request, response: Response, ctx: PageContext | None) -> Response:
    """Security headers and cookie upkeep for every UI response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "private, no-cache")
    response.headers["Vary"] = "Cookie, Authorization"
    if ctx is not None:
        secure = is_https(request)
        if ctx.set_anon_cookie and ctx.anon_seed:
            response.set_cookie(
                CSRF_COOKIE, ctx.anon_seed, httponly=True, samesite="lax", secure=secure, path="/"
            )
        if ctx.clear_session_cookie:
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    return response


def set_session_cookie(request: Request, response: Response, started: sessions.Started, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        started.secret,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
