"""Mirrors in the browser (docs/mirrors.md, docs/ui.md "Mirrors"): the "New mirror" form, and a mirror
organization's settings tab, where its administrators change its upstream, rules, TTL and access, pre-fetch
packages, and delete it.

- `/organizations/mirror`: the form (reached from account menu > Organizations and from the dashboard). It
  creates organization NAME, the caller its owner, whose channel for the format proxies the upstream.
- `/organization/ORG/settings/mirror`: one card per format the organization mirrors, for its administrators
  (members get the 403 of the other administrators' tabs, everyone else the 404 of a missing organization).
- The owner page `/ORG` shows the "Mirror of UPSTREAM" banner (ui/mirror_reads.py, ui/catalog.py).

Thin routes: every change is core/mirrors/service.py's `create`, `update`, `delete` and `sync`, the functions
behind `POST/PATCH/DELETE /api/mirrors/NAME` and `POST /api/mirrors/NAME/sync`, which validate the input and ask
core/permissions.py themselves. A refusal about what was typed (a bad URL, a bad rule, a taken name) shows the form
again with the service's message and what was typed; never a 500. Pre-fetching queues a sync (a node runs it:
core/mirrors/syncs.py); the tab lists each mirror's latest syncs with their state, so a refresh shows how one goes
and why one failed (a package upstream does not have, a name the rules refuse, an unreachable upstream).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import packyard.ui.routes  # noqa: F401 - registers the `packyard_login` URL convertor the paths below use
from packyard.core import permissions
from packyard.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PackyardError,
)
from packyard.core.mirrors import service as mirrors
from packyard.core.mirrors.service import MirrorInfo
from packyard.core.models import Account
from packyard.ui import mirror_reads
from packyard.ui.forms import confirm_page, confirmed, done, field, read_form
from packyard.ui.org_settings import may_admin, org_page, settings_url, to_login, visible_org
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

NEW_URL = "/organizations/mirror"
DEFAULT_UPSTREAMS = {"pypi": "https://pypi.org/simple/", "conda": "https://conda.anaconda.org/conda-forge/"}
"""Placeholders only: the form never fills an upstream in for the user."""
FORM_ERRORS = (BadRequest, Conflict, Forbidden, NotFound)
"""What a service says about the input: shown on the form, with its status."""
_INTEGER = re.compile(r"-?\d{1,12}")


def sentence(exc: PackyardError) -> str:
    """A service's message as a sentence for the page, with the field names the form shows."""
    text = exc.message[:1].upper() + exc.message[1:] + ("" if exc.message.endswith(".") else ".")
    return re.sub(r"^Ttl\b", "TTL", text)


def rules_in(text: str) -> list[str]:
    """One rule per line, as the form's boxes ask; blank lines and surrounding spaces are dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def ttl_in(text: str) -> int | str:
    """The TTL box as a number when it is one; anything else goes to the service as typed, which says what is
    wrong with it (the one place that decides what a TTL may be)."""
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else text


def _values(form: FormData | None, info: MirrorInfo | None = None) -> dict[str, str]:
    """What the form's fields show: what was typed, else the mirror as it is, else the defaults."""
    if form is not None:
        keys = ("name", "format", "upstream", "include", "exclude", "ttl", "public", "packages", "subdirs")
        values = {key: field(form, key) for key in keys}
        values["deps"] = "1" if field(form, "deps") else ""
        return values
    if info is not None:
        return {
            "upstream": info.upstream,
            "include": "\n".join(info.include),
            "exclude": "\n".join(info.exclude),
            "ttl": str(info.ttl),
            "public": "public" if info.public else "private",
            "packages": "",
            "subdirs": "",
            "deps": "1",
        }
    return {
        "name": "",
        "format": "pypi",
        "upstream": "",
        "include": "",
        "exclude": "",
        "ttl": str(mirrors.DEFAULT_TTL),
        "public": "public",
    }


# --- the "New mirror" form --------------------------------------------------------------------------------------


