"""Request-scoped things every route needs: the app's services and the caller's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from packyard.config import Settings
from packyard.core import auth, permissions, queries, throttle
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import NotFound, Unauthorized
from packyard.core.models import Package
from packyard.core.services.downloads import DownloadCounter
from packyard.core.storage import BlobStore


@dataclass
class Services:
    settings: Settings
    db: Database
    store: BlobStore
    password_cache: auth.PasswordCache = field(default_factory=lambda: auth.PasswordCache(0, 0))
    """Successful password checks (core/auth.py); create_app sizes it from the settings. Default: off."""
    downloads: DownloadCounter = field(init=False)
    """Download counts not yet written (core/services/downloads.py); the app's shutdown writes them."""

    def __post_init__(self) -> None:
        self.downloads = DownloadCounter(self.db)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def resolve_identity(request: Request, svc: Services) -> Identity:
    """Any credential on the request -> Identity; anonymous when there is none (sync: may hash a password)."""
    cached: Identity | None = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    credential = auth.credential_from_request(request.headers, request.scope.get("packyard.path_token"))
    if credential is None:
        identity = auth.ANONYMOUS
    elif credential.kind == "token":
        identity = auth.authenticate_token(svc.db, credential.secret)
    else:
        assert credential.login is not None
        identity = check_password(request, svc, credential.login, credential.secret)
    request.state.identity = identity
    return identity


def client_address(request: Request) -> str:
    """The client's address: the socket peer, or from X-Forwarded-For when the peer is a trusted proxy
    (`PACKYARD_TRUSTED_PROXIES`; core/throttle.py says which entry)."""
    peer = request.client.host if request.client else ""
    trusted = services(request).settings.trusted_proxy_networks
    if not trusted:
        return peer
    return throttle.client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


def check_password(request: Request, svc: Services, login: str, password: str) -> Identity:
    """The one password check of every interface (REST and twine Basic auth, the sign-in form, re-entering the
    password): throttled per login and client address (core/throttle.py). Sync: may hash a password."""
    return auth.authenticate_password(
        svc.db,
        login,
        password,
        remote_addr=client_address(request),
        policy=svc.settings.throttle_policy,
        cache=svc.password_cache,
    )


def identity(request: Request) -> Identity:
    return resolve_identity(request, services(request))


async def identity_async(request: Request) -> Identity:
    return await run_in_threadpool(resolve_identity, request, services(request))


def signed_in(request: Request) -> Identity:
    ident = identity(request)
    if ident.is_anonymous:
        raise Unauthorized("this requires authentication: log in or pass a token")
    return ident


def base_url(request: Request) -> str:
    """The server's public URL, without a trailing slash."""
    configured = services(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")


CHECK_CREDENTIALS = Depends(identity)
"""For routes that answer everyone alike: a credential that is present must still be valid (else 401)."""

Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Identity, Depends(identity)]
SignedIn = Annotated[Identity, Depends(signed_in)]


def readable_package(
    session: Session, ident: Identity, owner: str, name: str, *, via: str = "api"
) -> Package:
    """The package a URL names, if the caller may read it through `via`.

    A name that does not exist and one the caller may not see get the same answer, named as the URL spelled it
    (`permissions.unseen`: 404, or 401 to anonymous callers of a package manager's index); a package the caller
    may read is returned, and what else it may do is `require`'s question."""
    try:
        pkg = queries.package(session, owner, name)
    except NotFound:
        raise permissions.unseen(ident, f"{owner}/{name}", via=via) from None
    if not permissions.can(ident, permissions.Permission.READ, pkg, via=via):
        raise permissions.unseen(ident, f"{owner}/{name}", via=via)
    return pkg
