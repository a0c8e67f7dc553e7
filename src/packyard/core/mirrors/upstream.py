"""HTTP to a mirror's upstream: index pages read whole, files streamed; one notion of "unreachable".

Offline mode hangs on `Unreachable`: a connection that fails, an answer that does not come in time, or a 5xx
(the upstream is there but broken) all mean "serve what is cached, with a warning". Anything else the upstream
answers (200, 304, 404, 403...) is an answer, and the caller decides what it means. Calls are synchronous: the
routes that make them run in a worker thread, with no database session open while they wait.

One `httpx.Client` per process carries every call, so a cold mirror reuses its connections to the upstream
instead of opening one per page and file. An upstream host that could not be reached (connection failed or timed
out) is not asked again for `RETRY_SECONDS`: offline mode then answers from the cache at once, instead of every
request waiting for a connect timeout first (with ttl 0, every page would ask).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

CONNECT_SECONDS = 10.0
READ_SECONDS = 60.0
USER_AGENT = "packyard-mirror"
RETRY_SECONDS = 30.0
"""How long an upstream host that could not be reached is left alone before it is asked again."""
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


_shared: tuple[int, httpx.Client] | None = None
_shared_lock = threading.Lock()
_down: dict[str, tuple[float, Unreachable]] = {}
"""Upstream host (scheme://netloc) -> (monotonic time until which it is not asked, why)."""


def _client() -> httpx.Client:
    """This process's client (made again in a forked worker: a client's connections must not cross a fork)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            client = httpx.Client(
                timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS),
                follow_redirects=True,
                headers={"User-Agent": USER_AGENT},
            )
            _shared = (os.getpid(), client)
        return _shared[1]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"


def _check_host(url: str) -> None:
    """Raise the last Unreachable of this URL's host while it is being left alone."""
    found = _down.get(_host(url))
    if found is None:
        return
    until, why = found
    if time.monotonic() >= until:
        _down.pop(_host(url), None)
        return
    raise Unreachable(
        f"{why.message}; not asked again for {until - time.monotonic():.0f} s", timeout=why.timeout
    )


def _unreachable(url: str, exc: httpx.HTTPError) -> Unreachable:
    if isinstance(exc, httpx.TimeoutException):
        why = Unreachable(f"{redacted(url)} did not answer in time", timeout=True)
    else:
        why = Unreachable(f"{redacted(url)} could not be reached ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):  # the host is away, not one answer bad: leave it alone a while
        _down[_host(url)] = (time.monotonic() + RETRY_SECONDS, why)
    return why


def forget_down_hosts() -> None:
    """Ask every upstream again at the next request (tests; an operator's "retry now")."""
    _down.clear()


def get(url: str, *, accept: str, etag: str | None = None, max_bytes: int = MAX_PAGE_BYTES) -> Page:
    """GET an index page (at most `max_bytes` once decoded); raises Unreachable (see the module docstring)."""
    chunks: list[bytes] = []
    page = stream(url, chunks.append, accept=accept, etag=etag, max_bytes=max_bytes)
    return dataclasses.replace(page, body=b"".join(chunks))


def download(url: str, write: Callable[[bytes], None]) -> int:
    """Stream a file into `write`; returns the status (the bytes are written only for a 200)."""
    return stream(url, write).status


def stream(
    url: str,
    write: Callable[[bytes], None],
    *,
    accept: str = "*/*",
    etag: str | None = None,
    max_bytes: int | None = None,
) -> Page:
    """GET `url`, a 200's body streamed into `write` a MiB at a time (an index of hundreds of MB never sits in
    memory); the Page returned carries status, headers and final URL, no body. More than `max_bytes` (decoded) is
    Unreachable: the upstream is not behaving as an index does."""
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    _check_host(url)
    try:
        with _client().stream("GET", url, headers=headers) as response:
            if response.status_code >= 500:
                raise Unreachable(f"{redacted(url)} answered {response.status_code}")
            if response.status_code == 200:
                size = 0
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise Unreachable(f"{redacted(url)} sent an index over {max_bytes} bytes")
                    write(chunk)
            return Page(response.status_code, b"", dict(response.headers), str(response.url))
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