def _new_page(
    request: Request,
    ctx: PageContext,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return page(
        request,
        ctx,
        "mirror_new.html",
        status,
        formats=mirror_reads.supported_formats(),
        format_names=mirror_reads.FORMAT_NAMES,
        placeholders=DEFAULT_UPSTREAMS,
        may_create=permissions.is_unrestricted(ctx.identity),
        max_ttl=mirrors.MAX_TTL,
        error=error,
        values=values or _values(None),
    )


@router.get(NEW_URL)
def new_mirror_page(request: Request) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    return _new_page(request, ctx)


@router.post(NEW_URL)
async def create_mirror(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=12)
    check_csrf(request, ctx, form.get("csrf_token"))
    if ctx.identity.account is None:
        return to_login(request, ctx)
    values = _values(form)
    name = values["name"].strip()
    if not name:
        return await run_in_threadpool(
            _new_page, request, ctx, 400, "Enter a name for the mirror: it becomes its organization.", values
        )
    body: dict[str, Any] = {
        "format": values["format"],
        "upstream": values["upstream"],
        "include": rules_in(values["include"]),
        "exclude": rules_in(values["exclude"]),
        "public": values["public"] != "private",
    }
    if values["ttl"].strip():
        body["ttl"] = ttl_in(values["ttl"])
    try:
        info = await run_in_threadpool(mirrors.create, services(request).db, ctx.identity, name, body)
    except FORM_ERRORS as exc:
        return await run_in_threadpool(_new_page, request, ctx, exc.status, sentence(exc), values)
    return done(
        request,
        ctx,
        f"/{quote(info.name)}",
        f"Mirror {info.name} created: its {mirror_reads.FORMAT_NAMES.get(info.format, info.format)} index proxies "
        f"{info.upstream}.",
    )


# --- a mirror organization's settings tab ----------------------------------------------------------------------


def _administered(request: Request, ctx: PageContext, login: str) -> Account:
    """The organization, for its administrators only: members get 403 (as on the account tab), others 404."""
    org = visible_org(request, ctx, login)
    if not may_admin(ctx, org):
        raise Forbidden(f"only the owners of {org.login} may change its mirror")
    return org


def _settings_view(
    request: Request,
    ctx: PageContext,
    org: Account,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed: tuple[str, FormData] | None = None,
) -> Response:
    """One card per mirrored format; `typed` (format, form) keeps what was typed into the form that failed."""
    with services(request).db.read() as session:
        found = mirror_reads.mirrors_of(session, org)
        recent = {info.format: mirrors.syncs_of(session, org, info.id) for info in found}
    if not found:
        raise NotFound(f"{org.login} is not a mirror: create one at {NEW_URL}")
    errors = dict(errors or {})
    shown = {f"{info.format}-{form}" for info in found for form in ("edit", "sync")}
    for key in [k for k in errors if k not in shown]:  # a forged format: say it above the cards
        errors["general"] = errors.pop(key)
    cards = []
    for info in found:
        values = _values(None, info)
        if typed is not None and typed[0] == info.format:
            values = {**values, **{k: v for k, v in _values(typed[1]).items() if k in values}}
        cards.append((info, values))
    return org_page(
        request,
        ctx,
        org,
        "org_mirror.html",
        "mirror",
        status,
        cards=cards,
        syncs=recent,
        errors=errors,
        format_names=mirror_reads.FORMAT_NAMES,
        ttl_text=mirror_reads.ttl_text,
        when=mirror_reads.when,
        max_ttl=mirrors.MAX_TTL,
    )


@router.get("/organization/{login:packyard_login}/settings/mirror")
def mirror_settings(request: Request, login: str) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return to_login(request, ctx)
    return _settings_view(request, ctx, _administered(request, ctx, login))


async def _form_for(request: Request, login: str) -> tuple[PageContext, FormData, Account, str]:
    """Every settings form's start: CSRF first, then the organization (for its administrators), then which of
    its mirrors the form is about."""
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=12)
    check_csrf(request, ctx, form.get("csrf_token"))
    org = await run_in_threadpool(_administered, request, ctx, login)
    return ctx, form, org, field(form, "format").strip()


