"""Server checks, logins and tokens, users, and package listings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from packyard.api import serializers as ser
from packyard.api.deps import Caller, SignedIn, Svc, base_url, resolve_identity
from packyard.core import permissions, queries
from packyard.core.errors import BadRequest, Unauthorized
from packyard.core.models import Package, utcnow
from packyard.core.services import tokens

router = APIRouter()


def head_root() -> Response:
    """anaconda-client's check_server(): HEAD on the base URL must answer 200, without a redirect."""
    return Response(status_code=200)


def root() -> dict[str, Any]:
    from packyard import __version__

    return {"ok": 1, "server": "packyard", "version": __version__}


@router.get("/authentication-type")
def authentication_type() -> dict[str, str]:
    return {"authentication_type": "password"}


def _json_body(raw: bytes) -> dict[str, Any]:
    import orjson

    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


@router.post("/authentications")
async def create_authentication(request: Request, svc: Svc) -> dict[str, Any]:
    """Log in (Basic user:password) and get a token; also `anaconda auth --create`."""
    from starlette.concurrency import run_in_threadpool

    body = _json_body(await request.body())
    ident = await run_in_threadpool(resolve_identity, request, svc)
    if ident.is_anonymous:
        raise Unauthorized("log in with HTTP Basic authentication (username and password)")
    org = None
    if body.get("user"):
        with svc.db.read() as session:
            org = queries.owner(session, str(body["user"]))
    max_age = body.get("max-age", body.get("max_age"))
    if max_age is not None and not isinstance(max_age, int):
        raise BadRequest("max-age must be an integer number of seconds")
    token, secret = await run_in_threadpool(
        lambda: tokens.create_token(
            svc.db,
            ident,
            name=str(body.get("note") or ""),
            scopes=body.get("scopes"),
            max_age=max_age or svc.settings.token_default_max_age_seconds,
            org=org,
            fail_if_exists=bool(body.get("fail-if-exists")),
            remote_addr=request.client.host if request.client else "",
            hostname=str(body.get("hostname") or ""),
            note_url=str(body.get("note_url") or ""),
            strength=str(body.get("strength") or "strong"),
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
    return {**ser.token(ident.token), "user": ident.login}


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
    with svc.db.read() as session:
        org_account = queries.owner(session, org)
    tokens.remove_token(svc.db, ident, name=name, org=org_account)
    return Response(status_code=201)


@router.get("/scopes")
def list_scopes() -> dict[str, str]:
    return {name: description for name, (_, _, description) in permissions.SCOPES.items()}


@router.get("/user")
def current_user(ident: SignedIn) -> dict[str, Any]:
    assert ident.account is not None
    return ser.user(ident.account)


@router.get("/user/{login}")
def get_user(login: str, svc: Svc) -> dict[str, Any]:
    with svc.db.read() as session:
        return ser.user(queries.owner(session, login))


@router.get("/license")
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
async def package_listing(request: Request, svc: Svc) -> list[dict[str, Any]]:
    """`all_packages(modified_after)`: the client sends the filter as a form body on a GET."""
    import datetime as dt
    from urllib.parse import parse_qs

    from starlette.concurrency import run_in_threadpool

    ident = await run_in_threadpool(resolve_identity, request, svc)
    raw = (await request.body()).decode("utf-8", "replace")
    values = parse_qs(raw) | parse_qs(request.url.query)
    after = None
    if values.get("modified_after"):
        try:
            after = dt.datetime.fromisoformat(values["modified_after"][0])
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
