"""create_app(settings) -> the ASGI app: routers, middleware and the error mapping. No side effects at import."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from packyard import __version__
from packyard.api import ROOT_ROUTES, build_router, repo
from packyard.api.body import document_bodies
from packyard.config import Settings
from packyard.core import queries
from packyard.core.auth import PasswordCache
from packyard.core.db import Database
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
from packyard.ui import install as install_ui
from packyard.web.deps import Caller, Services, Svc, readable_package
from packyard.web.errors import add_error_handlers
from packyard.web.serve import Download, file_response


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
    add_error_handlers(app)
    install_ui(app)  # after every other route: its /OWNER and /OWNER/PACKAGE pages are catch-alls
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
