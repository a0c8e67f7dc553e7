"""The PyPI simple API, file downloads and twine uploads, per owner and label.

/pypi/OWNER[/label/LABEL]/simple/[PROJECT/]       PEP 503/691 pages (HTML or JSON by Accept)
/pypi/OWNER[/label/LABEL]/files/PROJECT/FILE      the file; FILE.metadata is its PEP 658 metadata
/pypi/OWNER[/label/LABEL]/snapshot/N/...          the same as at event serial (or UTC time) N (snapshot.py)
POST /pypi/OWNER[/]                               twine's upload (multipart) or XML-RPC (text/xml)
/api/repo/OWNER/...                               the same, where Anaconda Server puts it (seed 004)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from packyard.core import indexes, permissions
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.mirrors import service as mirror_service
from packyard.core.models import Access, Account, Event, File, FileLabel, Label, Package
from packyard.formats import channels, front, snapshot
from packyard.formats.pypi import mirror, simple, store
from packyard.formats.pypi import snapshot as pypi_snapshot
from packyard.formats.pypi.models import PypiFile
from packyard.web.deps import Svc, resolve_identity
from packyard.web.serve import Blob, cache_control, serve_blob

router = APIRouter()


@dataclass(frozen=True)
class Index:
    owner: Account
    label: str
    rest: list[str]
    prefix: str
    """The URL path up to and including the label, for redirects."""


def _parse(session: Session, base: str, path: str) -> Index:
    channel = channels.parse(session, path, keep_empty=True)
    prefix = f"{base}/{path.split('/', 1)[0]}" + (f"/label/{channel.label}" if channel.labelled else "")
    return Index(channel.owner, channel.label, channel.rest, prefix)


def serve(path: str, request: Request, svc: Svc, base: str) -> Response:
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        answer = _answer(path, request, svc, session, identity, base)
    if isinstance(answer, mirror.Proxy):
        # A mirror's page or uncached file: answered with no session open, since it may wait on the upstream.
        media = _negotiate(request) if answer.kind != "file" else ""
        response = mirror.respond(answer, request, svc, identity, media)
        if response is not None:
            return response
        with svc.db.read() as session:  # the file is stored now: served as any file is
            answer = _answer(path, request, svc, session, identity, base)
        if isinstance(answer, mirror.Proxy):
            raise NotFound(f"{answer.filename} could not be stored")
    # Files are served once the read session is closed: a route holds one connection at a time.
    return serve_blob(svc, request, answer) if isinstance(answer, Blob) else answer


def _answer(
    path: str, request: Request, svc: Svc, session: Session, identity: Identity, base: str
) -> Response | Blob | mirror.Proxy:
    if (point := snapshot.split(path)) is not None:
        return pypi_snapshot.answer(request, session, identity, point, base, _redirect, _negotiate)
    index = _parse(session, base, path)
    rest = index.rest
    proxied = (
        mirror_service.of_owner(session, index.owner.id, store.FORMAT) if index.label == "main" else None
    )
    if not rest or rest == [""]:  # the index URL as the seeds write it: /pypi/OWNER
        return _redirect(request, f"{index.prefix}/simple/")
    if len(rest) <= 2 and rest[0] not in ("simple", "files") and rest[1:] in ([], [""]):
        # pip and uv given `--index-url /pypi/OWNER` ask for /pypi/OWNER/PROJECT/: the project's simple page
        return _redirect(request, f"{index.prefix}/simple/{simple.normalize(rest[0])}/")
    if rest[0] == "simple":
        if rest == ["simple"]:
            return _redirect(request, f"{index.prefix}/simple/")
        if rest == ["simple", ""]:
            if proxied is not None:
                return mirror.Proxy(index.owner.id, proxied, "root")
            return _root(request, svc, session, identity, index)
        project = rest[1]
        if len(rest) == 2 or rest[2:] != [""]:
            return _redirect(request, f"{index.prefix}/simple/{simple.normalize(project)}/")
        if project != simple.normalize(project):
            return _redirect(request, f"{index.prefix}/simple/{simple.normalize(project)}/")
        if proxied is not None:
            return mirror.Proxy(index.owner.id, proxied, "project", project)
        return _project(request, svc, session, identity, index, project)
    if len(rest) == 3 and rest[0] == "files":
        if proxied is not None:
            if not _has_file(session, index, rest[1], rest[2]):
                return mirror.Proxy(index.owner.id, proxied, "file", simple.normalize(rest[1]), rest[2])
            # Cached, but the rules may have changed since: asked after the permission (whose answer for a
            # private mirror must not depend on its rules).
            filename = rest[2].removesuffix(".metadata")
            mirror_service.require_use(identity, index.owner, proxied, f"{base}/{path}", "pypi")
            facts = {"type": mirror.file_type(filename) or "other"}
            mirror_service.refuse(proxied, simple.normalize(rest[1]), facts, filename)
        return _file(session, identity, index, rest[1], rest[2])
    raise NotFound(f"not found: {base}/{path}")


def _redirect(request: Request, path: str) -> Response:
    token = request.scope.get("packyard.path_token")
    if token:
        path = _with_token(path, token)
    host_prefix = request.scope.get("packyard.host_prefix")
    if host_prefix and path.startswith(host_prefix + "/"):  # on pypi.DOMAIN the paths have no /pypi
        path = path[len(host_prefix) :]
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(path + query, status_code=301)


def _with_token(path: str, token: str) -> str:
    for base in ("/pypi", "/api/repo"):
        if path.startswith(base + "/"):
            return f"{base}/t/{token}{path[len(base) :]}"
    return f"/t/{token}{path}"


def _negotiate(request: Request) -> str:
    chosen = simple.choose_content_type(request.headers.get("accept"), request.query_params.get("format"))
    if chosen is None:
        raise NotAcceptable()
    return chosen


class NotAcceptable(NotFound):
    status = 406

    def __init__(self) -> None:
        super().__init__(f"acceptable content types: {simple.JSON_TYPE}, {simple.HTML_TYPE}, text/html")


def _headers(serial: int, public: bool) -> dict[str, str]:
    return {
        "Vary": "Accept, Authorization",
        "Cache-Control": cache_control(public),
        "X-PyPI-Last-Serial": str(serial or 0),
    }


_ROOT_FACTS = select(
    front.generation(store.FORMAT),
    select(func.max(Event.serial)).where(Event.owner == bindparam("login")).scalar_subquery(),
    front.OWNER,
)
"""The project list depends on its generation; its X-PyPI-Last-Serial on the owner's last event."""

