"""What a package page shows beyond the common parts, per package type: notebooks, environments, projects.

- A notebook is shown inside the site's layout. The page rendered at upload time (formats/notebook/render.py,
  already sanitised by bleach) carries inline CSS and is built for a page of its own; here its body is cut out
  and cleaned again with nh3: no `style` attribute (the site's CSP has no 'unsafe-inline', so the browser would
  refuse them anyway), classes only from nbconvert's and pygments' vocabulary (styled by packyard.css), ids
  prefixed, images only `data:` (nothing is fetched from another host), links only http(s)/mailto. The result is
  cached by the stored page's sha256: the same bytes always give the same HTML.
- An environment shows its YAML (escaped by the template, never parsed into markup) and the commands that create
  it from this server.
- A project shows its revisions, the files of one revision (the archive's listing, kept at upload) and the
  package's history from the event log.

`?version=V` on the package page picks the version these sections show (the latest by default), so every
revision and notebook version has a URL and the page works without JavaScript. The package's visibility was
decided by the caller (`package_reads.visible_package`); everything here is about a package the caller may see.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import nh3
from fastapi import Request
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core.errors import NotFound
from packyard.core.models import Access, Account, Event, File, Package, Release
from packyard.core.storage import BlobStore
from packyard.ui import install_lines, package_reads
from packyard.ui.render import USER_ID_PREFIX, content_type, file_url
from packyard.web.deps import base_url, services

NOTEBOOK, ENVIRONMENT, PROJECT = "ipynb", "env", "project"
MAX_NOTEBOOK_HTML = 8 * 1024 * 1024
"""A rendered notebook larger than this is not inlined (the page would be slow to load on a phone); the page links
the standalone rendering instead."""
MAX_ENV_BYTES = 1024 * 1024
MAX_PROJECT_FILES_SHOWN = 500
HISTORY_EVENTS = 50


# --- the notebook's HTML, sanitised for the site's layout ------------------------------------------------------

_NB_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
_NB_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "col": {"span"},
    "details": {"open"},
    "*": {"id", "class", "title"},
}
_NB_CLASSES = frozenset(
    {
        *("cell", "border-box-sizing", "text_cell", "code_cell", "rendered", "unrendered", "inner_cell"),
        *("text_cell_render", "rendered_html", "anchor-link", "input", "prompt", "input_prompt"),
        *("output_prompt", "input_area", "highlight", "output_wrapper", "output", "output_area"),
        *("output_subarea", "output_stream", "output_stdout", "output_stderr", "output_text", "output_error"),
        *("output_execute_result", "output_html", "output_svg", "output_png", "output_jpeg"),
        *("output_markdown", "output_result"),
        *("output_latex", "output_javascript", "unconfined", "dataframe", "ansi-bold", "ansi-underline"),
    }
)
_NB_CLASS_PATTERN = re.compile(
    r"(?:hl-[A-Za-z0-9_+-]{1,40}|ansi-(?:black|red|green|yellow|blue|magenta|cyan|white|default)"
    r"(?:-intense)?-(?:fg|bg)|[a-z]{1,2}[a-z0-9]?)"
)
"""nbconvert's language marker (`hl-ipython3`), its ANSI colours, and pygments' short token classes (`k`, `s1`)."""
_MAIN = re.compile(rb'<main class="notebook">\s*(.*)</main>', re.DOTALL)


def _notebook_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Keep what the layout can style and nothing that could load or run: see the module docstring."""
    if attribute == "class":
        kept = [c for c in value.split() if c in _NB_CLASSES or _NB_CLASS_PATTERN.fullmatch(c)]
        return " ".join(kept) or None
    if attribute == "id":
        return value if re.fullmatch(r"[A-Za-z0-9_.:=-]{1,100}", value) else None
    if tag == "img" and attribute == "src":
        return value if value.startswith("data:image/") else None
    if tag == "a" and attribute == "href":
        if value.startswith("#"):
            return f"#{USER_ID_PREFIX}{value[1:]}"
        # `data:` is for images only; browsers drop tabs and newlines anywhere in a URL (`da\tta:`)
        return None if re.sub(r"[\x00-\x20]", "", value).lower().startswith("data:") else value
    return value


def sanitise_notebook(page: bytes) -> str:
    """The stored standalone page -> the notebook's cells as HTML fit for the site's layout."""
    found = _MAIN.search(page)
    body = (found.group(1) if found else page).decode("utf-8", "replace")
    return nh3.clean(
        body,
        tags=_NB_TAGS,
        clean_content_tags={"script", "style", "template", "noscript", "textarea", "title"},
        attributes=_NB_ATTRIBUTES,
        attribute_filter=_notebook_attribute,
        id_prefix=USER_ID_PREFIX,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )


