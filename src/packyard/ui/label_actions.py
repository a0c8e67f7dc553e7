"""What `/OWNER/labels` lets the owner's administrators do (docs/manage/filesets.md): create, copy, rename,
lock, unlock and remove a label.

Each route is a call of the `core.services.labels` function behind the REST API's `/api/channels/...` (and so
behind `anaconda label --copy/--remove`, `anaconda move`, `anaconda copy`), which asks `core.permissions` and
refuses every change to a locked label with a message naming the lock.

A label exists only while files carry it, on anaconda.org as here: `anaconda label` has no "create", and a label
comes into being when a file is uploaded, copied or moved to it. So "create" puts the new label on the files of
one package (or one version of it), as `POST /api/channels/OWNER/LABEL {"package": ..., "version": ...}` does.

The page offers the forms only to callers the permission function lets manage the owner's labels (ADMIN on the
namespace); the routes check the CSRF token first and the services check the permission, so a forged POST changes
nothing. A refusal the user can act on (a locked label, a name already taken, no such package) comes back as a
message on the labels page.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import packyard.ui.routes  # noqa: F401 - registers the `packyard_login` URL convertor the paths below use
from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict, NotFound
from packyard.core.models import Account, Label
from packyard.core.permissions import Permission
from packyard.core.services import labels as label_service
from packyard.ui.forms import confirm_page, confirmed, done, field, read_form
from packyard.ui.security import PageContext, check_csrf, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

ACTIONS = ("copy", "rename", "lock", "unlock", "remove")


def labels_path(owner: str) -> str:
    return f"/{quote(owner)}/labels"


async def _form(request: Request) -> tuple[PageContext, FormData]:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=10)
    check_csrf(request, ctx, form.get("csrf_token"))
    return ctx, form


def _account(db: Database, owner: str) -> Account:
    with db.read() as session:
        return queries.owner(session, owner)


def _may_manage(db: Database, ident: Identity, owner: str) -> None:
    """Before asking for a typed word: 403 unless the caller may manage the owner's labels (the service asks
    again when the word comes)."""
    permissions.require(ident, Permission.ADMIN, _account(db, owner), via="web")


def create(db: Database, ident: Identity, owner: str, label: str, package: str, version: str) -> int:
    if not label:
        raise BadRequest("type the new label's name")
    if not package:
        raise BadRequest("choose the package whose files get the label: a label exists only on files")
    account = _account(db, owner)
    permissions.require(
        ident, Permission.ADMIN, account, via="web"
    )  # before saying anything about its labels
    with db.read() as session:
        exists = session.scalar(select(Label.id).where(Label.owner_id == account.id, Label.name == label))
    if exists is not None:
        raise Conflict(f"the label {label!r} exists already: use the Files tab to add files to it")
    return label_service.add_label(db, ident, account, label, package, version or None)


def act(db: Database, ident: Identity, owner: str, label: str, action: str, target: str) -> str:
    """One label action through its service; answers the message for the page."""
    account = _account(db, owner)
    if action in ("copy", "rename") and not target:
        raise BadRequest(f"type the label to {action} {label!r} to")
    if action == "copy":
        n = label_service.copy_label(db, ident, account, label, target)
        return f"Copied {n} file{'' if n == 1 else 's'} from {label} to {target}."
    if action == "rename":
        label_service.rename_label(db, ident, account, label, target)
        return f"Renamed the label {label} to {target}."
    if action in ("lock", "unlock"):
        label_service.set_locked(db, ident, account, label, action == "lock")
        return f"The label {label} is {action}ed." if action == "lock" else f"The label {label} is unlocked."
    label_service.remove_label(db, ident, account, label)
    return f"Removed the label {label}; its files keep their other labels."


@router.post("/{owner:packyard_login}/labels/new")
async def create_label(request: Request, owner: str) -> Response:
    ctx, form = await _form(request)
    label = field(form, "name").strip()
    package, version = field(form, "package").strip(), field(form, "version").strip()
    try:
        n = await run_in_threadpool(
            create, services(request).db, ctx.identity, owner, label, package, version
        )
    except (Conflict, BadRequest, NotFound) as exc:
        return done(request, ctx, labels_path(owner), exc.message, kind="error")
    return done(
        request, ctx, labels_path(owner), f"Created the label {label} on {n} file{'' if n == 1 else 's'}."
    )


async def label_action(request: Request, owner: str, label: str) -> Response:
    """`POST /OWNER/labels/LABEL/ACTION`: one route per action (the path names it; registered below)."""
    action = request.url.path.rsplit("/", 1)[-1]
    ctx, form = await _form(request)
    if action == "remove" and not confirmed(form, label):
        await run_in_threadpool(_may_manage, services(request).db, ctx.identity, owner)
        return confirm_page(
            request,
            ctx,
            title=f"Remove the label {label}?",
            message=f"Every file loses the label {label} (the files stay, with their other labels); "
            f"the channel {owner}/label/{label} disappears.",
            action=f"{labels_path(owner)}/{quote(label)}/remove",
            expected=label,
            button="Remove",
            back=labels_path(owner),
        )
    target = field(form, "to").strip()
    try:
        message = await run_in_threadpool(
            act, services(request).db, ctx.identity, owner, label, action, target
        )
    except (Conflict, BadRequest) as exc:
        return done(request, ctx, labels_path(owner), exc.message, kind="error")
    return done(request, ctx, labels_path(owner), message)


for _action in ACTIONS:
    router.add_api_route(
        f"/{{owner:packyard_login}}/labels/{{label}}/{_action}",
        label_action,
        methods=["POST"],
        name=f"label_{_action}",
    )
