"""Access tokens in the browser: `/settings/access` (yours) and `/organization/ORG/settings/access` (an
organization's, for its administrators: what `anaconda auth --create --org ORG` makes). docs/manage/account.md.

Thin routes over `core.services.tokens`, the functions `POST /api/authentications` and
`DELETE /api/authentications/name/NAME` call, so `core.permissions` decides both (`require_mint`,
`require_unrestricted`, `require(ADMIN, org)`). A new token is shown once, on the answer to the form that made it
(never stored: only its sha256 is kept), with the channel URLs conda, pip and R take; the answer is marked
`no-store` so no cache keeps it either. Revoking is a CSRF-checked POST naming the token's public id; a token of
somebody else's is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from packyard.core import permissions, queries
from packyard.core.errors import BadRequest, Forbidden, NotFound
from packyard.core.models import Account, AccountKind
from packyard.core.services import tokens
from packyard.ui.account_settings import to_login
from packyard.ui.forms import done, field, fields, read_form
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, page_context, page_context_async
from packyard.web.deps import base_url, client_address, services

router = APIRouter(include_in_schema=False)

EXPIRY_DAYS = (1, 7, 30, 90, 365)
DEFAULT_EXPIRY_DAYS = 30


@dataclass(frozen=True)
class Minted:
    """A token just made: its secret (shown this once) and the URLs that carry it."""

    info: tokens.TokenInfo
    secret: str
    owner: str
    conda: str
    pip: str
    r: str


def channel_urls(base: str, secret: str, owner: str) -> tuple[str, str, str]:
    """The conda channel, pip index and R repository URLs of `owner` with the token in the path (seed 001/004)."""
    return (
        f"{base}/t/{secret}/{owner}",
        f"{base}/pypi/t/{secret}/{owner}/simple/",
        f"{base}/cran/t/{secret}/{owner}",
    )


def _org(request: Request, ctx: PageContext, login: str) -> Account:
    """The organization the page is about, if the caller administers it; otherwise the same 404 as a missing one
    (the page offers nothing the permission function would refuse)."""
    with services(request).db.read() as session:
        try:
            org = queries.owner(session, login)
        except NotFound:
            raise NotFound(f"no organization {login!r} that you administer") from None
    if org.kind != AccountKind.ORG or not permissions.can(ctx.identity, permissions.Permission.ADMIN, org):
        raise NotFound(f"no organization {login!r} that you administer")
    return org


def _orgs(request: Request, ctx: PageContext) -> list[Account]:
    """Your organizations, by name."""
    ids = ctx.identity.grants.member_of
    if not ids:
        return []
    with services(request).db.read() as session:
        found = session.scalars(select(Account).where(Account.id.in_(sorted(ids))))
        return sorted(found, key=lambda a: a.login_key)


def _channels(ctx: PageContext, orgs: list[Account]) -> list[str]:
    """Suggestions for the channel limit: your own login and your organizations'."""
    account = ctx.identity.account
    assert account is not None
    return [account.login, *(o.login for o in orgs)]


def _render(
    request: Request,
    ctx: PageContext,
    org: Account | None,
    *,
    status: int = 200,
    minted: Minted | None = None,
    errors: dict[str, str] | None = None,
    form: FormData | None = None,
) -> Response:
    listed = tokens.list_tokens(services(request).db, ctx.identity)
    orgs = _orgs(request, ctx) if org is None else []
    mine = listed if org is None else [t for t in listed if t.org == org.login]
    chosen = set(fields(form, "scopes")) if form is not None else set()
    response = page(
        request,
        ctx,
        "settings_access.html",
        status,
        org=org,
        tokens=mine,
        scopes=permissions.all_scopes(),
        chosen=chosen,
        expiry_days=EXPIRY_DAYS,
        expiry=int(field(form, "expires_days") or DEFAULT_EXPIRY_DAYS)
        if form is not None
        else DEFAULT_EXPIRY_DAYS,
        name=field(form, "name") if form is not None else "",
        channel=field(form, "channel") if form is not None else "",
        channels=_channels(ctx, orgs) if org is None else [],
        admin_orgs=[o.login for o in orgs if permissions.can(ctx.identity, permissions.Permission.ADMIN, o)]
        if org is None
        else [],
        minted=minted,
        errors=errors or {},
        action=f"/organization/{org.login}/settings/access" if org else "/settings/access",
        tab="access",
        now=dt.datetime.now(dt.UTC),
    )
    if minted is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def _show(request: Request, org_login: str | None) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None or not ctx.via_session:
        return to_login(request, ctx)
    org = _org(request, ctx, org_login) if org_login else None
    return _render(request, ctx, org)


