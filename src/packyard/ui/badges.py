"""README badges: `/OWNER/PACKAGE/badges/NAME.svg`, small two-part SVG images drawn here, and the Badges tab.

Why drawn here and not by a badge service: a private server's badges must not send its package names to another
host, and the access check must be the package page's (a private package's badge is the same 404 as a missing
package to someone who may not see it). The SVG is text we write ourselves: every value is XML-escaped and
stripped of characters XML forbids, the image has no script, style or link, and its response carries a CSP that
forbids scripts should someone open it directly. Widths come from a per-character table of Verdana at 11 px (the
font badges are drawn in); `textLength` then fits whatever font the viewer has into that width.

Caching: a strong ETag over the bytes (304 on `If-None-Match`), `public` with a short max-age for a public package
(shared caches and README proxies may keep it a minute), `private` and revalidated otherwise: the one cache
policy of web/serve.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from packyard.core import queries
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import Access, Package
from packyard.ui import package_reads
from packyard.ui.files import count_files, platform_of
from packyard.ui.package_reads import visible_package
from packyard.ui.render import page
from packyard.ui.security import page_context
from packyard.web.deps import base_url, services
from packyard.web.serve import cache_control

router = APIRouter(include_in_schema=False)

LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
"""What a label may be called (core.services.packages.validate_label)."""

BADGE_CSP = "default-src 'none'; sandbox"
"""An SVG opened as a document may run scripts; ours has none, and this says none may run."""
MAX_TEXT = 48
"""Characters of a badge's text; a longer value (a license text pasted whole) ends with an ellipsis."""

# Approximate advance widths of Verdana at 11 px, by groups of characters, to a tenth of a pixel. A badge only needs
# its boxes about right: `textLength` makes the text fill them exactly in whatever font the viewer has.
_WIDTH_GROUPS: dict[float, str] = {
    3.0: "ijl'",
    3.9: " .,:;!|f",
    4.3: "t()[]{}",
    4.7: "r-",
    5.0: 'I/\\`"',
    5.8: "csz*",
    6.0: "J",
    6.2: "L",
    6.3: "F",
    6.5: "aeky",
    6.6: "P",
    6.7: "bdghnopquvx",
    6.8: "TY",
    7.0: "0123456789_#$+<=>?^~",
    7.5: "ABKRSVXZ",
    7.7: "C",
    8.1: "U",
    8.3: "HN",
    8.5: "DG",
    8.7: "OQ",
    9.0: "w",
    9.4: "M",
    10.7: "m",
    11.0: "%@W&",
}
_WIDTHS = {char: width for width, chars in _WIDTH_GROUPS.items() for char in chars}
_OTHER = 7.0
"""Another letter (é, ß, ж...): about a digit's width."""
_WIDE = 11.0
"""From U+1100 on (Hangul, CJK, emoji...): a full em."""
_PADDING = 6
"""Pixels left and right of each half's text."""
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
"""Characters XML 1.0 does not allow, even escaped: one of them would make the whole image unreadable."""

LABEL_COLOR = "#3f4a45"
COLORS = {
    "version": "#1f5c45",
    "latest_release_date": "#56655d",
    "downloads": "#1f5c45",
    "platforms": "#2b5f7d",
    "license": "#9c4f0e",
}


def text_width(text: str) -> float:
    """The width in pixels `text` takes in Verdana 11 px."""
    return round(sum(_WIDTHS.get(char, _WIDE if ord(char) >= 0x1100 else _OTHER) for char in text), 1)


def clean(text: str) -> str:
    """A value as a badge shows it: one line, no character XML forbids, at most MAX_TEXT characters."""
    one_line = " ".join(_NOT_XML.sub("", text).split())
    return one_line if len(one_line) <= MAX_TEXT else one_line[: MAX_TEXT - 1].rstrip() + "…"


def svg(label: str, message: str, color: str) -> str:
    """A flat two-part badge, `label` on grey and `message` on `color` (a #rrggbb from COLORS)."""
    label, message = clean(label), clean(message)
    if not re.fullmatch(r"#[0-9a-f]{6}", color):
        raise ValueError(f"not a colour: {color!r}")
    lw, mw = text_width(label), text_width(message)
    left, right = lw + 2 * _PADDING, mw + 2 * _PADDING
    total = left + right
    title = escape(f"{label}: {message}", {'"': "&quot;"})
    label_x, message_x = left / 2, left + right / 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total:g}" height="20" role="img" '
        f'aria-label="{title}">'
        f"<title>{title}</title>"
        f'<clipPath id="round"><rect width="{total:g}" height="20" rx="3"/></clipPath>'
        f'<g clip-path="url(#round)">'
        f'<rect width="{left:g}" height="20" fill="{LABEL_COLOR}"/>'
        f'<rect x="{left:g}" width="{right:g}" height="20" fill="{color}"/>'
        f"</g>"
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{label_x:g}" y="14" textLength="{lw:g}" lengthAdjust="spacingAndGlyphs">{escape(label)}</text>'
        f'<text x="{message_x:g}" y="14" textLength="{mw:g}" lengthAdjust="spacingAndGlyphs">{escape(message)}</text>'
        f"</g></svg>"
    )


