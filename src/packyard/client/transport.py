"""One `httpx.Client` per `Client`: the token header, error mapping and retries.

Retries: a GET, HEAD, PUT or DELETE that fails to connect, loses its connection, or gets 502/503/504 (a proxy
in front of a restarting node) is sent again after 0.25 s, 0.5 s, 1 s ... (`retries` times at most). These
requests mean the same thing twice; a POST or PATCH (an upload, a new token) is never repeated, because the
first one may have been applied before the connection broke.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from packyard.client import errors

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
_RETRY_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class Transport:
    """Sends requests to `api_url` (the server's `/api`) or to `site_url` (its root, for /envs, /notebooks)."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        timeout: float,
        verify: bool | str,
        retries: int,
        backoff: float,
        user_agent: str,
    ) -> None:
        self.api_url = api_url
        self.site_url = api_url.removesuffix("/api")
        self.retries = retries
        self.backoff = backoff
        self.token = token
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
            # A CA bundle's path becomes an SSL context: httpx no longer takes the path itself.
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    def set_token(self, token: str | None) -> None:
        self.token = token

    def url(self, path: str, *, site: bool = False) -> str:
        """`path` below /api (or below the site's root with `site=True`); absolute URLs pass through."""
        if path.startswith(("http://", "https://")):
            return path
        return (self.site_url if site else self.api_url) + path

    def _headers(self, extra: Mapping[str, str] | None, auth: Any, anonymous: bool = False) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token and auth is None and not anonymous and "Authorization" not in headers:
            headers["Authorization"] = f"token {self.token}"
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        allowed: tuple[int, ...] = (200,),
        site: bool = False,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        anonymous: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request and return its (fully read) answer; raise the error class of any other status.
        `anonymous` leaves the token out (the signed upload form needs none)."""
        url = self.url(path, site=site)
        request = self.http.build_request(
            method, url, headers=self._headers(headers, auth, anonymous), **kwargs
        )
        response = self._send(request, auth=auth, stream=False)
        check(response, allowed)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def open(
        self,
        method: str,
        path: str,
        *,
        allowed: tuple[int, ...] = (200,),
        site: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """A streamed answer whose body the caller reads chunk by chunk, then closes. Redirects are followed; on
        a redirect to another host (S3) httpx drops the `Authorization` header, as the signed URL needs none."""
        url = self.url(path, site=site)
        request = self.http.build_request(method, url, headers=self._headers(headers, None), **kwargs)
        response = self._send(request, auth=None, stream=True, follow_redirects=True)
        if response.status_code not in allowed:
            try:
                response.read()
            finally:
                response.close()
            check(response, allowed)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """`open` as a context manager that closes the answer."""
        response = self.open(method, path, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def _send(
        self, request: httpx.Request, *, auth: Any, stream: bool, follow_redirects: bool = False
    ) -> httpx.Response:
        retry = request.method in IDEMPOTENT
        attempt = 0
        while True:
            try:
                response = self.http.send(
                    request, auth=auth, stream=stream, follow_redirects=follow_redirects
                )
            except _RETRY_ERRORS as exc:
                if retry and attempt < self.retries:
                    self._pause(attempt)
                    attempt += 1
                    continue
                raise errors.ServerError(
                    f"cannot reach {request.url.copy_with(query=None)}: {exc or type(exc).__name__}"
                    " (check the server's URL, and that it is running)",
                    0,
                ) from exc
            except httpx.TimeoutException as exc:
                raise errors.ServerError(
                    f"{request.method} {request.url.copy_with(query=None)} timed out ({type(exc).__name__}); "
                    "raise the client's timeout for slow links",
                    0,
                ) from exc
            if retry and response.status_code in RETRY_STATUSES and attempt < self.retries:
                response.close()
                self._pause(attempt)
                attempt += 1
                continue
            return response

    def _pause(self, attempt: int) -> None:
        time.sleep(self.backoff * (2**attempt))

    def close(self) -> None:
        self.http.close()


def check(response: httpx.Response, allowed: tuple[int, ...]) -> None:
    """Raise the error class of `response`'s status, with the server's message, unless the status is allowed."""
    status = response.status_code
    if status in allowed:
        return
    request = response.request
    reason = response.reason_phrase or "Error"  # when the answer says nothing itself (a proxy's bare 502)
    fallback = f"{reason}: [{request.method}] {request.url.copy_with(query=None)} -> {status}"
    message = errors.message_of(response.content, response.headers.get("content-type", ""), fallback)
    raise errors.class_for_status(status)(message, status)
