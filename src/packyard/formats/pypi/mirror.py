"""PyPI's part of a mirror (core/mirrors): upstream's simple pages read, merged with what is cached, and files
fetched on first request.

/pypi/NAME/simple/PROJECT/   upstream's entries (its PEP 691 JSON, or its HTML) merged with the files cached here:
                             a cached file stays listed after upstream deletes it; upstream's yanks are shown (PEP
                             592); requires-python and hashes pass through. Upstream's page is asked for again once
                             the cached copy (a `mirror_indexes` row, seen by every node) is older than the TTL.
/pypi/NAME/simple/           the projects this mirror has seen (cached files, or an upstream page fetched): not
                             upstream's whole list, which for PyPI is over half a million names.
/pypi/NAME/files/PROJECT/F   a cached file is served as any file is (routes._file); the first GET of another one
                             streams it from upstream, checks upstream's sha256, stores it through `add_file` (as the
                             mirror's fetcher) and then serves it like the rest.

When upstream is unreachable the cached page or file is served with `Warning: 110 - "Response is Stale"` and
`X-Packyard-Mirror: offline`; what was never cached is a 502/504 naming the upstream. The mirror's rules refuse
excluded projects (absent from the root, a 403 on their page and files) and file types.

`X-PyPI-Last-Serial` (and the pages' `_last-serial`) is what the first-party pages send: the serial of the newest
event of what the page shows from this server, i.e. of its cached files (the owner's newest event for the root
page, or for a project page with nothing cached yet). A CI job may pin `/pypi/NAME/snapshot/SERIAL/` to it: that
snapshot lists the cached files the page listed. Upstream's entries not cached yet are in no snapshot: until
fetched they are not this server's files, and upstream may change them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin

from fastapi import Request, Response
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, NotFound, PackyardError
from packyard.core.formats import SyncRequest
from packyard.core.mirrors import service, upstream
from packyard.core.mirrors.service import CachedIndex, MirrorInfo
from packyard.core.models import Account, Event, File, FileLabel, Label, Package, utcnow
from packyard.core.storage import BlobStore
from packyard.formats.pypi import simple
from packyard.formats.pypi.models import PypiFile
from packyard.web.deps import Svc
from packyard.web.serve import cache_control

FORMAT = "pypi"
ACCEPT = f"{simple.JSON_TYPE}, {simple.HTML_TYPE};q=0.2, text/html;q=0.1"
MAX_SYNC_PROJECTS = 1000


@dataclass(frozen=True)
class Proxy:
    """What routes._answer hands back for a mirror owner: answered by `respond` once its read session is closed,
    since the answer may wait on the upstream."""

    owner_id: int
    mirror: MirrorInfo
    kind: str
    """"root", "project" or "file"."""
    project: str = ""
    filename: str = ""


# --- reading upstream's pages ----------------------------------------------------------------------------------


def file_type(filename: str) -> str | None:
    """ "wheel", "sdist", or None for what pip no longer installs (eggs, .exe, ...), which the mirror skips."""
    if filename.endswith(".whl"):
        return "wheel"
    if filename.endswith((".tar.gz", ".zip")):
        return "sdist"
    return None


def _version(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _entry(base: str, filename: str, href: str, sha256: str | None, **more: Any) -> dict[str, Any] | None:
    """One upstream file as the cache keeps it; None for a file without a sha256 (nothing to verify it against)
    or that is not a wheel or sdist."""
    if not sha256 or file_type(filename) is None or _version(filename) is None or "/" in filename:
        return None
    url, _ = urldefrag(urljoin(base, href))
    return {"filename": filename, "url": url, "sha256": sha256.lower(), **more}


def parse_json(base: str, body: bytes) -> list[dict[str, Any]]:
    """Upstream's PEP 691 project page -> cache entries."""
    doc = json.loads(body)
    out = []
    for f in doc.get("files", []) if isinstance(doc, dict) else []:
        if (
            not isinstance(f, dict)
            or not isinstance(f.get("filename"), str)
            or not isinstance(f.get("url"), str)
        ):
            continue
        hashes = f.get("hashes")
        if not isinstance(hashes, dict):
            hashes = {}
        yanked = f.get("yanked", False)
        entry = _entry(
            base,
            f["filename"],
            f["url"],
            hashes.get("sha256") if isinstance(hashes.get("sha256"), str) else None,
            size=f["size"] if isinstance(f.get("size"), int) else None,
            requires_python=f["requires-python"] if isinstance(f.get("requires-python"), str) else None,
            yanked=(yanked if isinstance(yanked, str) else "") if yanked else False,
            upload_time=f["upload-time"] if isinstance(f.get("upload-time"), str) else None,
        )
        if entry is not None:
            out.append(entry)
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append((self._open, "".join(self._text).strip()))
            self._open = None


