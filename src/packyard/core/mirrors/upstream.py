"""HTTP to a mirror's upstream: index pages read whole, files streamed; one notion of "unreachable".

Offline mode hangs on `Unreachable`: a connection that fails, an answer that does not come in time, or a 5xx
(the upstream is there but broken) all mean "serve what is cached, with a warning". Anything else the upstream
answers (200, 304, 404, 403...) is an answer, and the caller decides what it means. Calls are synchronous: the
routes that make them run in a worker thread, with no database session open while they wait.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

CONNECT_SECONDS = 10.0
READ_SECONDS = 60.0
USER_AGENT = "packyard-mirror"
MAX_PAGE_BYTES = 64 << 20
"""An index page larger than this is refused (a project page of PyPI's largest projects is a few MiB)."""


class Unreachable(Exception):
    """The upstream did not answer usably: connection failed, timed out (`timeout`), or answered 5xx."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes
    headers: Mapping[str, str]
    url: str
    """The URL that answered (after redirects): relative links resolve against it."""


def redacted(url: str) -> str:
    """The URL without user and password, for messages and for anyone but the mirror's administrators."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


def _unreachable(url: str, exc: httpx.HTTPError) -> Unreachable:
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{redacted(url)} did not answer in time", timeout=True)
    return Unreachable(f"{redacted(url)} could not be reached ({type(exc).__name__})")


def get(url: str, *, accept: str, etag: str | None = None, max_bytes: int = MAX_PAGE_BYTES) -> Page:
    """GET an index page (at most `max_bytes` once decoded); raises Unreachable (see the module docstring)."""
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    try:
        with _client() as client, client.stream("GET", url, headers=headers) as response:
            if response.status_code >= 500:
                raise Unreachable(f"{redacted(url)} answered {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise Unreachable(f"{redacted(url)} sent an index page over {max_bytes} bytes")
                chunks.append(chunk)
            return Page(response.status_code, b"".join(chunks), dict(response.headers), str(response.url))
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None


def download(url: str, write: Callable[[bytes], None]) -> int:
    """Stream a file into `write`; returns the status (the bytes are written only for a 200)."""
    try:
        with _client() as client, client.stream("GET", url) as response:
            if response.status_code >= 500:
                raise Unreachable(f"{redacted(url)} answered {response.status_code}")
            if response.status_code != 200:
                return response.status_code
            for chunk in response.iter_bytes(1 << 20):
                write(chunk)
            return 200
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
