"""`/api/docs`: Swagger UI for the REST API, served by Packyard itself, under the pages' strict CSP.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script: on a machine without the
internet it stays blank, and `script-src 'self'` forbids the inline script anyway. This page links Swagger UI's
built files from the swagger-ui-py distribution (a dependency installed from PyPI, served by `ui.assets` under
versioned URLs) and starts it from `apidocs.js`, which reads the OpenAPI URL from a data attribute.

The page is static: it reads no credential and no session (like `/api/openapi.json`), so it is the same for
everyone and a wrong token cannot break it. "Try it out" sends the token typed into Swagger UI's Authorize box.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from packyard.ui import assets
from packyard.ui.render import env
from packyard.ui.security import SECURITY_HEADERS

router = APIRouter(include_in_schema=False)

DOCS_PATH = "/api/docs"


@router.api_route(DOCS_PATH, methods=["GET", "HEAD"])
def api_docs(request: Request) -> Response:
    installed = all(f"swagger-ui/{name}" in assets.ASSETS for name in assets.SWAGGER_FILES)
    root = request.scope.get("root_path", "")
    body = env.get_template("apidocs.html").render(
        title=request.app.title,
        version=request.app.version,
        openapi_url=f"{root}{request.app.openapi_url}",
        installed=installed,
        swagger_dist=assets.SWAGGER_DIST,
    )
    return HTMLResponse(body, status_code=200 if installed else 503, headers=SECURITY_HEADERS)
