"""Templates and user-written text.

Jinja2 with autoescaping on for every template (not only `.html`): any value a template prints is text unless
it went through `markdown()` here, which renders Markdown with raw HTML disabled and then sanitises the result
with nh3 (an allowlist of tags and attributes; links only http, https and mailto, marked nofollow/ugc). Two
layers on purpose: markdown-it-py already refuses `javascript:` links and escapes inline HTML, and nh3 would
still catch anything a future option lets through.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import nh3
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

from packyard import __version__
from packyard.ui import assets, menu
from packyard.ui.security import PageContext, csrf_token, finish
from packyard.web.deps import services

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    "code": {"class"},
}


def markdown(text: str | None) -> Markup:
    """User-written Markdown as safe HTML: rendered without raw HTML, then sanitised by nh3."""
    if not text:
        return Markup("")
    html = _md.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener ugc",
        strip_comments=True,
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def web_url(value: str | None) -> str | None:
    """A URL from package metadata, if it is one a link may point to (http/https); None otherwise."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def filesize(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def date(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d") if value else ""


def number(n: int | None) -> str:
    return f"{n or 0:,}"


TYPE_NAMES = {
    "conda": "conda",
    "pypi": "PyPI",
    "r": "R",
    "ipynb": "notebook",
    "env": "environment",
    "project": "project",
    "file": "file",
}

env = Environment(
    loader=PackageLoader("packyard.ui", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals.update(static=assets.url, version=__version__, type_names=TYPE_NAMES)
env.globals.update(account_menu=menu.account_menu)  # the header's account menu (ui/menu.py)
env.filters.update(markdown=markdown, filesize=filesize, date=date, number=number, web_url=web_url)


def page(request: Request, ctx: PageContext, template: str, status: int = 200, **values: Any) -> Response:
    """Render a page inside the layout, with the caller, a CSRF token for its forms and the security headers."""
    ident = ctx.identity
    body = env.get_template(template).render(
        request=request,
        me=ident.account,
        via_session=ctx.via_session,
        csrf_token=lambda: csrf_token(request, ctx),  # lazy: only pages with a form set the cookie
        path=request.url.path,
        signup_open=services(request).settings.allow_signup,
        **values,
    )
    return finish(request, HTMLResponse(body, status_code=status), ctx)
