"""Packyard's Python client: `Client(url, token)` with anaconda-client's Binstar API and Packyard's additions.

It stands alone: it imports only httpx and the standard library, never the server's modules (an import-linter
contract in pyproject.toml keeps it so), so it installs without the server. See docs/client.md.
"""

from packyard.client import errors
from packyard.client.binstar import Download
from packyard.client.client import Binstar, Client, api_url
from packyard.client.errors import (
    BadRequest,
    BinstarError,
    ChecksumMismatch,
    Conflict,
    Forbidden,
    NotFound,
    PackyardError,
    ServerError,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    UserError,
)
from packyard.client.streams import Progress

__all__ = [
    "BadRequest",
    "Binstar",
    "BinstarError",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "Download",
    "Forbidden",
    "NotFound",
    "PackyardError",
    "Progress",
    "ServerError",
    "TooLarge",
    "TooManyRequests",
    "Unauthorized",
    "UserError",
    "api_url",
    "errors",
]