class _Cache:
    """A few sanitised notebooks by sha256, bounded in bytes; pages are served from many threads."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[str, str] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: str, value: str) -> None:
        with self.lock:
            if key in self.items or len(value) > self.max_bytes:
                return
            self.items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes:
                _old, dropped = self.items.popitem(last=False)
                self.size -= len(dropped)


_notebooks = _Cache()


def _notebook_html(store: BlobStore, sha256: str) -> str | None:
    cached = _notebooks.get(sha256)
    if cached is not None:
        return cached
    try:
        if store.size(sha256) > MAX_NOTEBOOK_HTML:
            return None
        with store.open(sha256) as fh:
            page = fh.read(MAX_NOTEBOOK_HTML + 1)
    except OSError:  # a blob missing from the store (fsck reports it): the page still shows the rest
        return None
    html = sanitise_notebook(page)
    _notebooks.put(sha256, html)
    return html


# --- choosing the version shown --------------------------------------------------------------------------------


def _chosen(pairs: list[tuple[Release, File]], version: str | None) -> tuple[Release, File]:
    """The asked-for version's newest file, or the latest version's when this type has no such version."""
    return next(((rel, f) for rel, f in pairs if rel.version == version), pairs[0])


def _versions(pairs: list[tuple[Release, File]]) -> list[str]:
    return list(dict.fromkeys(rel.version for rel, _ in pairs))


def _url_root(request: Request, pkg: Package) -> str:
    """This server's URL, with the `/t/<TOKEN>/` placeholder for a package that is not public."""
    base = base_url(request)
    return base if pkg.access == Access.PUBLIC else f"{base}/t/{install_lines.TOKEN}"


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


# --- the three views -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookView:
    version: str
    versions: list[str]
    html: Markup | None
    """None when the notebook has no rendered page or it is too large to inline."""
    standalone_url: str
    download_url: str
    basename: str
    kernel: str | None
    language: str | None
    cells: int | None


@dataclass(frozen=True)
class EnvironmentView:
    version: str
    versions: list[str]
    yaml: str | None
    """As uploaded; None when it is not UTF-8 text or too large (the download link still works)."""
    basename: str
    download_url: str
    commands: list[str]
    dependencies: int
    channels: list[str]


@dataclass(frozen=True)
class Revision:
    version: str
    basename: str
    uploaded_at: dt.datetime
    uploader: str | None
    num_files: int
    total_size: int
    archive: str
    download_url: str


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    actor: str | None
    what: str


@dataclass(frozen=True)
class ProjectView:
    revisions: list[Revision]
    selected: Revision
    files: list[dict[str, Any]]
    more_files: int
    files_api_url: str
    history: list[HistoryEntry] = field(default_factory=list)


def _notebook(request: Request, session: Session, pkg: Package, version: str | None) -> NotebookView | None:
    pairs = package_reads.files_of(session, pkg, NOTEBOOK)
    if not pairs:
        return None
    rel, f = _chosen(pairs, version)
    page = (f.extra or {}).get("html")
    html = _notebook_html(services(request).store, page) if isinstance(page, str) else None
    attrs = f.attrs or {}
    owner, name = pkg.owner.login, pkg.name
    cells = attrs.get("cells")
    return NotebookView(
        version=rel.version,
        versions=_versions(pairs),
        html=Markup(html) if html is not None else None,  # noqa: S704 - sanitised by nh3 (sanitise_notebook)
        standalone_url=_path("notebooks", owner, name, rel.version),
        download_url=file_url(owner, name, rel.version, f.basename),
        basename=f.basename,
        kernel=attrs.get("kernel") if isinstance(attrs.get("kernel"), str) else None,
        language=attrs.get("language") if isinstance(attrs.get("language"), str) else None,
        cells=cells if isinstance(cells, int) else None,
    )


def _environment(
    request: Request, session: Session, pkg: Package, version: str | None
) -> EnvironmentView | None:
    pairs = package_reads.files_of(session, pkg, ENVIRONMENT)
    if not pairs:
        return None
    rel, f = _chosen(pairs, version)
    yaml_text: str | None = None
    if f.size <= MAX_ENV_BYTES:
        try:
            with services(request).store.open(f.sha256) as fh:
                yaml_text = fh.read(MAX_ENV_BYTES + 1).decode("utf-8")
        except (OSError, UnicodeDecodeError):  # a missing blob, or bytes that are not text: not shown
            yaml_text = None
    owner, name = pkg.owner.login, pkg.name
    latest = rel.version == pairs[0][0].version
    env_path = _path("envs", owner, name) if latest else _path("envs", owner, name, rel.version)
    commands = [f"conda env create --file {_url_root(request, pkg)}{env_path}"]
    if latest:
        commands.append(f"conda env create {owner}/{name}")
    attrs = f.attrs or {}
    channels = attrs.get("channels")
    deps = attrs.get("dependencies")
    pip = attrs.get("pip")
    count = len(deps) if isinstance(deps, list) else 0
    count += len(pip) if isinstance(pip, list) else 0
    return EnvironmentView(
        version=rel.version,
        versions=_versions(pairs),
        yaml=yaml_text,
        basename=f.basename,
        download_url=file_url(owner, name, rel.version, f.basename),
        commands=commands,
        dependencies=count,
        channels=[c for c in channels if isinstance(c, str)] if isinstance(channels, list) else [],
    )


