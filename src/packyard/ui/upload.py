"""Uploading in the browser, `/upload` (docs/manage/admin.md, "Uploading in the browser"; seed 004).

One multipart form, any supported file: it goes through `core.services.receive.upload_form`, the same pipeline
as twine, curl and `/api/repo/OWNER` uploads (streamed to a temp blob and hashed on the way, parsed by the
server, checked by `core.permissions`, recorded with an event). Without JavaScript the browser posts the form and
gets a result page; packyard.js sends each chosen file as its own request with a progress bar and shows each
answer next to its file (it asks for JSON with `Accept: application/json`).

CSRF: the form's `csrf_token` field comes before the file part (the template puts it first; packyard.js appends
the file last), and the pipeline checks it on the fields that precede the file, before any file byte is stored.
A form whose file comes first, or without the token, or with another session's token, is a 403 and stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from packyard.core import formats, permissions
from packyard.core.errors import PackyardError, Unauthorized
from packyard.core.models import Account
from packyard.core.services import receive
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, finish, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

TYPE_NAMES = {
    "conda": "Conda package (.tar.bz2, .conda)",
    "bdist_wheel": "Python wheel (.whl)",
    "sdist": "Python source distribution (.tar.gz)",
    "cran_source_package": "R source package (.tar.gz)",
    "cran_binary_package": "R binary package (.zip, .tgz)",
    "ipynb": "Jupyter notebook (.ipynb)",
    "env": "Environment (environment.yml)",
    "project": "Project (.tar.gz)",
    "file": "Plain file (give a name and version)",
}


@dataclass(frozen=True)
class Result:
    filename: str
    ok: bool
    message: str
    url: str | None = None
    status: int = 200


def file_types() -> list[tuple[str, str]]:
    """The type menu: detection first, then conda (anaconda-client's own flow, taken here too) and every form
    `filetype` of the one-request upload."""
    values = [receive.AUTO_FILETYPE]
    if "conda" in formats.distribution_types():  # a server without the conda format does not offer it
        values.append("conda")
    values += [t for t in formats.filetypes() if t not in values]
    return [(receive.AUTO_FILETYPE, "Detect from the file")] + [(v, TYPE_NAMES.get(v, v)) for v in values[1:]]


def writable_owners(request: Request, ctx: PageContext) -> list[str]:
    """You, then the organizations you may create packages in (what `permissions.namespace_level` allows)."""
    me = ctx.identity.account
    if me is None:
        return []
    ids = ctx.identity.grants.writer_in
    with services(request).db.read() as session:
        orgs = (
            list(session.scalars(select(Account).where(Account.id.in_(ids)).order_by(Account.login_key)))
            if ids
            else []
        )
    return [me.login] + [
        o.login for o in orgs if permissions.namespace_level(ctx.identity, o) >= permissions.Permission.WRITE
    ]


def _form_page(
    request: Request,
    ctx: PageContext,
    *,
    owner: str,
    results: list[Result],
    values: dict[str, str],
    status: int = 200,
) -> Response:
    owners = writable_owners(request, ctx)
    if owner and owner not in owners:
        # e.g. the owner of a package you collaborate on (`/upload?owner=...`): the pipeline decides
        owners.append(owner)
    return page(
        request, ctx, "upload.html", status,
        owners=owners, owner=owner or (owners[0] if owners else ""), types=file_types(), results=results,
        values=values, max_bytes=services(request).settings.max_upload_bytes,
    )  # fmt: skip


@router.get("/upload")
def upload_page(request: Request, owner: str = Query("", max_length=100)) -> Response:
    ctx = page_context(request)
    if ctx.identity.account is None:
        return finish(request, RedirectResponse("/login?next=/upload", status_code=303), ctx)
    return _form_page(request, ctx, owner=owner, results=[], values={"label": "main"})


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/upload")
async def upload(request: Request) -> Response:
    ctx = await page_context_async(request)
    if ctx.identity.account is None:
        raise Unauthorized("sign in to upload")  # before a byte of the body is read
    svc = services(request)
    fields: dict[str, str] = {}

    def check_form(seen: dict[str, str]) -> None:
        check_csrf(request, ctx, seen.get("csrf_token"))
        fields.update(seen)

    failure: PackyardError | None = None
    try:
        done = await receive.upload_form(
            svc.db,
            svc.store,
            ctx.identity,
            request.headers.get("content-type", ""),
            request.stream(),
            max_file_bytes=svc.settings.max_upload_bytes,
            check_form=check_form,
        )
    except PackyardError as exc:
        failure, result = exc, Result("", False, exc.message, status=exc.status)
    except ClientDisconnect:
        result = Result("", False, "the upload was cut short: try again", status=400)
    else:
        url = f"/{done.owner}/{done.name}"
        message = (
            f"{done.basename} was already there (the same file): nothing changed."
            if done.identical
            else f"Uploaded {done.basename} to {done.owner}/{done.name} {done.version}."
        )
        result = Result(done.basename, True, message, url)
    if _wants_json(request):
        body: dict[str, Any] = {"ok": result.ok, "message": result.message}
        if result.url:
            body["url"] = result.url
        return finish(request, JSONResponse(body, status_code=result.status), ctx)
    if failure is not None and not fields:
        # Refused before the form was read (its CSRF token, a malformed body): the error page, not the form.
        raise failure
    values = {k: fields.get(k, "") for k in ("label", "filetype", "name", "version", "summary")}
    return await _render(request, ctx, fields.get("owner", ""), [result], values, result.status)


async def _render(
    request: Request, ctx: PageContext, owner: str, results: list[Result], values: dict[str, str], status: int
) -> Response:
    return await run_in_threadpool(
        lambda: _form_page(request, ctx, owner=owner, results=results, values=values, status=status)
    )
