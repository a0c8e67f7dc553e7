"""A notebook as one standalone HTML page with no script in it, made once, at upload time.

nbconvert's "basic" template (cells only: no require.js, no MathJax, no CDN) renders the notebook with
`sanitize_html=True`, so `application/javascript` outputs become empty and every markdown cell, raw cell and
HTML/markdown/SVG output goes through the `clean_html` filter. That filter is ours: nbconvert's own escapes
headings, paragraphs and images, which would make every notebook unreadable. The whole body then goes through
the same filter once more, so even template markup we did not foresee cannot carry a script. The page that
wraps it has inline CSS only, and the route serves it with `CONTENT_SECURITY_POLICY`, which forbids scripts.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from functools import cache
from typing import Any

import bleach

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox allow-downloads"
)
"""For the rendered page: no script of any origin, images only inline, nothing fetched from anywhere."""

_TAGS = frozenset(
    {
        *("a", "abbr", "acronym", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd"),
        *("del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4"),
        *("h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp"),
        *("small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot"),
        *("th", "thead", "tr", "tt", "u", "ul", "var"),
    }
)
_CODE_OPEN = re.compile(r"<(script|style|template|noscript|textarea|title)\b[^<>]{0,2000}>", re.IGNORECASE)
"""Elements whose text is code, not prose: removed whole (the sanitiser would otherwise keep their text)."""
_URL_NOISE = re.compile(r"[`\x00-\x20\x7f-\xa0\s]+")
_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_LOG = logging.getLogger("packyard.nbconvert")
_LOG.setLevel(logging.ERROR)  # nbconvert warns about every image without alt text
_local = threading.local()


def _url(value: str) -> str:
    """The URL as a browser reads it: bleach hands attribute values over with character references still in
    them (`da&#x09;ta:`), and browsers drop tabs and newlines anywhere in a URL."""
    return _URL_NOISE.sub("", html.unescape(value)).lower()


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """Which attributes survive; URLs are checked here and again by bleach's protocol list."""
    if name == "id":
        return not _UUID.match(value)  # nbconvert's random ids would make the page differ on every render
    if name in ("class", "title"):
        return True  # never `style`: bleach's CSS sanitiser checks properties, not values (`expression(...)`)
    if tag == "a" and name == "href":
        scheme = _SCHEME.match(_url(value))
        return scheme is None or scheme.group(1) in ("http", "https", "mailto")
    if tag == "img" and name == "src":
        url = _url(value)
        return url.startswith(("data:image/", "http:", "https:"))
    allowed = {
        "img": ("alt", "width", "height"),
        "td": ("colspan", "rowspan", "align"),
        "th": ("colspan", "rowspan", "align", "scope"),
        "ol": ("start",),
        "col": ("span",),
        "table": ("border",),
        "details": ("open",),
    }
    return name in allowed.get(tag, ())


def _cleaner() -> bleach.Cleaner:
    """bleach's Cleaner is not thread-safe; uploads are parsed in a thread pool, so one per thread."""
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = bleach.Cleaner(
            tags=_TAGS,
            attributes=_allowed_attribute,
            protocols=_PROTOCOLS,
            strip=True,
            strip_comments=True,
        )
        _local.cleaner = cleaner
    return cleaner


def clean_html(element: Any) -> str:
    """Untrusted HTML -> HTML without scripts, event handlers, javascript: URLs, frames, forms or styles."""
    text = element.decode("utf-8", "replace") if isinstance(element, bytes) else str(element)
    return _cleaner().clean(_drop_code(text))


def _drop_code(text: str) -> str:
    """Remove <script>...</script>, <style>...</style>... with their content, in one pass (no regex backtracking
    across the text: a page of unclosed `<script>` tags must not cost quadratic time)."""
    out: list[str] = []
    pos = 0
    unclosed: set[str] = set()
    for opening in _CODE_OPEN.finditer(text):
        tag = opening.group(1).lower()
        if opening.start() < pos or tag in unclosed:
            continue
        closing = re.compile(rf"</{tag}\s*>", re.IGNORECASE).search(text, opening.end())
        if closing is None:
            unclosed.add(tag)  # no later one can be closed either; the sanitiser strips the tags alone
            continue
        out.append(text[pos : opening.start()])
        pos = closing.end()
    out.append(text[pos:])
    return "".join(out)


def _exporter() -> Any:
    exporter = getattr(_local, "exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter  # slow to import: only when a notebook arrives

        exporter = HTMLExporter(
            template_name="basic", sanitize_html=True, filters={"clean_html": clean_html}, log=_LOG
        )
        _local.exporter = exporter
    return exporter


def render(notebook: Any, *, title: str, subtitle: str) -> bytes:
    """A validated `NotebookNode` -> the bytes of a complete, script-free HTML page."""
    # No warnings.catch_warnings() here: it swaps process-wide state, and uploads render in several threads.
    body, _resources = _exporter().from_notebook_node(notebook)
    return _page(clean_html(body), title, subtitle).encode("utf-8")


def _page(body: str, title: str, subtitle: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_css()}\n</style>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)} &middot; "
        '<a href="?download" download>download the notebook (.ipynb)</a></p></header>\n'
        f'<main class="notebook">\n{body}\n</main>\n</body>\n</html>\n'
    )


@cache
def _css() -> str:
    from pygments.formatters import HtmlFormatter

    highlight: str = HtmlFormatter(style="default").get_style_defs(".highlight")
    return _LAYOUT_CSS + highlight


_LAYOUT_CSS = """\
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0; }
header { background: #f5f5f5; border-bottom: 1px solid #ddd; padding: .5em 2em; }
header h1 { font-size: 1.3em; margin: .2em 0; } header p { margin: .2em 0; color: #555; }
main { max-width: 1100px; margin: 1em auto; padding: 0 1em; }
.cell { margin: .6em 0; } .prompt { color: #888; font: 12px monospace; }
.input_area { background: #f7f7f7; border: 1px solid #e0e0e0; border-radius: 3px; }
pre { margin: 0; padding: .4em .6em; overflow-x: auto; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; }
.output_area pre { background: none; } .output_stderr pre { background: #fdd; }
.output_area img { max-width: 100%; } .anchor-link { visibility: hidden; text-decoration: none; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .2em .5em; }
.ansi-red-fg { color: #e75c58; } .ansi-green-fg { color: #00a250; } .ansi-yellow-fg { color: #ddb62b; }
.ansi-blue-fg { color: #208ffb; } .ansi-bold { font-weight: bold; }
"""
