"""Channels and labels: `/OWNER/labels` and the channel page `/OWNER/label/LABEL` (docs/ui.md).

Thin routes over `ui.channel_reads`, which asks `core.permissions` about every package it counts or lists. The
channel menu on the owner and package pages is a GET form to `/OWNER/labels?label=L`, which sends the browser on
to the channel page: it works without JavaScript (packyard.js only submits it when the choice changes).

`router` is included before the pages' `/OWNER/PACKAGE` catch-all, so `/OWNER/labels` is this page rather than
a package called `labels`, and `/OWNER/label/L` is a channel (as for conda, which needs that URL). The conda
documents under those URLs (`/OWNER/label/L/SUBDIR/repodata.json`) are the conda format's (`root_router`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

import packyard.ui.routes  # noqa: F401 - registers the `packyard_login` URL convertor the paths below use
from packyard.core import queries
from packyard.ui import channel_reads
from packyard.ui.install_lines import channel_instructions
from packyard.ui.render import page
from packyard.ui.security import finish, page_context
from packyard.web.deps import base_url, services

router = APIRouter(include_in_schema=False)

_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
"""What a label may be called (core.services.packages.validate_label): the only names the menu redirects to."""


@router.get("/{owner:packyard_login}/labels")
def labels_page(request: Request, owner: str, label: str = "") -> Response:
    ctx = page_context(request)
    with services(request).db.read() as session:
        account = queries.owner(session, owner)
        if label and _LABEL.fullmatch(label):  # the channel menu's choice: on to that channel's page
            target = f"/{quote(account.login)}/label/{quote(label)}"
            return finish(request, RedirectResponse(target, status_code=303), ctx)
        found = channel_reads.labels(session, ctx.identity, account)
        manage = channel_reads.label_management(session, ctx.identity, account)
    names = [info.name for info in found]
    base = base_url(request)
    return page(
        request,
        ctx,
        "labels.html",
        owner=account,
        labels=found,
        channel_labels=names,
        base=base,
        manage=manage,
    )


@router.get("/{owner:packyard_login}/label/{label}")
def channel_page(
    request: Request, owner: str, label: str, page_number: int = Query(1, alias="page", ge=1, le=100_000)
) -> Response:
    ctx = page_context(request)
    with services(request).db.read() as session:
        view = channel_reads.channel(session, ctx.identity, owner, label, page=page_number)
        names = channel_reads.label_names(session, ctx.identity, view.owner)
    lines = channel_instructions(
        base_url(request), view.owner.login, view.label, view.types, any_private=view.any_private
    )
    return page(request, ctx, "channel.html", view=view, channel_labels=names, lines=lines)
