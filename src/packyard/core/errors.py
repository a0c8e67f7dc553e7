"""The domain's exception tree; the HTTP edge maps each class to one status code.

PackyardError
├── BadRequest          400  the request or the uploaded file is wrong; the message says what to fix
├── Unauthorized        401  no credentials, or credentials that are wrong, expired or removed
├── Forbidden           403  valid credentials that do not allow this
├── NotFound            404  no such thing (or a private thing the caller may not know about)
├── Conflict            409  it exists already (file, label) or a locked label refuses the change
├── TooLarge            413
├── TooManyRequests     429  too many failed sign-ins from this address (Retry-After)
├── BadGateway          502  a mirror's upstream refused or broke, and nothing cached can stand in
└── GatewayTimeout      504  a mirror's upstream did not answer in time, and nothing cached can stand in
"""

from __future__ import annotations


class PackyardError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(PackyardError):
    status = 400


class Unauthorized(PackyardError):
    status = 401


class Forbidden(PackyardError):
    status = 403


class NotFound(PackyardError):
    status = 404


class Conflict(PackyardError):
    status = 409


class TooLarge(PackyardError):
    status = 413


class TooManyRequests(PackyardError):
    """Too many failed sign-ins from this address; `retry_after` (seconds) becomes the Retry-After header."""

    status = 429

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def unseen_package(name: str) -> NotFound:
    """The 404 for a package `name` (OWNER/NAME) that does not exist or that the caller may not see: one text for
    both, so that the answer never confirms a private name (core.permissions.unseen, docs/security.md)."""
    return NotFound(f"{name}: not found, or you may not see it")


class BadGateway(PackyardError):
    """A mirror's upstream is unreachable or sent something wrong, and the mirror has no cached copy to serve."""

    status = 502


class GatewayTimeout(PackyardError):
    """A mirror's upstream did not answer in time, and the mirror has no cached copy to serve."""

    status = 504
