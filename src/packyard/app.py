"""create_app(settings) -> the ASGI app: routers, middleware and the error mapping. No side effects at import."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from packyard import __version__
from packyard.api import ROOT_ROUTES, build_router, repo
from packyard.api.body import document_bodies
from packyard.api.deps import Caller, Services, Svc
from packyard.api.packages import readable_package
from packyard.api.uploads import Download, file_response
from packyard.config import Settings
from packyard.core import queries
from packyard.core.auth import PasswordCache
from packyard.core.db import Database
from packyard.core.errors import PackyardError
from packyard.core.indexes import IndexCache
from packyard.core.storage import LocalBlobStore
from packyard.formats.conda import routes as conda_routes
from packyard.formats.cran import routes as cran_routes
from packyard.formats.env import routes as env_routes
from packyard.formats.front import Front
from packyard.formats.notebook import routes as notebook_routes
from packyard.formats.project import routes as project_routes
from packyard.formats.pypi import json_api as pypi_json
from packyard.formats.pypi import routes as pypi_routes
from packyard.formats.pypi import xmlrpc as pypi_xmlrpc
from packyard.middleware import PathTokenMiddleware

log = logging.getLogger("packyard")


def error_response(status: int, message: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="packyard"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    db = db or Database(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    app = FastAPI(
        title="Packyard",
        version=__version__,
        description="Self-hosted conda, PyPI, CRAN, notebook, environment and file repository. "
        "The REST API is compatible with anaconda.org's, so the unmodified anaconda-client works against it.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.services = Services(
        settings=settings,
        db=db,
        store=LocalBlobStore(settings.blob_root),
        password_cache=PasswordCache(settings.password_cache_size, settings.password_cache_ttl_seconds),
    )
    app.state.index_cache = IndexCache()
    for path in ("/api", "/api/"):
        for method, endpoint in ROOT_ROUTES:
            app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
    app.include_router(build_router(), prefix="/api")
    app.include_router(notebook_routes.router)
    app.include_router(env_routes.router)
    app.include_router(project_routes.router)
    app.include_router(conda_routes.router)
    app.include_router(repo.router)
    app.include_router(pypi_xmlrpc.router)
    app.include_router(pypi_json.router)  # before pypi_routes: its /pypi/{path} catch-all would swallow /json
    app.include_router(pypi_routes.router)
    app.include_router(cran_routes.router)
    app.add_api_route(
        "/{owner}/{name}/{version}/download/{basename:path}",
        _public_download,
        methods=["GET"],
        include_in_schema=False,
    )
    app.add_api_route("/health", _health, methods=["GET"], include_in_schema=False)
    _add_error_handlers(app)
    document_bodies(app)
    app.add_middleware(Front, db=db)  # inside PathTokenMiddleware: sees the path without its token
    app.add_middleware(PathTokenMiddleware, domain=settings.domain)
    return app


def _health() -> dict[str, Any]:
    return {"ok": True, "version": __version__}


def _public_download(
    owner: str, name: str, version: str, basename: str, request: Request, ident: Caller, svc: Svc
) -> Response:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
        found = Download.of(queries.file(queries.release(pkg, version), basename), pkg)
    return file_response(svc, request, found)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PackyardError)
    async def packyard_error(_request: Request, exc: PackyardError) -> Response:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
        )
        return error_response(400, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = "not found"
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal server error; the server log has the details")
