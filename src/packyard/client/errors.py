"""What the client raises: one class per HTTP status the server answers, each carrying the server's own message.

PackyardError (also named BinstarError)        .status, .message
├── BadRequest (UserError)          400, 422  the request or the file is wrong; the message says what to fix
├── Unauthorized                    401       no token, or a token that is wrong, expired or revoked
├── Forbidden                       403       a valid token that does not allow this
├── NotFound (also an IndexError)   404       no such thing, or a private thing the caller may not see
├── Conflict                        409       it exists already, or a locked label refuses the change
├── TooLarge                        413       the file is larger than the server accepts
├── TooManyRequests                 429       too many failed passwords from this address
├── ServerError                     5xx, or the server cannot be reached
└── ChecksumMismatch                          a download's bytes differ from the server's sha256

The names anaconda-client scripts catch (`BinstarError`, `NotFound`, `Unauthorized`, `Conflict`, `UserError`,
`ServerError`) are the same classes, so `except errors.NotFound` keeps working after changing the import. The
arguments are binstar's too: `exc.args == (message, status)`.
"""

from __future__ import annotations

import json
import re


class PackyardError(Exception):
    """Any failure the server reported (`status` is its HTTP status; 0 when no answer came)."""

    status = 0

    def __init__(self, message: str, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        super().__init__(message, self.status)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequest(PackyardError):
    status = 400


class Unauthorized(PackyardError):
    status = 401


class Forbidden(PackyardError):
    status = 403


class NotFound(PackyardError, IndexError):
    status = 404

    @property
    def msg(self) -> str:
        """binstar's NotFound also names its message `msg`."""
        return self.message


class Conflict(PackyardError):
    status = 409


class TooLarge(PackyardError):
    status = 413


class TooManyRequests(PackyardError):
    status = 429


class ServerError(PackyardError):
    status = 500


class ChecksumMismatch(PackyardError):
    """The downloaded bytes are not the file the server recorded; nothing was kept."""


BinstarError = PackyardError
UserError = BadRequest

_BY_STATUS: dict[int, type[PackyardError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: BadRequest,
    429: TooManyRequests,
}


def class_for_status(status: int) -> type[PackyardError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, PackyardError)


def message_of(body: bytes, content_type: str, fallback: str) -> str:
    """The server's explanation from an error answer: `{"error": ...}` (the REST API), an S3-style XML
    `<Message>` (the upload form) or plain text (`POST /api/repo`); `fallback` when the body says nothing."""
    text = body.decode("utf-8", "replace").strip()
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                if isinstance(data.get(key), str) and data[key]:
                    return str(data[key])
    if "xml" in content_type:
        found = re.search(r"<Message>(.*?)</Message>", text, re.S)
        if found:
            return found.group(1).strip()
    if text and "html" not in content_type:
        return text[:2000]
    return fallback