_PROJECT_FACTS = select(
    front.generation(store.FORMAT),
    select(func.max(Event.serial))
    .where(
        Event.owner == bindparam("login"),
        func.lower(Event.package).in_(bindparam("names", expanding=True)),
    )
    .scalar_subquery(),
    front.OWNER,
)
"""A project page depends on its generation; its serial on the last event of the packages it shows."""


def _root(request: Request, svc: Svc, session: Session, identity: Identity, index: Index) -> Response:
    media = _negotiate(request)
    aud = channels.audience(session, identity, index.owner.id, PypiFile, "pypi")
    aud.require_some(identity, f"the index of {index.owner.login}")
    facts = front.Facts.of_slice(
        _ROOT_FACTS, index.owner, index.label, store.ROOT_KEY, login=index.owner.login
    )
    values = facts.read(session)
    gen, last_serial, _ = values
    key = ("pypi-root", index.owner.id, index.label, gen, aud.key, media)

    def build() -> indexes.Document:
        projects = _root_projects(session, index, aud)
        serial = max((s for _, s in projects), default=0)
        body = (
            simple.root_json(projects, serial)
            if media == simple.JSON_TYPE
            else simple.root_html(projects, serial)
        )
        return indexes.Document(body, media_type=media)

    doc = request.app.state.index_cache.get_or_build(key, build)
    return front.respond(
        request,
        identity,
        facts,
        values,
        doc.body,
        media_type=media,
        etag=doc.etag,
        headers=_headers(last_serial, aud.public_only),
    )