def parse_html(base: str, body: bytes) -> list[dict[str, Any]]:
    """Upstream's PEP 503 project page -> cache entries (the hash from the link's #sha256= fragment)."""
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    out = []
    for attrs, text in parser.links:
        href = attrs.get("href") or ""
        _, fragment = urldefrag(href)
        algo, _, digest = fragment.partition("=")
        yanked = attrs.get("data-yanked")
        entry = _entry(
            base,
            text or href.rsplit("/", 1)[-1].split("#", 1)[0],
            href,
            digest if algo == "sha256" else None,
            size=None,
            requires_python=attrs.get("data-requires-python"),
            yanked=yanked if yanked is not None else False,
            upload_time=None,
        )
        if entry is not None:
            out.append(entry)
    return out


def _page_entries(page: upstream.Page) -> list[dict[str, Any]]:
    media = page.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == simple.JSON_TYPE or media == "application/json":
        return parse_json(page.url, page.body)
    return parse_html(page.url, page.body)


def project_url(mirror: MirrorInfo, project: str) -> str:
    return f"{mirror.upstream}{project}/"


def fetch_index(db: Database, mirror: MirrorInfo, project: str) -> tuple[CachedIndex | None, str | None]:
    """The upstream entries of `project` (service.refresh_index: asked again once older than the TTL), and why
    the upstream could not be asked, if it could not."""
    return service.refresh_index(
        db, mirror, project, project_url(mirror, project), _page_entries, accept=ACCEPT
    )


# --- the merged page -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Local:
    row: simple.FileRow
    package: str


def _local_rows(db: Database, identity: Identity, owner: Account, project: str) -> tuple[list[Local], int]:
    """The cached files of `project` the caller may see (label main), and the page's serial: the newest event
    of their packages, or the owner's newest when none is cached. Read in one session, after the rows, so a
    snapshot at that serial lists every row read here."""
    with db.read() as session:
        rows = session.execute(
            select(PypiFile, File.sha256, File.size, Package)
            .join(File, File.id == PypiFile.file_id)
            .join(Package, Package.id == PypiFile.package_id)
            .join(FileLabel, FileLabel.file_id == PypiFile.file_id)
            .join(Label, Label.id == FileLabel.label_id)
            .where(PypiFile.owner_id == owner.id, PypiFile.project == project, Label.name == "main")
        ).all()
        local = [
            Local(
                simple.FileRow.of(pf, sha, size),
                pkg.name,
            )
            for pf, sha, size, pkg in rows
            if permissions.can(identity, permissions.Permission.READ, pkg, via="pypi")
        ]
        names = sorted({item.package.lower() for item in local})
        serial = (
            session.scalar(
                select(func.max(Event.serial)).where(
                    Event.owner == owner.login, func.lower(Event.package).in_(names)
                )
            )
            if names
            else None
        ) or _owner_serial(session, owner.login)
    return local, serial


def _owner_serial(session: Session, login: str) -> int:
    """The owner's newest event serial: the root page's, as routes._ROOT_FACTS reads it."""
    return session.scalar(select(func.max(Event.serial)).where(Event.owner == login)) or 0


def _upload_time(value: object, fallback: dt.datetime) -> dt.datetime:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return fallback


def merge(
    local: Sequence[simple.FileRow],
    entries: Sequence[Mapping[str, Any]],
    fetched_at: dt.datetime,
    mirror: MirrorInfo,
    project: str,
) -> list[simple.FileRow]:
    """Upstream's entries with the cached files: a cached file is listed as cached (its own hash, size and
    PEP 658 metadata) even when upstream no longer lists it, and marked yanked when upstream yanked it; files
    the rules refuse are left out."""
    rules = mirror.rules
    upstream_by_name = {str(e["filename"]): e for e in entries}
    rows: dict[str, simple.FileRow] = {}
    for row in local:
        entry = upstream_by_name.get(row.filename)
        if entry is not None and entry.get("yanked") is not False and not row.yanked:
            row = dataclasses.replace(row, yanked=True, yanked_reason=str(entry["yanked"]) or None)
        rows[row.filename] = row
    for name, entry in upstream_by_name.items():
        if name in rows:
            continue
        version = _version(name)
        if version is None:
            continue
        yanked = entry.get("yanked", False)
        rows[name] = simple.FileRow(
            name,
            version,
            str(entry["sha256"]),
            int(entry.get("size") or 0),
            entry.get("requires_python"),
            yanked is not False,
            (str(yanked) or None) if yanked is not False else None,
            None,  # upstream's PEP 658 metadata is not served here until the file is cached
            _upload_time(entry.get("upload_time"), fetched_at),
        )
    return [
        row
        for row in rows.values()
        if rules.file(project, {"type": file_type(row.filename) or "other"}) is None
    ]


