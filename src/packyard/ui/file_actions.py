"""What the Files tab lets a package's writers do (docs/manage/filesets.md): act on the ticked files, remove a
version.

- `POST /OWNER/PACKAGE/files/change`: the ticked files (`file=VERSION/BASENAME`, repeated) and the button pressed
  (`action`): delete (typed confirmation: the owner's account name, as seed 001 asks), add a label, remove a
  label, copy to a label, move to a label. One call of `core.services.filesets.change_files`, the service of
  `POST /api/files/OWNER/NAME`: one transaction, so a locked label or a file gone meanwhile changes nothing.
- `POST /OWNER/PACKAGE/files/remove-version`: "Actions > Remove" of one version (typed confirmation: the version),
  `core.services.packages.delete_release` as `DELETE /api/release/OWNER/NAME/VERSION` (`anaconda remove`).

Both check the CSRF token before reading anything else, and the service asks `core.permissions`, so a forged POST
is refused whatever the page showed. A refusal the user can act on (a locked label, a label not on any of the
files) comes back as a message on the Files tab; a refusal of the caller (403, 404) and a wrong typed word (400)
are error pages, as for every form.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import packyard.ui.routes  # noqa: F401 - registers the `packyard_login` URL convertor the paths below use
from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.errors import BadRequest, Conflict
from packyard.core.permissions import Permission
from packyard.core.services import filesets
from packyard.core.services import packages as pkg_service
from packyard.ui.forms import confirm_page, confirmed, done, field, fields, read_form
from packyard.ui.package_reads import visible_package
from packyard.ui.security import check_csrf, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

DONE = {
    "delete": "Deleted {n} file{s}.",
    "add_label": "Added the label {label} to {n} file{s}.",
    "remove_label": "Removed the label {label} from {n} file{s}.",
    "copy": "Copied {n} file{s} to the label {label}.",
    "move": "Moved {n} file{s} to the label {label}.",
}


def files_path(owner: str, name: str) -> str:
    return f"/{quote(owner)}/{quote(name)}/files"


def back_to(form_back: str, owner: str, name: str) -> str:
    """The Files tab the form came from (its filters and page kept), never another page."""
    base = files_path(owner, name)
    return form_back if form_back == base or form_back.startswith(base + "?") else base


def parse_refs(values: list[str]) -> list[filesets.FileRef]:
    """`VERSION/BASENAME` as the checkboxes send them: a version has no `/`, a basename may (`noarch/x.conda`)."""
    refs = []
    for value in values:
        version, sep, basename = value.partition("/")
        if not sep or not version or not basename:
            raise BadRequest(f"{value!r} does not name a file (VERSION/BASENAME)")
        refs.append(filesets.FileRef(version, basename))
    return refs


def chosen_label(typed: str, picked: str) -> str:
    """A new label typed in the box wins over the one picked from the owner's labels."""
    return typed.strip() or picked.strip()


@router.post("/{owner:packyard_login}/{name}/files/change")
async def change_files(request: Request, owner: str, name: str) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=filesets.MAX_FILES + 10)
    check_csrf(request, ctx, form.get("csrf_token"))
    back = back_to(field(form, "back"), owner, name)
    action = field(form, "action")
    refs = parse_refs(fields(form, "file"))
    label = chosen_label(field(form, "new_label"), field(form, "label"))
    if action == "delete" and refs:
        account = await run_in_threadpool(_writable, request, ctx.identity, owner, name)
        if not confirmed(form, account):
            return confirm_page(
                request,
                ctx,
                title=f"Delete {len(refs)} file{'s' if len(refs) != 1 else ''}?",
                message=f"There is no undo for deleting a file. Type the account name {account} to delete:",
                action=f"{files_path(owner, name)}/change",
                expected=account,
                form=form,
                keep=("file", "action", "back"),
                items=[f"{r.version}/{r.basename}" for r in refs],
                back=back,
            )
    try:
        changed = await run_in_threadpool(
            filesets.change_files, services(request).db, ctx.identity, owner, name, refs, action, label
        )
    except (Conflict, BadRequest) as exc:  # the user can fix these: say so on the Files tab
        return done(request, ctx, back, exc.message, kind="error")
    n = changed.files
    text = DONE[changed.action].format(n=n, s="" if n == 1 else "s", label=changed.label)
    return done(request, ctx, back, text)


def _writable(request: Request, identity: Identity, owner: str, name: str) -> str:
    """Before asking for a typed word: the package's 404 if the caller may not see it, 403 if they may not write
    it (the service asks again when the word comes). Answers the owner's account name, spelled as the account
    spells it (the URL may differ in case): the word to type before deleting files."""
    with services(request).db.read() as session:
        pkg = visible_package(session, identity, owner, name)
        permissions.require(identity, Permission.WRITE, pkg, via="web")
        return pkg.owner.login


@router.post("/{owner:packyard_login}/{name}/files/remove-version")
async def remove_version(request: Request, owner: str, name: str) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=10)
    check_csrf(request, ctx, form.get("csrf_token"))
    back = back_to(field(form, "back"), owner, name)
    version = field(form, "version")
    if not version:
        raise BadRequest("choose the version to remove")
    if not confirmed(form, version):
        await run_in_threadpool(_writable, request, ctx.identity, owner, name)
        return confirm_page(
            request,
            ctx,
            title=f"Remove version {version}?",
            message=f"Every file of {owner}/{name} {version} is deleted; there is no undo.",
            action=f"{files_path(owner, name)}/remove-version",
            expected=version,
            form=form,
            keep=("version", "back"),
            button="Remove",
            back=back,
        )
    try:
        await run_in_threadpool(_remove_version, request, ctx.identity, owner, name, version)
    except (Conflict, BadRequest) as exc:
        return done(request, ctx, back, exc.message, kind="error")
    return done(request, ctx, files_path(owner, name), f"Removed version {version} and its files.")


def _remove_version(request: Request, identity: Identity, owner: str, name: str, version: str) -> None:
    """As `DELETE /api/release/...`, but a package the caller may not see is the Files tab's 404."""
    svc = services(request)
    with svc.db.read() as session:
        rel = queries.release(visible_package(session, identity, owner, name, with_files=True), version)
    pkg_service.delete_release(svc.db, identity, rel)