def _revision(pkg: Package, rel: Release, f: File) -> Revision:
    attrs = f.attrs or {}
    return Revision(
        version=rel.version,
        basename=f.basename,
        uploaded_at=f.uploaded_at,
        uploader=f.uploader.login if f.uploader is not None else None,
        num_files=int(attrs.get("num_files") or 0),
        total_size=int(attrs.get("total_size") or 0),
        archive=str(attrs.get("archive") or ""),
        download_url=file_url(pkg.owner.login, pkg.name, rel.version, f.basename),
    )


def _project(request: Request, session: Session, pkg: Package, version: str | None) -> ProjectView | None:
    pairs = package_reads.files_of(session, pkg, PROJECT)
    if not pairs:
        return None
    newest_per_revision: dict[str, tuple[Release, File]] = {}
    for rel, f in pairs:  # newest first: the first file of each revision is the one its URLs mean
        newest_per_revision.setdefault(rel.version, (rel, f))
    revisions = [_revision(pkg, rel, f) for rel, f in newest_per_revision.values()]
    rel, f = _chosen(pairs, version)
    listing = [item for item in (f.attrs or {}).get("files", []) if isinstance(item, dict)]
    shown = listing[:MAX_PROJECT_FILES_SHOWN]
    return ProjectView(
        revisions=revisions,
        selected=_revision(pkg, rel, f),
        files=shown,
        more_files=len(listing) - len(shown),
        files_api_url=_path("api", "projects", pkg.owner.login, pkg.name, rel.version, "files"),
        history=history(session, pkg),
    )


_EVENT_TEXT = {
    "package.created": "created the package",
    "package.updated": "changed the package's details",
    "package.transferred": "transferred the package here",
    "access.changed": "changed who may see it",
    "release.created": "added {version}",
    "release.updated": "changed {version}",
    "release.removed": "removed {version}",
    "file.added": "uploaded {basename} ({version})",
    "file.removed": "removed {basename} ({version})",
    "file.yanked": "yanked or restored {basename} ({version})",
}


def history(session: Session, pkg: Package, limit: int = HISTORY_EVENTS) -> list[HistoryEntry]:
    """The package's newest events (the event log keeps them under the owner's login and the package's name)."""
    rows = session.execute(
        select(Event, Account.login)
        .outerjoin(Account, Account.id == Event.actor_id)
        .where(Event.owner == pkg.owner.login, func.lower(Event.package) == pkg.name.lower())
        .order_by(Event.serial.desc())
        .limit(limit)
    ).all()
    out = []
    for event, actor in rows:
        text = _EVENT_TEXT.get(event.kind, event.kind.replace(".", " ").replace("_", " "))
        what = text.format(version=event.version or "", basename=event.basename or "")
        out.append(HistoryEntry(event.at, actor, what))
    return out


def package_extras(request: Request, session: Session, pkg: Package) -> dict[str, Any]:
    """The values package.html needs beyond `routes._package_view`: the description's format and the
    notebook, environment and project sections (None when the package has no file of that type)."""
    version = request.query_params.get("version") or None
    if version is not None and not package_reads.has_version(session, pkg, version):
        raise NotFound(f"release {pkg.owner.login}/{pkg.name}/{version} not found")  # the page's own 404
    types = set(pkg.package_types) or {NOTEBOOK, ENVIRONMENT, PROJECT}  # empty in rows older than the column
    return {
        "description_type": description_type(session, pkg),
        "notebook": _notebook(request, session, pkg, version) if NOTEBOOK in types else None,
        "environment": _environment(request, session, pkg, version) if ENVIRONMENT in types else None,
        "project": _project(request, session, pkg, version) if PROJECT in types else None,
    }


def description_type(session: Session, pkg: Package) -> str:
    """The media type of `pkg.description`. PyPI uploads say it (Description-Content-Type, kept in the file's
    core metadata); a PyPI description without one is reStructuredText, as the core metadata specification says.
    Every other description (conda's, one set through the API or the site) is Markdown."""
    core = package_reads.first_pypi_core(session, pkg)
    if core is None:
        return "text/markdown"
    declared = core.get("description_content_type")
    return content_type(declared if isinstance(declared, str) else None, default="text/x-rst")