def respond(proxy: Proxy, request: Request, svc: Svc, identity: Identity, media: str) -> Response | None:
    """The answer to a mirror's page, or None once a file is stored (the route then serves it as any file)."""
    owner = service.owner_of(svc.db, proxy.owner_id)
    mirror = proxy.mirror
    if proxy.kind == "root":
        service.require_use(identity, owner, mirror, f"the index of {owner.login}", "pypi")
        return _root(request, svc, identity, owner, mirror, media)
    what = f"{owner.login}/{proxy.project}"
    service.require_use(identity, owner, mirror, what, "pypi")
    service.refuse(mirror, proxy.project)
    if proxy.kind == "project":
        return _project(svc, identity, owner, mirror, proxy.project, media)
    _fetch_file(svc, owner, mirror, proxy.project, proxy.filename)
    return None


def _headers(mirror: MirrorInfo, offline: bool, serial: int) -> dict[str, str]:
    return {
        "Vary": "Accept, Authorization",
        "Cache-Control": cache_control(mirror.public),
        "X-PyPI-Last-Serial": str(serial),
        **(service.STALE if offline else {}),
    }


def _root(
    request: Request, svc: Svc, identity: Identity, owner: Account, mirror: MirrorInfo, media: str
) -> Response:
    with svc.db.read() as session:
        local: dict[str, set[str]] = {}
        for project, pkg in session.execute(
            select(PypiFile.project, Package)
            .join(Package, Package.id == PypiFile.package_id)
            .where(PypiFile.owner_id == owner.id)
        ).all():
            if permissions.can(identity, permissions.Permission.READ, pkg, via="pypi"):
                local.setdefault(project, set()).add(pkg.name.lower())
        # Read after the rows, as routes._root_projects and _ROOT_FACTS read them (events carry exact names).
        serials: dict[str, int] = dict(
            session.execute(
                select(func.lower(Event.package), func.max(Event.serial))
                .where(Event.owner == owner.login)
                .group_by(func.lower(Event.package))
            ).all()
        )
        serial = _owner_serial(session, owner.login)
    names = sorted(
        p
        for p in local.keys() | set(service.cached_projects(svc.db, mirror.id))
        if mirror.rules.project(p) is None
    )
    projects = [
        (name, max((serials.get(pkg) or 0 for pkg in local.get(name, ())), default=0)) for name in names
    ]
    render = simple.root_json if media == simple.JSON_TYPE else simple.root_html
    return Response(
        render(projects, serial), media_type=media, headers=_headers(mirror, offline=False, serial=serial)
    )


def _project(
    svc: Svc, identity: Identity, owner: Account, mirror: MirrorInfo, project: str, media: str
) -> Response:
    index, offline = fetch_index(svc.db, mirror, project)
    local, serial = _local_rows(svc.db, identity, owner, project)
    rows = merge(
        [item.row for item in local],
        index.entries if index is not None else [],
        index.fetched_at if index is not None else utcnow(),
        mirror,
        project,
    )
    if not rows:
        if offline is not None and index is None:
            raise service.unreachable_error(mirror, upstream.Unreachable(offline), f"{owner.login}/{project}")
        raise NotFound(
            f"{owner.login}/{project}: upstream {upstream.redacted(mirror.upstream)} has no files of it that "
            f"mirror {mirror.name} may serve, and none is cached"
        )
    name = local[0].package if local else project
    render = simple.project_json if media == simple.JSON_TYPE else simple.project_html
    return Response(
        render(name, project, rows, serial),
        media_type=media,
        headers=_headers(mirror, offline is not None, serial),
    )


def _fetch_file(svc: Svc, owner: Account, mirror: MirrorInfo, project: str, filename: str) -> None:
    what = f"{owner.login}/{project}/{filename}"
    if filename.endswith(".metadata"):
        raise NotFound(f"{what}: the metadata is served once its file is cached")
    service.refuse(mirror, project, {"type": file_type(filename) or "other"}, filename)
    index, offline = fetch_index(svc.db, mirror, project)
    entry = next((e for e in (index.entries if index else []) if e["filename"] == filename), None)
    if entry is None and offline is None and index is not None and index.fresh(mirror.ttl):
        # A fresh copy that lacks the file: upstream may have added it since; ask once more, ignoring the TTL.
        index, offline = fetch_index(svc.db, dataclasses.replace(mirror, ttl=0), project)
        entry = next((e for e in (index.entries if index else []) if e["filename"] == filename), None)
    if entry is None:
        if offline is not None:
            raise service.unreachable_error(mirror, upstream.Unreachable(offline), what)
        raise NotFound(f"{what}: upstream {upstream.redacted(mirror.upstream)} has no such file")
    store_file(svc.db, svc.store, mirror, owner, entry)


