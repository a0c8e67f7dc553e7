"""Error pages for browsers; every other client keeps the JSON (or protocol) error it gets today.

`install_error_pages` wraps the app's exception handlers (web/errors.py) rather than replacing them: the JSON
response is built first, and only a request that asks for HTML first (a browser's `Accept: text/html,...`;
pip, conda, curl and httpx never do) for a path outside the protocol prefixes gets the page instead, with the
same status code and message (and the same `WWW-Authenticate` on a 401).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from packyard.core import auth
from packyard.core.errors import PackyardError
from packyard.ui.menu import account_menu
from packyard.ui.render import env
from packyard.ui.security import PageContext, csrf_token, finish, page_context

Handler = Callable[[Request, Exception], Awaitable[Response]]
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]
"""What FastAPI keeps in `app.exception_handlers` (ours are all async)."""

PROTOCOL_PREFIXES = ("/api", "/conda", "/pypi", "/cran", "/notebooks", "/envs", "/RPC2", "/static")

TITLES = {
    400: "That request did not work",
    401: "Sign in to see this",
    403: "You may not do that",
    404: "Nothing here",
    405: "Not like that",
    413: "Too large",
    429: "Too many attempts",
    500: "Something broke on our side",
}


def wants_html(request: Request) -> bool:
    path = request.url.path
    if any(path == prefix or path.startswith(prefix + "/") for prefix in PROTOCOL_PREFIXES):
        return False
    first = request.headers.get("accept", "").split(",")[0].split(";")[0].strip().lower()
    return first in ("text/html", "application/xhtml+xml")


def _context(request: Request) -> PageContext:
    try:
        return page_context(request)
    except PackyardError:  # the error may be about the credential itself: show the page as to anyone
        ctx = PageContext(auth.ANONYMOUS)
        request.state.page_context = ctx
        return ctx


def _message(exc: Exception, status: int) -> str:
    if status >= 500:
        return "The server log has the details."
    if isinstance(exc, PackyardError):
        return exc.message
    if isinstance(exc, StarletteHTTPException) and isinstance(exc.detail, str):
        return "This page does not exist." if exc.detail == "Not Found" else exc.detail
    return "The request was not valid."


async def error_page(request: Request, exc: Exception, status: int, headers: dict[str, str]) -> Response:
    ctx = await run_in_threadpool(_context, request)
    await run_in_threadpool(account_menu, request)  # the header's database read, off the event loop
    body = env.get_template("error.html").render(
        request=request,
        me=ctx.identity.account,
        via_session=ctx.via_session,
        csrf_token=lambda: csrf_token(request, ctx),  # lazy: only pages with a form set the cookie
        path=request.url.path,
        signup_open=False,
        status=status,
        title=TITLES.get(status, "That did not work"),
        message=_message(exc, status),
    )
    response = Response(body, status_code=status, media_type="text/html", headers=headers)
    return finish(request, response, ctx)


def _wrap(original: AnyHandler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        answer = original(request, exc)
        response = await answer if inspect.isawaitable(answer) else answer
        if not wants_html(request):
            return response
        keep = {
            k: v
            for k, v in response.headers.items()
            if k.lower() in ("www-authenticate", "allow", "retry-after")
        }
        return await error_page(request, exc, response.status_code, keep)

    return handler


def install_error_pages(app: FastAPI) -> None:
    for exc_class in (PackyardError, RequestValidationError, StarletteHTTPException, Exception):
        original = app.exception_handlers.get(exc_class)
        if original is not None:
            app.exception_handlers[exc_class] = _wrap(original)
