"""The UI's own static files (CSS, a small script, the logo), served by Packyard under versioned URLs.

`/static/<digest>/<name>`: the digest is the first 12 hex digits of the file's sha256, so a URL names one
content forever and can be cached for a year (`immutable`); a new release changes the URL, never the bytes
behind an old one. A URL with another digest is a 404 rather than today's bytes under yesterday's name. The
files are read once, at start-up: they are small, and nothing is fetched from another host at run time.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from packyard.ui.security import SECURITY_HEADERS

STATIC = Path(__file__).parent / "static"
PREFIX = "/static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    digest: str
    media_type: str


def _load() -> dict[str, Asset]:
    assets = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            body = path.read_bytes()
            name = path.relative_to(STATIC).as_posix()
            media = _TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            assets[name] = Asset(body, hashlib.sha256(body).hexdigest()[:12], media)
    return assets


# --- Swagger UI for /api/docs (ui/apidocs.py) -----------------------------------------------------------------
SWAGGER_DIST = "swagger-ui-py"
"""The PyPI distribution that ships Swagger UI's built files (installed with Packyard; nothing is committed)."""
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")


def _swagger() -> dict[str, Asset]:
    """Swagger UI's bundle and stylesheet as `swagger-ui/<name>`; none when the distribution is missing (the docs
    page then says how to install it rather than every page failing). The source-map comment is dropped: the map
    is not served, and a browser's developer tools would ask for it."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(SWAGGER_DIST)
    except PackageNotFoundError:
        return {}
    out = {}
    for name in SWAGGER_FILES:
        path = Path(str(dist.locate_file(f"swagger_ui/static/{name}")))
        if not path.is_file():
            return {}
        body = re.sub(rb"\n?/[/*]# sourceMappingURL=[^\n]*\s*$", b"\n", path.read_bytes())
        media = _TYPES[path.suffix]
        out[f"swagger-ui/{name}"] = Asset(body, hashlib.sha256(body).hexdigest()[:12], media)
    return out


ASSETS = {**_load(), **_swagger()}


def url(name: str) -> str:
    """The versioned URL templates use: `{{ static('packyard.css') }}`."""
    return f"{PREFIX}/{ASSETS[name].digest}/{name}"


class StaticAssets:
    """ASGI app mounted at /static (a Mount, so it reads no credentials and holds no secrets)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.response(scope)
        await response(scope, receive, send)

    def response(self, scope: Scope) -> Response:
        if scope.get("method") not in ("GET", "HEAD"):
            return PlainTextResponse("method not allowed", status_code=405, headers={"Allow": "GET, HEAD"})
        path: str = scope.get("path", "")
        if path.startswith(PREFIX + "/"):  # Starlette's Mount keeps the full path (root_path has the prefix)
            path = path[len(PREFIX) :]
        digest, _, name = path.lstrip("/").partition("/")
        asset = ASSETS.get(name)
        if asset is None or digest != asset.digest:
            return PlainTextResponse("not found", status_code=404, headers=SECURITY_HEADERS)
        headers = {
            **SECURITY_HEADERS,
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": f'"{asset.digest}"',
        }
        return Response(asset.body, media_type=asset.media_type, headers=headers)
