"""Server checks, logins and tokens, users, and package listings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from packyard.api.body import body_of
from packyard.api.schemas import PasswordChange, ProfileUpdate, TokenRequest
from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import BadRequest, Forbidden, Unauthorized
from packyard.core.models import Package, utcnow
from packyard.core.services import accounts, tokens
from packyard.web import shapes as ser
from packyard.web.deps import (
    CHECK_CREDENTIALS,
    Caller,
    SignedIn,
    Svc,
    base_url,
    check_password,
    client_address,
    resolve_identity,
)

router = APIRouter()


def head_root() -> Response:
    """anaconda-client's check_server(): HEAD on the base URL must answer 200, without a redirect.

    Credentials are not read: `anaconda login` sends the stored token, which may have expired, before it logs
    in again, and a 401 here would leave no way to log in again.
    """
    return Response(status_code=200)


def root() -> dict[str, Any]:
    from packyard import __version__

    return {"ok": 1, "server": "packyard", "version": __version__}


@router.get("/authentication-type")
def authentication_type() -> dict[str, str]:
    """Asked by `anaconda login` with the stored, possibly expired, token: so it reads no credentials."""
    return {"authentication_type": "password"}


def _logging_in(ident: Caller) -> Identity:
    if ident.is_anonymous:
        raise Unauthorized("log in with HTTP Basic authentication (username and password)")
    return ident


@router.post("/authentications")
async def create_authentication(
    request: Request,
    svc: Svc,
    ident: Annotated[Identity, Depends(_logging_in)],
    body: Annotated[TokenRequest, body_of(TokenRequest)],
) -> dict[str, Any]:
    """Log in (Basic user:password) and get a token; also `anaconda auth --create`."""
    from starlette.concurrency import run_in_threadpool

    token, secret = await run_in_threadpool(
        lambda: tokens.create_token(
            svc.db,
            ident,
            name=body.note or "",
            scopes=body.scopes,
            max_age=body.max_age or svc.settings.token_default_max_age_seconds,
            org=body.user or None,
            channel=body.channel or None,
            fail_if_exists=bool(body.fail_if_exists),
            remote_addr=client_address(request),
            hostname=body.hostname or "",
            note_url=body.note_url or "",
            strength=body.strength or "strong",
        )
    )
    return {**ser.token(token), "token": secret, "user": ident.login}


@router.get("/authentication")
def current_authentication(ident: SignedIn) -> dict[str, Any]:
    if ident.token is None:
        return {
            "id": None,
            "application": "password",
            "scopes": ["all"],
            "expires": None,
            "user": ident.login,
        }
    return {**ser.token(tokens.TokenInfo.of(ident.token)), "user": ident.login}


@router.get("/authentications")
def list_authentications(ident: SignedIn, svc: Svc) -> list[dict[str, Any]]:
    return [ser.token(t) for t in tokens.list_tokens(svc.db, ident)]


@router.delete("/authentications", status_code=201)
def remove_current_authentication(ident: SignedIn, svc: Svc) -> Response:
    tokens.remove_token(svc.db, ident)
    return Response(status_code=201)


@router.delete("/authentications/name/{name:path}", status_code=201)
def remove_authentication(name: str, ident: SignedIn, svc: Svc) -> Response:
    tokens.remove_token(svc.db, ident, name=name)
    return Response(status_code=201)


@router.delete("/authentications/org/{org}/name/{name:path}", status_code=201)
def remove_org_authentication(org: str, name: str, ident: SignedIn, svc: Svc) -> Response:
    tokens.remove_token(svc.db, ident, name=name, org=org)
    return Response(status_code=201)


@router.get("/scopes", dependencies=[CHECK_CREDENTIALS])
def list_scopes() -> dict[str, str]:
    return {s.name: s.description for s in permissions.all_scopes()}


@router.get("/user")
def current_user(ident: SignedIn) -> dict[str, Any]:
    assert ident.account is not None
    return ser.user(ident.account)


def _own_profile(account: Any) -> dict[str, Any]:
    """Your own user, with the e-mail address the public shape leaves out."""
    return {**ser.user(account), "email": account.email}


@router.patch("/user")
async def update_current_user(
    svc: Svc, ident: SignedIn, body: Annotated[ProfileUpdate, body_of(ProfileUpdate)]
) -> dict[str, Any]:
    """Edit your profile (the fields given); the same service as the `/settings` page."""
    from starlette.concurrency import run_in_threadpool

    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    account = await run_in_threadpool(accounts.update_profile, svc.db, ident, changes)
    return _own_profile(account)


@router.post("/user/password")
async def change_current_password(
    request: Request, svc: Svc, ident: SignedIn, body: Annotated[PasswordChange, body_of(PasswordChange)]
) -> dict[str, Any]:
    """Change your password: the current one is checked like a sign-in (it counts toward the sign-in throttle); every
    browser session ends, and with `revoke_tokens` every token too. The same service as `/settings/password`."""
    from starlette.concurrency import run_in_threadpool

    permissions.require_unrestricted(ident, "changing your password")
    assert ident.account is not None
    try:
        await run_in_threadpool(check_password, request, svc, ident.account.login, body.current_password)
    except Unauthorized:
        raise BadRequest("current_password is not your current password") from None
    removed = await run_in_threadpool(
        lambda: accounts.change_password(svc.db, ident, body.new_password, revoke_tokens=body.revoke_tokens)
    )
    return {"ok": True, "tokens_revoked": removed}


@router.delete("/user")
async def delete_current_user(svc: Svc, ident: SignedIn, confirm: str = "") -> dict[str, Any]:
    """Delete your account and every package it owns. Only with your password (HTTP Basic), never a token, and
    with `?confirm=LOGIN`; refused (409) while you are an organization's only owner."""
    from starlette.concurrency import run_in_threadpool

    assert ident.account is not None
    if ident.token is not None:
        raise Forbidden("deleting your account needs your password (HTTP Basic authentication), not a token")
    if confirm != ident.account.login:
        raise BadRequest(
            f"add ?confirm={ident.account.login} to confirm deleting the account and its packages"
        )
    removed = await run_in_threadpool(accounts.delete_account, svc.db, ident)
    return {"ok": True, "login": ident.account.login, "packages_removed": removed}