@router.get("/settings/access")
def access_page(request: Request) -> Response:
    return _show(request, None)


@router.get("/organization/{org}/settings/access")
def org_access_page(request: Request, org: str) -> Response:
    return _show(request, org)


def _form_errors(form: FormData) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not field(form, "name").strip():
        errors["name"] = "Give the token a name, e.g. the machine or the job that will use it."
    elif len(field(form, "name")) > 300:
        errors["name"] = "At most 300 characters."
    if not fields(form, "scopes"):
        errors["scopes"] = "Choose at least one scope."
    days = field(form, "expires_days")
    if not days.isdigit() or int(days) not in EXPIRY_DAYS:
        errors["expires_days"] = "Choose one of the listed expiries."
    return errors


async def _create(request: Request, org_login: str | None) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=60)
    check_csrf(request, ctx, form.get("csrf_token"))
    if ctx.identity.account is None or not ctx.via_session:
        return to_login(request, ctx)
    svc = services(request)
    org = await run_in_threadpool(_org, request, ctx, org_login) if org_login else None
    errors = _form_errors(form)
    channel = field(form, "channel").strip() if org is None else ""
    if not errors:
        try:
            info, secret = await run_in_threadpool(
                lambda: tokens.create_token(
                    svc.db,
                    ctx.identity,
                    name=field(form, "name").strip(),
                    scopes=fields(form, "scopes"),
                    max_age=int(field(form, "expires_days")) * 24 * 3600,
                    org=org.login if org else None,
                    channel=channel or None,
                    fail_if_exists=True,
                    remote_addr=client_address(request),
                    hostname="web UI",
                )
            )
        except NotFound:
            errors["channel"] = f"There is no user or organization {channel!r}."
        except (BadRequest, Forbidden) as exc:
            key = "name" if "already exists" in exc.message else "channel" if channel else "scopes"
            errors[key] = exc.message[:1].upper() + exc.message[1:] + "."
    if errors:
        return await run_in_threadpool(
            lambda: _render(request, ctx, org, status=400, errors=errors, form=form)
        )
    owner = info.org or info.channel or ctx.identity.account.login
    minted = Minted(info, secret, owner, *channel_urls(base_url(request), secret, owner))
    return await run_in_threadpool(lambda: _render(request, ctx, org, minted=minted))


@router.post("/settings/access")
async def create_token(request: Request) -> Response:
    return await _create(request, None)


@router.post("/organization/{org}/settings/access")
async def create_org_token(request: Request, org: str) -> Response:
    return await _create(request, org)


async def _revoke(request: Request, org_login: str | None) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=5)
    check_csrf(request, ctx, form.get("csrf_token"))
    if ctx.identity.account is None or not ctx.via_session:
        return to_login(request, ctx)
    org = await run_in_threadpool(_org, request, ctx, org_login) if org_login else None
    token_id = field(form, "token")
    if not token_id:
        raise BadRequest("name the token to revoke")
    listed = await run_in_threadpool(tokens.list_tokens, services(request).db, ctx.identity)
    found = next((t for t in listed if t.public_id == token_id), None)
    if found is None or (org is not None and found.org != org.login):
        raise NotFound("no such token of yours (it may have been revoked already)")
    await run_in_threadpool(
        lambda: tokens.remove_token(services(request).db, ctx.identity, name=found.public_id, org=found.org)
    )
    back = f"/organization/{org.login}/settings/access" if org else "/settings/access"
    return done(request, ctx, back, f"The token {found.name} was revoked: it no longer works anywhere.")


@router.post("/settings/access/revoke")
async def revoke_token(request: Request) -> Response:
    return await _revoke(request, None)


@router.post("/organization/{org}/settings/access/revoke")
async def revoke_org_token(request: Request, org: str) -> Response:
    return await _revoke(request, org)
