"""One-request uploads: the legacy PyPI upload API that twine and `uv publish` speak, which Anaconda Server also
uses for curl uploads of R packages (seed 004) — and Packyard for notebooks, environments, projects and files.

    curl -F filetype=cran_source_package -F content=@pkg_1.0.tar.gz -H "X-Auth: TOKEN" http://HOST/api/repo/OWNER
    curl -F filetype=ipynb -F name=analysis -F version=1 -F content=@analysis.ipynb -H "X-Auth: TOKEN" ...

Errors are plain text with the status twine and uv understand: 401 bad credentials, 403 not allowed, 409
"File already exists" (twine's --skip-existing looks for that phrase), 400 anything wrong with the file, 429 with
Retry-After when failed passwords from this address are being throttled.
Re-uploading an identical file answers 200, as PyPI does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from packyard.core import formats
from packyard.core.errors import NotFound, PackyardError, Unauthorized
from packyard.core.services import receive
from packyard.web.deps import Services, Svc, resolve_identity
from packyard.web.errors import error_headers

router = APIRouter()
"""Included after the formats' routers: they answer the reads under /api/repo (PyPI's simple pages and files,
R's repository), and the GET route here only says what is not found there."""


async def _post(owner: str, request: Request, svc: Svc) -> Response:
    """POST /pypi/OWNER is twine's upload (multipart), or what a format posts there (PyPI's XML-RPC, text/xml);
    /api/repo/OWNER likewise."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    other = formats.post_handler(media_type)
    if other is not None:
        return await other(request, owner)
    return await handle(request, svc, owner)


for _path in ("/pypi/{owner}", "/pypi/{owner}/", "/api/repo/{owner}", "/api/repo/{owner}/"):
    router.add_api_route(_path, _post, methods=["POST"], include_in_schema=False)


@router.api_route("/api/repo/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def repo_get(path: str, request: Request, svc: Svc) -> Response:
    """Anaconda Server's read URLs are /api/repo/OWNER/simple/... (PyPI) and /api/repo/OWNER/cran/... (R)."""
    resolve_identity(request, svc)  # a wrong credential is a 401 here too
    raise NotFound(f"not found: /api/repo/{path}")


async def handle(request: Request, svc: Services, owner: str) -> Response:
    try:
        return await _upload(request, svc, owner)
    except PackyardError as exc:
        return PlainTextResponse(exc.message, status_code=exc.status, headers=error_headers(exc, exc.status))
    except ClientDisconnect:  # nobody reads this answer: it keeps a routine event out of the error log
        return PlainTextResponse("the client went away before the body ended", status_code=400)


async def _upload(request: Request, svc: Services, owner_login: str) -> Response:
    identity = await run_in_threadpool(resolve_identity, request, svc)
    if identity.is_anonymous:
        raise Unauthorized(
            "Invalid or non-existent authentication information: upload with a token "
            "(-u TOKEN -p x-auth-token, or -u __token__ -p TOKEN) or your password"
        )
    done = await receive.upload(
        svc.db,
        svc.store,
        identity,
        owner_login,
        request.headers.get("content-type", ""),
        request.stream(),
        max_file_bytes=svc.settings.max_upload_bytes,
    )
    if done.identical:
        return PlainTextResponse(f"{done.basename} is already uploaded (identical file)\n")
    return PlainTextResponse(f"uploaded {done.owner}/{done.name}/{done.version}/{done.basename}\n")
