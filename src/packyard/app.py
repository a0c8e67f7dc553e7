"""create_app(settings) -> the ASGI app: routers, middleware and the error mapping. No side effects at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

import packyard.formats  # noqa: F401  (registers every format before the app reads the registry)
from packyard import __version__
from packyard.api import ROOT_ROUTES, build_router, repo
from packyard.api.body import document_bodies
from packyard.config import Settings, build_store
from packyard.core import formats, queries
from packyard.core.auth import PasswordCache
from packyard.core.db import Database
from packyard.core.indexes import IndexCache
from packyard.core.jobs import Scheduler, housekeeping
from packyard.core.mirrors.syncs import SyncRunner
from packyard.formats.front import Front
from packyard.middleware import PathTokenMiddleware
from packyard.ui import install as install_ui
from packyard.web.deps import Caller, Services, Svc, readable_package
from packyard.web.errors import add_error_handlers
from packyard.web.serve import Blob, serve_blob

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    db = db or Database(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    app = FastAPI(
        title="Packyard",
        version=__version__,
        description="Self-hosted conda, PyPI, CRAN, notebook, environment and file repository. "
        "The REST API is compatible with anaconda.org's, so the unmodified anaconda-client works against it.",
        docs_url=None,  # /api/docs is the UI's (ui/apidocs.py): Swagger UI served here, not from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan,
    )
    app.state.services = Services(
        settings=settings,
        db=db,
        store=build_store(settings),
        password_cache=PasswordCache(settings.password_cache_size, settings.password_cache_ttl_seconds),
    )
    app.state.index_cache = IndexCache()
    app.state.scheduler = None  # create_served_app's: tests that build many apps run no background jobs
    app.state.sync_runner = None  # the same: queued mirror syncs wait for a served app's runner
    for path in ("/api", "/api/"):
        for method, endpoint in ROOT_ROUTES:
            app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
    app.include_router(build_router(), prefix="/api")
    for router in formats.routers():
        app.include_router(router)
    app.include_router(
        repo.router
    )  # after the formats': its GET /api/repo/{path} only answers what they don't
    app.add_api_route(
        "/{owner}/{name}/{version}/download/{basename:path}",
        _public_download,
        methods=["GET", "HEAD"],
        include_in_schema=False,
    )
    app.add_api_route("/health", _health, methods=["GET"], include_in_schema=False)
    app.add_api_route("/health/ready", _ready, methods=["GET"], include_in_schema=False)
    add_error_handlers(app)
    install_ui(app)  # after every other route: its /OWNER and /OWNER/PACKAGE pages are catch-alls
    document_bodies(app)
    # inside PathTokenMiddleware: sees the path without its token
    app.add_middleware(Front, db=db, services=app.state.services, files=formats.public_files())
    app.add_middleware(
        PathTokenMiddleware,
        domain=settings.domain,
        prefixes=[*formats.url_prefixes(), "api/repo", "api"],
        subdomains=formats.url_prefixes(),
    )
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    scheduler: Scheduler | None = app.state.scheduler
    runner: SyncRunner | None = app.state.sync_runner
    if scheduler is not None:
        scheduler.start()
    if runner is not None:
        runner.start()
    yield
    if runner is not None:
        runner.stop()  # a sync still running is given back to the queue for another node
    if scheduler is not None:
        scheduler.stop()
    app.state.services.downloads.close()  # write the download counts still in memory


def _health() -> dict[str, Any]:
    """Liveness: the process answers. It touches nothing, so a database outage does not restart every node."""
    return {"ok": True, "version": __version__}


def _ready(svc: Svc) -> JSONResponse:
    """Readiness: this node can serve, i.e. the database answers `SELECT 1` and the blob store its `check()`.
    503 naming what failed (the kind of error only: anyone may ask; the details go to the node's log), so a load
    balancer takes the node out and an operator knows where to look."""
    checks: dict[str, str] = {}
    try:
        with svc.db.read() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error: the answer is the report
        log.warning("readiness: the database does not answer: %s", exc)
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        svc.store.check()
        checks["blobs"] = "ok"
    except Exception as exc:
        log.warning("readiness: the blob store does not answer: %s", exc)
        checks["blobs"] = f"failed: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"ok": ok, "version": __version__, **checks}, status_code=200 if ok else 503)


def _public_download(
    owner: str, name: str, version: str, basename: str, request: Request, ident: Caller, svc: Svc
) -> Response:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
        found = Blob.of_file(queries.file(queries.release(pkg, version), basename), pkg)
    return serve_blob(svc, request, found)


def attach_scheduler(app: FastAPI) -> FastAPI:
    """Give the app the periodic jobs' scheduler (core/jobs.py), started and stopped by its lifespan: every node
    offers every job, and each runs once per `PACKYARD_JOBS_INTERVAL_SECONDS` across the cluster. And the runner
    of queued mirror syncs (core/mirrors/syncs.py), each of which one node claims and runs."""
    svc: Services = app.state.services
    if svc.settings.mirror_sync_poll_seconds > 0:
        app.state.sync_runner = SyncRunner(svc.db, svc.store, svc.settings.mirror_sync_poll_seconds)
    if svc.settings.jobs_interval_seconds > 0:
        app.state.scheduler = Scheduler(
            svc.db,
            svc.settings.lock_dir,
            housekeeping(svc.settings.jobs_interval_seconds, svc.settings.login_failure_window_seconds),
        )
    return app


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """`create_app` for `packyard serve` (each worker): the objects made by importing and building the app are
    moved out of the garbage collector's view (`gc.freeze`).

    Why: a full (generation 2) collection walks every tracked object, and a warm worker holds ~170,000 of them
    (modules, routes, SQLAlchemy's mappings and compiled-statement cache); each such pass stalled a page for up to
    83 ms, a few times a minute, which was the whole of the pages' p99 with one client (docs/benchmarks.md, "Web
    pages"). Frozen, the passes see only what was made since, and the longest took 10 ms. Not done by
    `create_app`, which tests call many times in one process: frozen objects are never collected."""
    import gc

    limit_malloc_arenas()
    app = attach_scheduler(create_app(settings))
    gc.collect()
    gc.freeze()
    return app


MALLOC_ARENAS = 2
"""glibc malloc arenas per worker process (`M_ARENA_MAX`)."""


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Have the worker's threads share `arenas` malloc arenas instead of glibc's default of up to 8 per core.

    Why: the server runs requests in up to 40 worker threads, and boto3's transfer threads add more; by default each
    may get an arena of its own, which keeps freed memory for that thread. A 64 MiB upload to S3 then peaked at 153
    MB RSS with 2 arenas' worth of it in spare arenas; limited, 147 MB (docs/benchmarks.md, "Large files on S3"),
    with no change in throughput. The same as `MALLOC_ARENA_MAX=2` in the environment, which only works if set
    before the process starts; `mallopt` works at run time, before the threads exist. A no-op (False) on a C library
    that is not glibc (musl, macOS)."""
    import ctypes
    import ctypes.util

    m_arena_max = -8  # <malloc.h>
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(m_arena_max, arenas))