def compact(n: int) -> str:
    """A download count as badges show it: 999, 1k, 1.2k, 12k, 3.4M. Rounded down, so it never claims more."""
    if n < 1000:
        return str(max(n, 0))
    unit, suffix = next((u, s) for u, s in ((10**9, "G"), (10**6, "M"), (10**3, "k")) if n >= u)
    tenths = n * 10 // unit
    if tenths >= 100 or tenths % 10 == 0:
        return f"{n // unit}{suffix}"
    return f"{tenths // 10}.{tenths % 10}{suffix}"


# --- what each badge says --------------------------------------------------------------------------------------


def _latest_release_date(pkg: Package) -> str:
    latest = queries.latest_version(pkg)
    for rel in pkg.releases:
        if rel.version == latest:
            times = [f.uploaded_at for f in rel.files] or [rel.created_at]
            return max(times).astimezone(dt.UTC).strftime("%Y-%m-%d")
    return "none"


def _platforms(pkg: Package) -> str:
    found = {platform_of(f.package_type, f.attrs or {}) for rel in pkg.releases for f in rel.files}
    found.discard("")
    return " | ".join(sorted(found)) or "none"


def _downloads(pkg: Package) -> str:
    return compact(sum(f.ndownloads for rel in pkg.releases for f in rel.files))


@dataclass(frozen=True)
class Badge:
    name: str
    label: str
    value: Callable[[Package], str]
    alt: str


BADGES: dict[str, Badge] = {
    b.name: b
    for b in (
        Badge("version", "version", lambda p: queries.latest_version(p) or "none", "Latest version"),
        Badge("latest_release_date", "latest release", _latest_release_date, "Latest release date"),
        Badge("downloads", "downloads", _downloads, "Downloads"),
        Badge("platforms", "platforms", _platforms, "Platforms"),
        Badge("license", "license", lambda p: p.license or "unknown", "License"),
    )
}


def badge_svg(name: str, pkg: Package) -> str:
    badge = BADGES[name]
    return svg(badge.label, badge.value(pkg), COLORS[name])


# --- routes ----------------------------------------------------------------------------------------------------


def label_version_svg(session: Session, pkg: Package, label: str) -> str:
    """`version.svg?label=dev`: the highest version with a file in that label (a README can show the release
    candidate of `dev` beside the stable version of `main`)."""
    version = package_reads.latest_per_label(session, pkg).get(label, "none")
    return svg(f"{label} version", version, COLORS["version"])


@router.get("/{owner:packyard_login}/{name}/badges/{badge}.svg")
def badge_image(request: Request, owner: str, name: str, badge: str, label: str = "") -> Response:
    if badge not in BADGES:
        raise NotFound(f"no badge named {badge!r}: {', '.join(BADGES)}")
    if label and (badge != "version" or not LABEL.fullmatch(label)):
        raise BadRequest(
            "only version.svg takes a label, and a label is 1-100 letters, digits, '_', '.' or '-'"
        )
    with services(request).db.read() as session:
        ident = page_context(request).identity
        if label:
            pkg = visible_package(session, ident, owner, name)
            body = label_version_svg(session, pkg, label).encode()
        else:
            pkg = visible_package(session, ident, owner, name, with_files=True)
            body = badge_svg(badge, pkg).encode()
        public = pkg.access == Access.PUBLIC
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control(public),
        "Content-Security-Policy": BADGE_CSP,
        "X-Content-Type-Options": "nosniff",
    }
    if not public:
        headers["Vary"] = "Cookie, Authorization"  # who is asking decides between the image and a 404
    match = request.headers.get("if-none-match", "")
    if match.strip() == "*" or etag in match:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="image/svg+xml", headers=headers)


@dataclass(frozen=True)
class Shown:
    """A badge on the Badges tab: the image's URL, and the Markdown and HTML to paste into a README."""

    name: str
    alt: str
    path: str
    """The image on this site, for the tab itself (whatever host name the visitor used)."""
    url: str
    markdown: str
    html: str


def shown(base: str, pkg: Package) -> list[Shown]:
    page_path = f"/{quote(pkg.owner.login, safe='')}/{quote(pkg.name, safe='')}"
    page_url = base + page_path
    out = []
    for b in BADGES.values():
        path = f"{page_path}/badges/{b.name}.svg"
        url = base + path
        markdown = f"[![{b.alt}]({url})]({page_url})"
        html = f'<a href="{page_url}"><img src="{url}" alt="{b.alt}"></a>'
        out.append(Shown(b.name, b.alt, path, url, markdown, html))
    return out


@router.get("/{owner:packyard_login}/{name}/badges")
def badges_tab(request: Request, owner: str, name: str) -> Response:
    ctx = page_context(request)
    with services(request).db.read() as session:
        pkg = visible_package(session, ctx.identity, owner, name)
        nfiles = count_files(session, pkg.id)
        items = shown(base_url(request), pkg)
    return page(
        request, ctx, "badges.html", pkg=pkg, owner=pkg.owner, badges=items, nfiles=nfiles, tab="badges"
    )