def store_file(
    db: Database, store: BlobStore, mirror: MirrorInfo, owner: Account, entry: Mapping[str, Any]
) -> None:
    try:
        service.store_fetched(
            db,
            store,
            mirror,
            owner,
            str(entry["url"]),
            str(entry["filename"]),
            service.Expected(sha256=str(entry["sha256"])),
            FORMAT,
        )
    except upstream.Unreachable as exc:
        service.record_unreachable(db, mirror.id, exc.message)
        raise service.unreachable_error(mirror, exc, f"{owner.login}/{entry['filename']}") from None


# --- mirroring ahead of time -----------------------------------------------------------------------------------


def _pick_version(entries: Sequence[Mapping[str, Any]], req: Requirement) -> str | None:
    """The highest version upstream lists that the requirement allows (not yanked; pre-releases only when the
    specifier asks for them), as pip would choose."""
    versions = set()
    for e in entries:
        if e.get("yanked") is not False:
            continue
        v = _version(str(e["filename"]))
        if v is not None:
            versions.add(Version(v))
    allowed = list(req.specifier.filter(sorted(versions)))
    return str(max(allowed)) if allowed else None


def _dependencies(db: Database, owner_id: int, filenames: Sequence[str]) -> list[str]:
    with db.read() as session:
        deps = session.scalars(
            select(File.dependencies)
            .join(Package, Package.id == File.package_id)
            .where(Package.owner_id == owner_id, File.basename.in_(filenames))
        ).all()
    out = []
    for found in deps:
        for value in (found or {}).get("depends", []):
            try:
                req = Requirement(value)
            except InvalidRequirement:
                continue
            if req.marker is not None and "extra" in str(req.marker):
                continue  # an optional extra's dependency: not installed by default
            out.append(str(req))
    return out


def _sync_one(
    db: Database, mirror: MirrorInfo, req: Requirement, seen: set[tuple[str, str]]
) -> list[Mapping[str, Any]]:
    """The files of `req`'s chosen version, or [] when that requirement was already handled."""
    project = simple.normalize(req.name)
    key = (project, str(req.specifier))
    if key in seen:
        return []
    seen.add(key)
    service.refuse(mirror, project)
    index, offline = fetch_index(db, mirror, project)
    if index is None or not index.found:
        if offline is not None:
            raise service.unreachable_error(mirror, upstream.Unreachable(offline), project)
        raise NotFound(f"{project}: upstream {upstream.redacted(mirror.upstream)} has no such project")
    version = _pick_version(index.entries, req)
    if version is None:
        raise NotFound(f"{req}: upstream has no version of {project} that matches")
    return [
        e
        for e in index.entries
        if _version(str(e["filename"])) == version
        and mirror.rules.file(project, {"type": file_type(str(e["filename"])) or "other"}) is None
    ]


def sync(db: Database, store: BlobStore, mirror_id: int, request: SyncRequest) -> list[str]:
    """`packyard mirror sync`: for each requirement (NAME or a PEP 508 requirement, e.g. "requests<3"), every
    file of the newest version upstream offers that the specifier and the rules allow; with `deps`, then the same
    for each Requires-Dist of those files (extras left out; markers are not evaluated, so an air-gapped site gets
    what any platform needs). Returns the files now cached."""
    mirror, owner = service.by_id(db, mirror_id)
    queue: list[Requirement] = []
    for name in request.packages:
        try:
            queue.append(Requirement(name))
        except InvalidRequirement as exc:
            raise BadRequest(f"{name!r} is not a package name or PEP 508 requirement: {exc}") from None
    seen: set[tuple[str, str]] = set()
    fetched: list[str] = []
    asked = len(queue)
    while queue and len(seen) < MAX_SYNC_PROJECTS:
        req = queue.pop(0)
        asked -= 1
        try:
            files = _sync_one(db, mirror, req, seen)
        except PackyardError:
            if asked >= 0:
                raise  # what the caller named must be there; a dependency that is not is skipped
            continue
        for entry in files:
            store_file(db, store, mirror, owner, entry)
            fetched.append(str(entry["filename"]))
        if request.deps:
            queue.extend(
                Requirement(d) for d in _dependencies(db, owner.id, [str(e["filename"]) for e in files])
            )
    return fetched