@router.get("/user/{login}", dependencies=[CHECK_CREDENTIALS])
def get_user(login: str, svc: Svc) -> dict[str, Any]:
    with svc.db.read() as session:
        return ser.user(queries.owner(session, login))


@router.get("/license", dependencies=[CHECK_CREDENTIALS])
def user_licenses() -> list[Any]:
    """Packyard has no paid licences; anaconda-client's `user_licenses()` gets an empty list."""
    return []


def _visible_packages(svc: Svc, ident: Caller, login: str | None) -> list[Package]:
    with svc.db.read() as session:
        query = queries.package_query()
        if login is not None:
            query = query.where(Package.owner_id == queries.owner(session, login).id)
        rows = session.scalars(query.order_by(Package.name_key)).unique().all()
        return [p for p in rows if permissions.can_see(ident, p)]


def _filter(
    pkgs: list[Package], platform: str | None, package_type: str | None, type_: str | None, access: str | None
) -> list[Package]:
    def keep(pkg: Package) -> bool:
        files = [f for rel in pkg.releases for f in rel.files]
        if access and pkg.access != access:
            return False
        if package_type and package_type not in (pkg.package_types or []):
            return False
        if platform and not any(
            f.attrs.get("subdir") == platform or f.attrs.get("platform") == platform for f in files
        ):
            return False
        return not (type_ and not any(f.attrs.get("type") == type_ for f in files))

    return [p for p in pkgs if keep(p)]


@router.get("/packages")
def my_packages(
    request: Request,
    ident: SignedIn,
    svc: Svc,
    platform: str | None = None,
    package_type: str | None = None,
    type: str | None = None,
    access: str | None = None,
) -> list[Any]:
    pkgs = _filter(_visible_packages(svc, ident, ident.login), platform, package_type, type, access)
    return [ser.package(p, base_url(request)) for p in pkgs]


@router.get("/packages/{login}")
def user_packages(
    login: str,
    request: Request,
    ident: Caller,
    svc: Svc,
    platform: str | None = None,
    package_type: str | None = None,
    type: str | None = None,
    access: str | None = None,
) -> list[Any]:
    pkgs = _filter(_visible_packages(svc, ident, login), platform, package_type, type, access)
    return [ser.package(p, base_url(request)) for p in pkgs]


@router.get("/package_listing")
async def package_listing(
    request: Request, svc: Svc, modified_after: str | None = None
) -> list[dict[str, Any]]:
    """`all_packages(modified_after)`: the client sends the filter as a form body on a GET (which OpenAPI cannot
    describe), others as the query parameter declared here."""
    import datetime as dt
    from urllib.parse import parse_qs

    from starlette.concurrency import run_in_threadpool

    ident = await run_in_threadpool(resolve_identity, request, svc)
    raw = (await request.body()).decode("utf-8", "replace")
    given = modified_after or next(iter(parse_qs(raw).get("modified_after", [])), None)
    after = None
    if given:
        try:
            after = dt.datetime.fromisoformat(given)
        except ValueError:
            raise BadRequest("modified_after must be an ISO 8601 date or datetime") from None
        if after.tzinfo is None:
            after = after.replace(tzinfo=dt.UTC)

    def listing() -> list[dict[str, Any]]:
        with svc.db.read() as session:
            query = select(Package).order_by(Package.modified_at)
            if after is not None:
                query = query.where(Package.modified_at > after)
            pkgs = [p for p in session.scalars(query) if permissions.can_see(ident, p)]
            return [
                {
                    "full_name": f"{p.owner.login}/{p.name}",
                    "name": p.name,
                    "owner": p.owner.login,
                    "summary": p.summary,
                    "package_types": p.package_types,
                    "public": p.access == "public",
                    "modified_at": ser.iso(p.modified_at),
                }
                for p in pkgs
            ]

    return await run_in_threadpool(listing)


__all__ = ["router", "utcnow"]
