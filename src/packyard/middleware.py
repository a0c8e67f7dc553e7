"""Pure ASGI middleware: `/t/TOKEN/` path prefixes and `conda.DOMAIN`-style host routing.

conda, pip and R put a token in the URL (`/t/TOKEN/...`, `/conda/t/TOKEN/...`, `/pypi/t/TOKEN/...`,
`/api/repo/t/TOKEN/...`; `notebooks.DOMAIN/t/TOKEN/...` and `envs.DOMAIN/t/TOKEN/...` become `/notebooks/t/...`
and `/envs/t/...`). The token is moved out of the path into ``scope["packyard.path_token"]`` so routes see one URL
space and `core.auth` sees one more credential.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_TOKEN_PREFIX = re.compile(r"^(/(?:conda|pypi|cran|notebooks|envs|api/repo|api))?/t/([A-Za-z0-9-]+)(?=/|$)")
_SUBDOMAINS = ("conda", "pypi", "cran", "notebooks", "envs")


class PathTokenMiddleware:
    def __init__(self, app: ASGIApp, domain: str | None = None) -> None:
        self.app = app
        self.domain = domain.lower() if domain else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            prefix = self._host_prefix(scope) if self.domain else ""
            path: str = prefix + scope["path"]
            raw: str = prefix + (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            match = _TOKEN_PREFIX.match(path)
            if match:
                token = match.group(2)
                path = (match.group(1) or "") + path[match.end() :] or "/"
                raw_match = _TOKEN_PREFIX.match(raw)
                if raw_match:
                    raw = (raw_match.group(1) or "") + raw[raw_match.end() :] or "/"
                scope = {**scope, "packyard.path_token": token}
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": raw.encode("latin-1")}
        await self.app(scope, receive, send)

    def _host_prefix(self, scope: Scope) -> str:
        host = ""
        for key, value in scope.get("headers", ()):
            if key == b"host":
                host = value.decode("latin-1").split(":")[0].lower()
                break
        for sub in _SUBDOMAINS:
            if host == f"{sub}.{self.domain}":
                return f"/{sub}"
        return ""
