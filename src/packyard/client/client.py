"""`Client`: the Python library's entry point. One `httpx.Client` (closed by `close()` or `with`), the token sent as
`Authorization: token T`, and every method of `binstar.BinstarMethods` and `extensions.PackyardMethods`.

    from packyard.client import Client
    with Client("https://packages.example.org", token=TOKEN) as api:
        api.package("alice", "demo")

`Binstar` is the same client constructed as `binstar_client.Binstar` is (`Binstar(token=None, domain=...,
verify=True)`), so `from packyard.client import Binstar` is the only change an anaconda-client script needs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

from packyard.client.extensions import PackyardMethods
from packyard.client.transport import Transport

DEFAULT_TIMEOUT = 60.0


def _version() -> str:
    try:
        return version("packyard")
    except PackageNotFoundError:  # running from a source tree
        return "0"


def api_url(url: str) -> str:
    """The API's URL from what a user types: `host:8080`, `http://host:8080`, `http://host:8080/api/` all give
    `http://host:8080/api` (a bare host gets https://, as anaconda-client does)."""
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        url = "https://" + url
    if not urlsplit(url).hostname:
        raise ValueError(f"not a server URL: {url!r} (expected e.g. https://packages.example.org)")
    url = url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


class Client(PackyardMethods):
    """A Packyard server at `url` (its root or its `/api`), as the holder of `token` (None: anonymous).

    `timeout` (seconds) applies to each read and write; `verify` is True, False or a CA bundle's path;
    `retries` is how often an idempotent request is sent again after a dropped connection or a 502/503/504,
    waiting `backoff`, twice that, ... seconds in between."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        retries: int = 3,
        backoff: float = 0.25,
    ) -> None:
        self.domain = api_url(url)
        self.url = self.domain.removesuffix("/api")
        self.token = token or None
        self._t = Transport(
            self.domain,
            self.token,
            timeout=timeout,
            verify=verify,
            retries=retries,
            backoff=backoff,
            user_agent=f"packyard-client/{_version()}",
        )

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r}, token={'***' if self.token else None})"


class Binstar(Client):
    """`binstar_client.Binstar`'s constructor: `Binstar(token=None, domain=..., verify=True, **kwargs)`.
    `domain` is the API URL as anaconda-client's config has it (`http://host:8080/api`). Of the keyword
    arguments, `timeout`, `retries` and `backoff` are Client's; others are ignored, as binstar ignores them."""

    def __init__(
        self,
        token: str | None = None,
        domain: str = "https://api.anaconda.org",
        verify: bool | str = True,
        **kwargs: Any,
    ) -> None:
        options = {key: kwargs[key] for key in ("timeout", "retries", "backoff") if key in kwargs}
        super().__init__(domain, token, verify=verify, **options)
