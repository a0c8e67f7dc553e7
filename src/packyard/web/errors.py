"""Error shaping: how a `PackyardError` (or a framework error) reaches a client of the JSON API.

Protocols with their own error shapes keep them beside their routes (S3 XML for anaconda-client's upload POST,
plain text for twine and `/api/repo`), built from the same exception's status and message.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from packyard.core.errors import PackyardError, TooManyRequests
from packyard.core.storage import StoreUnavailable

log = logging.getLogger("packyard")


def error_headers(exc: PackyardError | None, status: int) -> dict[str, str] | None:
    """The headers an error carries: a Basic challenge with 401, Retry-After with a throttled sign-in."""
    if status == 401:
        return {"WWW-Authenticate": 'Basic realm="packyard"'}
    if isinstance(exc, TooManyRequests) and exc.retry_after is not None:
        return {"Retry-After": str(exc.retry_after)}
    return None


def error_response(
    status: int, message: str, exc: PackyardError | None = None, *, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": message},
        status_code=status,
        headers={**(error_headers(exc, status) or {}), **(headers or {})},
    )


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PackyardError)
    async def packyard_error(_request: Request, exc: PackyardError) -> Response:
        return error_response(exc.status, exc.message, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
        )
        return error_response(400, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = "not found"
        return error_response(exc.status_code, message)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_request: Request, exc: StoreUnavailable) -> Response:
        log.error(
            "blob store unavailable: %s", exc
        )  # the operator's problem (endpoint, credentials), not a bug
        return error_response(
            503, "the blob store is unavailable; try again later", headers={"Retry-After": "30"}
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal server error; the server log has the details")