@router.post("/organization/{login:packyard_login}/settings/mirror")
async def save_mirror(request: Request, login: str) -> Response:
    """Upstream, rules, TTL and access: `PATCH /api/mirrors/NAME`'s service, every field sent."""
    ctx, form, org, fmt = await _form_for(request, login)
    changes: dict[str, Any] = {
        "upstream": field(form, "upstream"),
        "include": rules_in(field(form, "include")),
        "exclude": rules_in(field(form, "exclude")),
        "ttl": ttl_in(field(form, "ttl")),
        "public": field(form, "public") != "private",
    }
    try:
        await run_in_threadpool(mirrors.update, services(request).db, ctx.identity, org.login, fmt, changes)
    except FORM_ERRORS as exc:
        errors = {f"{fmt}-edit": sentence(exc)}
        return await run_in_threadpool(_settings_view, request, ctx, org, exc.status, errors, (fmt, form))
    return done(request, ctx, settings_url(org, "mirror"), f"The {fmt} mirror's settings were saved.")


@router.post("/organization/{login:packyard_login}/settings/mirror/sync")
async def prefetch(request: Request, login: str) -> Response:
    """Pre-fetch packages (and their dependencies): `POST /api/mirrors/NAME/sync`'s service."""
    ctx, form, org, fmt = await _form_for(request, login)
    svc = services(request)
    names = rules_in(field(form, "packages"))
    deps = bool(field(form, "deps"))
    if not names:
        errors = {f"{fmt}-sync": "Enter the packages to pre-fetch, one per line."}
        return await run_in_threadpool(_settings_view, request, ctx, org, 400, errors, (fmt, form))
    body: dict[str, object] = {"packages": names, "deps": deps}
    if subdirs := field(form, "subdirs").split():
        body["subdirs"] = subdirs  # the service refuses them for formats other than conda
    try:
        queued = await run_in_threadpool(mirrors.sync, svc.db, ctx.identity, org.login, fmt, body)
    except FORM_ERRORS as exc:
        errors = {f"{fmt}-sync": sentence(exc)}
        return await run_in_threadpool(_settings_view, request, ctx, org, exc.status, errors, (fmt, form))
    runner = getattr(request.app.state, "sync_runner", None)
    if runner is not None:
        runner.wake()
    return done(
        request,
        ctx,
        settings_url(org, "mirror"),
        f"Pre-fetch queued (sync {queued.id}): the server fetches the packages now. "
        "Refresh this page to see how it goes.",
    )


@router.post("/organization/{login:packyard_login}/settings/mirror/delete")
async def delete_mirror(request: Request, login: str) -> Response:
    """Typed name (the organization's), then `DELETE /api/mirrors/NAME`'s service; the cached packages stay."""
    ctx, form, org, fmt = await _form_for(request, login)
    if not confirmed(form, org.login):
        return await run_in_threadpool(
            lambda: confirm_page(
                request,
                ctx,
                title=f"Delete the {fmt} mirror of {org.login}?",
                message=(
                    f"{org.login} stops proxying its upstream. The packages it cached stay in {org.login} as "
                    "ordinary packages, and it accepts uploads again. Type the organization's name."
                ),
                action=f"/organization/{quote(org.login)}/settings/mirror/delete",
                expected=org.login,
                form=form,
                keep=["format"],
                back=settings_url(org, "mirror"),
                button="Delete the mirror",
            )
        )
    await run_in_threadpool(mirrors.delete, services(request).db, ctx.identity, org.login, fmt)
    return done(
        request,
        ctx,
        f"/{quote(org.login)}",
        f"The {fmt} mirror of {org.login} was deleted; the packages it cached stay in {org.login}.",
    )
