"""Templates and user-written text.

Jinja2 with autoescaping on for every template (not only `.html`): any value a template prints is text unless
it went through `markdown()` here, which renders Markdown with raw HTML disabled and then sanitises the result
with nh3 (an allowlist of tags and attributes; links only http, https and mailto, marked nofollow/ugc). Two
layers on purpose: markdown-it-py already refuses `javascript:` links and escapes inline HTML, and nh3 would
still catch anything a future option lets through. reStructuredText descriptions (PyPI's
`Description-Content-Type: text/x-rst`) go through docutils with file insertion and raw HTML turned off, then the
same nh3 pass; plain text is shown as written, in a <pre>.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import nh3
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

from packyard import __version__
from packyard.core import permissions
from packyard.ui import assets, menu
from packyard.ui.forms import clear_flash, take_flash
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


# --- descriptions in other formats: reStructuredText and plain text -------------------------------------------

RST_TAGS = ALLOWED_TAGS | {"aside", "caption", "cite", "col", "colgroup", "figcaption", "figure", "section"}
RST_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
    "*": {"id"},  # footnotes and sections; prefixed (`USER_ID_PREFIX`): never one of the page's own ids
}
RST_CLASSES = {
    "aside": {"admonition", "attention", "caution", "danger", "error", "hint", "important", "note", "tip",
              "warning", "footnote", "footnote-list", "topic", "sidebar"},
    "p": {"admonition-title", "topic-title", "sidebar-title", "rubric"},
    "pre": {"literal-block", "doctest"},
    "span": {"literal"},
}  # fmt: skip
USER_ID_PREFIX = "user-content-"
"""Ids in user-written HTML get this prefix (and `#fragment` links with them): a description or notebook can
then never take an id the page itself uses (`#main`) or shadow a global in scripts (DOM clobbering)."""

_RST_SETTINGS = {
    "file_insertion_enabled": False,  # no `include`, no `csv-table :file:`, no `raw :file:`: nothing read from disk
    "raw_enabled": False,  # no `raw` directive: no HTML passed through
    "_disable_config": True,  # no docutils.conf from the server's working directory or home
    "report_level": 5,  # no system messages in the output
    "halt_level": 3,  # an error makes the whole text plain (`description`), as PyPI's readme_renderer does
    "syntax_highlight": "none",  # code as plain text: no pygments classes to style
    "doctitle_xform": False,  # the first title stays in the body
    "initial_header_level": 2,  # the page has the h1
    "embed_stylesheet": False,
    "stylesheet_path": "",
    "traceback": True,  # raise, never sys.exit()
    "strip_comments": True,
    "math_output": "HTML",
}
DESCRIPTION_TYPES = ("text/markdown", "text/x-rst", "text/plain")


def plain_text(text: str | None) -> str:
    """User-written Markdown as the words a reader sees, without markup (a one-line quote in a sentence)."""
    if not text:
        return ""
    return html.unescape(nh3.clean(_md.render(text), tags=set())).strip()


def _prefixed_fragment(tag: str, attribute: str, value: str) -> str | None:
    """nh3's `id_prefix` renames ids; links to them must follow."""
    if attribute == "href" and value.startswith("#"):
        return f"#{USER_ID_PREFIX}{value[1:]}"
    return value


@lru_cache(maxsize=128)
def _rst_html(text: str) -> str | None:
    """reStructuredText -> sanitised HTML, or None when docutils finds an error (the caller shows plain text).
    Cached: docutils is slow next to a page's budget, and the same description is shown again and again."""
    from docutils.core import publish_parts
    from docutils.utils import SystemMessage
    from docutils.writers import html5_polyglot

    settings = {**_RST_SETTINGS, "warning_stream": io.StringIO()}
    try:
        parts = publish_parts(text, writer=html5_polyglot.Writer(), settings_overrides=settings)
    except (SystemMessage, ValueError, NotImplementedError, RecursionError):
        return None
    return nh3.clean(
        str(parts["body"]),
        tags=RST_TAGS,
        attributes=RST_ATTRIBUTES,
        allowed_classes=RST_CLASSES,
        attribute_filter=_prefixed_fragment,
        id_prefix=USER_ID_PREFIX,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener ugc",
        strip_comments=True,
    )


def content_type(value: str | None, default: str = "text/markdown") -> str:
    """`text/markdown; charset=UTF-8; variant=GFM` -> `text/markdown`; a type we do not render -> text/plain."""
    if not value or not value.strip():
        return default
    base = value.split(";", 1)[0].strip().lower()
    return base if base in DESCRIPTION_TYPES else "text/plain"


def description(text: str | None, media_type: str = "text/markdown") -> Markup:
    """A package's description in its own format (PyPI's Description-Content-Type): Markdown, reStructuredText
    (docutils with file insertion and raw HTML off, then nh3), or plain text, shown as it was written."""
    if not text:
        return Markup("")
    if media_type == "text/x-rst":
        html = _rst_html(text)
        if html is not None:
            return Markup(f'<div class="rst">{html}</div>')  # noqa: S704 - sanitised by nh3 in _rst_html
    elif media_type != "text/plain":
        return markdown(text)
    return Markup('<pre class="plain-description">{}</pre>').format(text)


def file_url(owner: str, name: str, version: str, basename: str) -> str:
    """The browser's download URL of a file: ui/files.py's session-aware route, which every page links to because
    the protocol routes read no session cookie. A conda subdir stays a folder of the URL."""
    parts = [quote(owner, safe=""), quote(name, safe=""), "files", quote(version, safe="")]
    return "/" + "/".join(parts) + "/" + quote(basename, safe="/")


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
env.globals.update(
    flash=None, static=assets.url, version=__version__, type_names=TYPE_NAMES, file_url=file_url
)
env.globals.update(account_menu=menu.account_menu)  # the header's account menu (ui/menu.py)
env.filters.update(markdown=markdown, filesize=filesize, date=date, number=number, web_url=web_url)
env.filters["description"] = description


def may_change(request: Request, target: Any) -> bool:
    """Whether the caller of this page may change the package (write to it): the package tabs show "Settings"
    only then (ui/package_settings.py gives everyone else its 404)."""
    ctx: PageContext | None = getattr(request.state, "page_context", None)
    if ctx is None or ctx.identity.account is None:
        return False
    return permissions.can(ctx.identity, permissions.Permission.WRITE, target, via="web")


env.globals["may_change"] = may_change


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
        flash=take_flash(request),
        **values,
    )
    response = HTMLResponse(body, status_code=status)
    clear_flash(request, response)  # shown once
    return finish(request, response, ctx)
