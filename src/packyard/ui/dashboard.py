"""Dashboards and notifications: `/` for a signed-in user, `/dashboard/ORG`, `/notifications`.

Thin routes again: what may be seen is decided by core.permissions (`can_see_namespace_activity`,
`can_see_event`, `can_see_notifications`), the feed by ui.activity, the notifications by
core.services.notifications. A dashboard that does not exist and one the caller may not read give the same 404;
anonymous callers are sent to sign in first, whatever the name (so the redirect tells nothing either).

Notifications are marked read by a POST form ("Mark all as read", CSRF-checked), never by looking: a GET must
not change anything (browsers and proxies prefetch pages), and a notification that arrives while the page is open
stays unread, because the form carries the newest serial the page showed.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool

from packyard.core import permissions, queries
from packyard.core.errors import NotFound
from packyard.core.models import AccountKind, Group
from packyard.core.services import notifications
from packyard.ui import activity, news, reads
from packyard.ui.forms import read_form
from packyard.ui.render import page
from packyard.ui.security import PageContext, check_csrf, finish, page_context, page_context_async
from packyard.web.deps import services

router = APIRouter(include_in_schema=False)

PACKAGES_SHOWN = 10
NOTES_PER_PAGE = 30


def _to_login(request: Request, ctx: PageContext) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return finish(request, RedirectResponse(f"/login?next={quote(target)}", status_code=303), ctx)


def _notes(
    session: Session, ctx: PageContext, member_of: list[str], *, before: int | None = None, limit: int
) -> tuple[list[activity.Entry], int | None]:
    """Notifications as feed entries (newest first) and the serial of the next older page."""
    events, older = notifications.recent(session, ctx.identity, before=before, limit=limit)
    actors = activity.actors_of(session, events)
    entries = [
        activity.Entry(
            e.serial,
            e.at,
            e.kind,
            activity.notification_sentence(e, actors.get(e.actor_id or 0), member_of=member_of),
            events=[e],
        )
        for e in events
    ]
    return entries, older


def home(request: Request, ctx: PageContext, before: int | None) -> Response:
    """The signed-in half of `/`: your packages and your organizations', their activity, your notifications."""
    ident = ctx.identity
    me = ident.account
    assert me is not None
    with services(request).db.read() as session:
        orgs = list(reads.organizations(session, ident.grants.member_of))
        namespaces = [me, *orgs]
        packages = reads.of_owners(session, ident, {a.id for a in namespaces}, limit=PACKAGES_SHOWN)
        feed = activity.feed(session, ident, namespaces, home=me.login, before=before)
        notes: list[activity.Entry] = []
        unread: int | None = None  # None: this credential may not read them (an organization's token)
        if permissions.can_see_notifications(ident, me):
            unread = notifications.unread_count(session, ident)
            if unread:
                notes, _ = _notes(session, ctx, [o.login for o in orgs], limit=min(unread, 5))
                notes = [n for n in notes if n.serial > me.notifications_seen_serial]
        recent = reads.recent(session, ident, limit=8)
        announced = news.dashboard_news(session, ident, namespaces)  # release announcements (ui/news.py)
    return page(
        request, ctx, "dashboard.html",
        subject=me, personal=True, orgs=orgs, packages=packages, feed=feed, notes=notes, unread=unread,
        groups=[], recent=recent, before=before, admin=False, news=announced,
    )  # fmt: skip


@router.get("/dashboard")
def dashboard_root(request: Request) -> Response:
    """anaconda.org's `/dashboard`: yours is the home page."""
    ctx = page_context(request)
    return finish(request, RedirectResponse("/", status_code=303), ctx)


@router.get("/dashboard/{login}")
def namespace_dashboard(
    request: Request, login: str, before: int | None = Query(None, ge=1, le=2**62)
) -> Response:
    """An organization's dashboard ("Switch To"): its packages, its activity, its members."""
    ctx = page_context(request)
    ident = ctx.identity
    if ident.account is None:
        return _to_login(request, ctx)
    if login.lower() == ident.account.login_key:
        return finish(request, RedirectResponse("/", status_code=303), ctx)
    with services(request).db.read() as session:
        try:
            owner = queries.owner(session, login)
        except NotFound:
            owner = None
        if owner is None or not permissions.can_see_namespace_activity(ident, owner):
            raise NotFound(f"no dashboard for {login!r}")
        packages = reads.of_owners(session, ident, {owner.id}, limit=PACKAGES_SHOWN)
        feed = activity.feed(session, ident, [owner], home=owner.login, before=before)
        groups: list[Group] = []
        if owner.kind == AccountKind.ORG and permissions.is_member(ident, owner):
            groups = list(
                session.scalars(
                    select(Group)
                    .options(selectinload(Group.members))
                    .where(Group.org_id == owner.id)
                    .order_by(Group.name)
                )
            )
    return page(
        request, ctx, "dashboard.html",
        subject=owner, personal=False, orgs=[], packages=packages, feed=feed, notes=[], unread=0, groups=groups,
        recent=[], before=before, admin=permissions.can(ident, permissions.Permission.ADMIN, owner),
    )  # fmt: skip


@router.get("/notifications")
def notifications_page(request: Request, before: int | None = Query(None, ge=1, le=2**62)) -> Response:
    ctx = page_context(request)
    ident = ctx.identity
    me = ident.account
    if me is None:
        return _to_login(request, ctx)
    if not permissions.can_see_notifications(ident, me):
        raise NotFound("notifications are read with your own session, not with this token")
    with services(request).db.read() as session:
        orgs = [o.login for o in reads.organizations(session, ident.grants.member_of)]
        notes, older = _notes(session, ctx, orgs, before=before, limit=NOTES_PER_PAGE)
    seen = me.notifications_seen_serial
    # "Mark all as read" covers what this first page shows, up to its newest notification.
    newest = notes[0].serial if notes and before is None and notes[0].serial > seen else 0
    return page(
        request, ctx, "notifications.html", notes=notes, older=older, before=before, seen=seen, newest=newest
    )


@router.post("/notifications/read")
async def mark_read(request: Request) -> Response:
    ctx = await page_context_async(request)
    form = await read_form(request, max_fields=5)
    check_csrf(request, ctx, form.get("csrf_token"))
    if ctx.identity.account is None:
        return _to_login(request, ctx)
    up_to = form.get("up_to")
    serial = int(up_to) if isinstance(up_to, str) and up_to.isdigit() and len(up_to) < 19 else 0
    await run_in_threadpool(notifications.mark_read, services(request).db, ctx.identity, serial)
    return finish(request, RedirectResponse("/notifications", status_code=303), ctx)
