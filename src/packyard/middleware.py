"""Pure ASGI middleware: `/t/TOKEN/` path prefixes and `conda.DOMAIN`-style host routing.

conda, pip and R put a token in the URL (`/t/TOKEN/...`, `/conda/t/TOKEN/...`, `/pypi/t/TOKEN/...`,
`/api/repo/t/TOKEN/...`; `notebooks.DOMAIN/t/TOKEN/...` and `envs.DOMAIN/t/TOKEN/...` become `/notebooks/t/...`
and `/envs/t/...`). The token is moved out of the path into ``scope["packyard.path_token"]`` so routes see one URL
space and `core.auth` sees one more credential. Which prefixes and subdomains exist is the app's to say (the
formats' `url_prefixes`, plus the REST API's), when it builds the middleware.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send


class PathTokenMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        domain: str | None = None,
        *,
        prefixes: Sequence[str] = (),
        subdomains: Sequence[str] = (),
    ) -> None:
        """`prefixes`: path prefixes (without slashes, e.g. "conda", "api/repo") after which `/t/TOKEN/` may come;
        `subdomains`: SUB.DOMAIN hosts whose paths are /SUB/..."""
        self.app = app
        self.domain = domain.lower() if domain else None
        # Longest first, so that "api/repo" is tried before "api"; "(?!)" never matches.
        alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True)) or "(?!)"
        self.token_prefix = re.compile(rf"^(/(?:{alternatives}))?/t/([A-Za-z0-9-]+)(?=/|$)")
        self.subdomains = tuple(subdomains)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            prefix = self._host_prefix(scope) if self.domain else ""
            path: str = prefix + scope["path"]
            raw: str = prefix + (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            match = self.token_prefix.match(path)
            if match:
                token = match.group(2)
                path = (match.group(1) or "") + path[match.end() :] or "/"
                raw_match = self.token_prefix.match(raw)
                if raw_match:
                    raw = (raw_match.group(1) or "") + raw[raw_match.end() :] or "/"
                scope = {**scope, "packyard.path_token": token}
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": raw.encode("latin-1")}
            if prefix:  # redirects must leave it out again (formats/pypi/routes.py)
                scope = {**scope, "packyard.host_prefix": prefix}
        await self.app(scope, receive, send)

    def _host_prefix(self, scope: Scope) -> str:
        host = ""
        for key, value in scope.get("headers", ()):
            if key == b"host":
                host = value.decode("latin-1").split(":")[0].lower()
                break
        for sub in self.subdomains:
            if host == f"{sub}.{self.domain}":
                return f"/{sub}"
        return ""