def _root_projects(session: Session, index: Index, aud: channels.Audience) -> list[tuple[str, int]]:
    """(name, last serial) of every visible project with a file in the label, in two statements linear in rows.

    The projects: one range scan of the owner's packages, each checked for a labelled file by an EXISTS that
    stops at the first one. The serials: the owner's events grouped by package, one scan of
    `ix_events_owner_package_serial`. Joining events to every file instead made the first build O(files x
    events): SQLite matched `lower(package)` against a column on the index's `owner` prefix only, so each file
    scanned all of the owner's events; and joining the grouped events in SQL lets the planner scan them once per
    project. Matching the two lists here is a dict lookup per project.
    """
    labelled = (
        select(PypiFile.file_id)
        .join(FileLabel, FileLabel.file_id == PypiFile.file_id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(
            PypiFile.package_id == Package.id,
            Label.owner_id == index.owner.id,
            Label.name == index.label,
        )
        .exists()
    )
    projects = session.execute(
        select(Package.name).where(Package.owner_id == index.owner.id, aud.only_visible(Package.id), labelled)
    ).scalars()
    serials: dict[str, int] = dict(
        session.execute(
            select(func.lower(Event.package), func.max(Event.serial))
            .where(Event.owner == index.owner.login)
            .group_by(func.lower(Event.package))
        ).all()
    )
    # Events carry the package's exact name; `name_key` is its PEP 503 form, which lower() does not give.
    return [(name, serials.get(name.lower()) or 0) for name in projects]


def _project(
    request: Request, svc: Svc, session: Session, identity: Identity, index: Index, project: str
) -> Response:
    media = _negotiate(request)
    pkgs = session.scalars(
        select(Package).where(
            Package.owner_id == index.owner.id,
            Package.id.in_(
                select(PypiFile.package_id).where(
                    PypiFile.owner_id == index.owner.id, PypiFile.project == project
                )
            ),
        )
    ).all()
    aud = channels.audience_of(identity, pkgs, "pypi")
    if not aud.visible:  # none, or none the caller may see: the same answer (core.permissions.unseen)
        raise permissions.unseen(identity, f"{index.owner.login}/{project}", via="pypi")
    visible = [p for p in pkgs if p.id in aud.visible]
    facts = front.Facts.of_slice(
        _PROJECT_FACTS,
        index.owner,
        index.label,
        project,
        login=index.owner.login,
        names=[p.name.lower() for p in visible],
    )
    values = facts.read(session)
    gen, serial, _ = values
    serial = serial or 0  # rendered into the page as well as the header
    key = (
        "pypi",
        index.owner.id,
        index.label,
        project,
        gen,
        tuple(p.id for p in visible),
        media,
        serial,
    )

    def build() -> indexes.Document:
        rows = session.execute(
            select(PypiFile, File.sha256, File.size)
            .join(File, File.id == PypiFile.file_id)
            .join(FileLabel, FileLabel.file_id == PypiFile.file_id)
            .join(Label, and_(Label.id == FileLabel.label_id, Label.name == index.label))
            .where(
                PypiFile.owner_id == index.owner.id,
                PypiFile.project == project,
                PypiFile.package_id.in_([p.id for p in visible]),
            )
        ).all()
        if not rows:
            raise NotFound(f"no files of {project} carry the label {index.label}")
        files = [simple.FileRow.of(pf, sha, size) for pf, sha, size in rows]
        render = simple.project_json if media == simple.JSON_TYPE else simple.project_html
        return indexes.Document(render(visible[0].name, project, files, serial), media_type=media)

    doc = request.app.state.index_cache.get_or_build(key, build)
    return front.respond(
        request,
        identity,
        facts,
        values,
        doc.body,
        media_type=media,
        etag=doc.etag,
        headers=_headers(serial, aud.public_only),
    )


_FILE_COLUMNS = (PypiFile.metadata_sha256, File.id, File.sha256, File.md5, File.size, File.uploaded_at)
_FILE_WHERE = (
    PypiFile.project == bindparam("project"),
    PypiFile.filename == bindparam("filename"),
    select(FileLabel.file_id)
    .join(Label, Label.id == FileLabel.label_id)
    .where(FileLabel.file_id == File.id, Label.name == bindparam("label"))
    .exists(),
)
_FILE_ROW = (
    select(*_FILE_COLUMNS, Package)
    .join(File, File.id == PypiFile.file_id)
    .join(Package, Package.id == File.package_id)
    .where(PypiFile.owner_id == bindparam("owner_id"), *_FILE_WHERE)
)
"""A file GET in one statement: the file, its package (for core.permissions) and whether it carries the label.
Built once: building the expression per request cost more than running it (a third of a file GET's route)."""
_PUBLIC_FILE_ROW = (
    select(*_FILE_COLUMNS)
    .join(File, File.id == PypiFile.file_id)
    .join(Package, Package.id == File.package_id)
    .where(PypiFile.owner_id == front.OWNER, Package.access == Access.PUBLIC, *_FILE_WHERE)
)
"""The same row for `front.Front`, by the owner's login, and only when anyone may read the package."""


def _file(session: Session, identity: Identity, index: Index, project: str, filename: str) -> Blob:
    """The file, or its PEP 658 metadata: immutable like the file, and as private as its package."""
    want_metadata = filename.endswith(".metadata")
    name = filename.removesuffix(".metadata") if want_metadata else filename
    params = {"owner_id": index.owner.id, "project": simple.normalize(project), "filename": name}
    row = session.execute(_FILE_ROW, {**params, "label": index.label}).first()  # also checks the label
    if row is None or not permissions.can(identity, permissions.Permission.READ, row[-1], via="pypi"):
        raise permissions.unseen(identity, f"{index.owner.login}/{project}/{name}", via="pypi")
    *values, pkg = row
    blob = _blob(tuple(values), name, want_metadata, public=pkg.access == Access.PUBLIC)
    if blob is None:
        raise NotFound(f"{name} has no separate metadata")
    return blob


def _has_file(session: Session, index: Index, project: str, filename: str) -> bool:
    """Is the file (of a .metadata, its file) cached in the mirror, whoever may see it?"""
    name = filename.removesuffix(".metadata")
    params = {"owner_id": index.owner.id, "project": simple.normalize(project), "filename": name}
    return session.execute(_FILE_ROW, {**params, "label": index.label}).first() is not None


def _blob(values: tuple[Any, ...], name: str, want_metadata: bool, *, public: bool) -> Blob | None:
    metadata_sha, file_id, sha256, md5, size, uploaded_at = values
    if not want_metadata:
        return Blob(
            sha256,
            etag=md5,
            public=public,
            size=size,
            filename=name,
            last_modified=uploaded_at,
            count_download=file_id,
        )
    if not metadata_sha:
        return None
    return Blob(
        metadata_sha,
        etag=metadata_sha,
        public=public,
        media_type="text/plain; charset=utf-8",
        last_modified=uploaded_at,
    )


def public_file(path: str) -> front.PublicFile | None:
    """`/pypi/OWNER[/label/LABEL]/files/PROJECT/FILE[.metadata]` as `front.Front` may answer it: the route's
    row, read by the owner's login and only for a public package (`_file` and `channels.parse` read the same)."""
    if not path.startswith("/pypi/"):
        return None
    parts = path[len("/pypi/") :].split("/")
    login, rest, label = parts[0], parts[1:], "main"
    if len(rest) >= 2 and rest[0] == "label":
        label, rest = rest[1], rest[2:]
    if len(rest) != 3 or rest[0] != "files" or not login:
        return None
    filename = rest[2]
    want_metadata = filename.endswith(".metadata")
    name = filename.removesuffix(".metadata") if want_metadata else filename
    params = {
        "login_key": login.lower(),
        "project": simple.normalize(rest[1]),
        "filename": name,
        "label": label,
    }
    return front.PublicFile(
        front.Facts(_PUBLIC_FILE_ROW, params),
        lambda values: _blob(values, name, want_metadata, public=True),
    )


@router.api_route("/pypi/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def pypi_get(path: str, request: Request, svc: Svc) -> Response:
    return serve(path, request, svc, "/pypi")


def repo_get(request: Request, svc: Svc) -> Response:
    """The same pages where Anaconda Server puts them; /api/repo/OWNER/cran/... is R's (cran/routes.py)."""
    return serve(request.scope["path"].removeprefix("/api/repo/"), request, svc, "/api/repo")


for _path in (
    "/api/repo/{owner}/simple",
    "/api/repo/{owner}/simple/{rest:path}",
    "/api/repo/{owner}/files/{rest:path}",
    "/api/repo/{owner}/label/{rest:path}",
):
    router.add_api_route(_path, repo_get, methods=["GET", "HEAD"], include_in_schema=False)
