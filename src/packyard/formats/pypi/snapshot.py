"""PyPI indexes as at a serial: `/pypi/OWNER[/label/LABEL]/snapshot/N/simple/[PROJECT/]` and the files they link
(`.../snapshot/N/files/PROJECT/FILE[.metadata]`), rendered by `simple` from the snapshot history's rows."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response
from sqlalchemy.orm import Session

from packyard.core import indexes, permissions, snapshots
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.formats import snapshot
from packyard.formats.pypi import simple
from packyard.web.serve import Blob

VIA = "pypi"


def answer(
    request: Request,
    session: Session,
    identity: Identity,
    point: snapshot.Point,
    base: str,
    redirect: Callable[[Request, str], Response],
    negotiate: Callable[[Request], str],
) -> Response | Blob:
    view = snapshot.open_view(session, point)
    rest, prefix = view.rest, f"{base}/{point.prefix}"
    if rest in ([], [""], ["simple"]):
        return redirect(request, f"{prefix}/simple/")
    if rest[0] == "simple":
        if rest == ["simple", ""]:
            return _root(request, session, identity, view, negotiate(request))
        project = rest[1]
        if rest[2:] != [""] or project != simple.normalize(project):
            return redirect(request, f"{prefix}/simple/{simple.normalize(project)}/")
        return _project(request, session, identity, view, project, negotiate(request))
    if len(rest) == 3 and rest[0] == "files":
        return _file(session, identity, view, rest[1], rest[2])
    raise NotFound(f"not found: {base}/{point.prefix}/{'/'.join(rest)}")


def _headers(view: snapshot.View) -> dict[str, str]:
    return {"Vary": "Accept, Authorization", "X-PyPI-Last-Serial": str(view.at.serial)}


def _root(
    request: Request, session: Session, identity: Identity, view: snapshot.View, media: str
) -> Response:
    files = snapshots.files_at(session, view.owner.id, view.at.serial, view.label, "pypi")
    shown, aud = snapshot.visible(session, identity, files, VIA)
    aud.require_some(identity, f"the index of {view.owner.login}")

    def build() -> indexes.Document:
        last: dict[str, int] = {}
        for f in shown:
            last[f.package_name] = max(last.get(f.package_name, 0), f.added_serial)
        projects = sorted(last.items())
        render = simple.root_json if media == simple.JSON_TYPE else simple.root_html
        return indexes.Document(render(projects, view.at.serial), media_type=media)

    return snapshot.document(
        request, view, aud, ("pypi-root", media), build, media_type=media, headers=_headers(view)
    )


def _project(
    request: Request, session: Session, identity: Identity, view: snapshot.View, project: str, media: str
) -> Response:
    files = [
        f
        for f in snapshots.files_at(session, view.owner.id, view.at.serial, view.label, "pypi")
        if simple.normalize(f.package_name) == project
    ]
    shown, aud = snapshot.visible(session, identity, files, VIA)
    if not shown:  # none, or none the caller may see: the same answer (core.permissions.unseen)
        raise permissions.unseen(identity, f"{view.owner.login}/{project}", via=VIA)

    def build() -> indexes.Document:
        rows = [
            simple.FileRow(
                f.basename,
                f.version,
                f.sha256,
                f.size,
                f.attrs.get("requires_python"),
                f.yanked,
                f.yanked_reason,
                f.extra.get("metadata"),
                f.uploaded_at,
            )
            for f in shown
        ]
        render = simple.project_json if media == simple.JSON_TYPE else simple.project_html
        return indexes.Document(
            render(shown[0].package_name, project, rows, view.at.serial), media_type=media
        )

    return snapshot.document(
        request, view, aud, ("pypi", project, media), build, media_type=media, headers=_headers(view)
    )


def _file(session: Session, identity: Identity, view: snapshot.View, project: str, filename: str) -> Blob:
    """The file (or its PEP 658 metadata) when the snapshot lists it, also after its removal from the index."""
    want_metadata = filename.endswith(".metadata")
    name = filename.removesuffix(".metadata") if want_metadata else filename
    found = [
        f
        for f in snapshots.files_at(session, view.owner.id, view.at.serial, view.label, "pypi", basename=name)
        if simple.normalize(f.package_name) == simple.normalize(project)
    ]
    if not found or not snapshot.readable(session, identity, found[0], VIA):
        raise permissions.unseen(identity, f"{view.owner.login}/{project}/{name}", via=VIA)
    f = found[0]
    public = snapshot.public(session, f)
    if not want_metadata:
        return snapshot.blob(f, public=public)
    metadata = f.extra.get("metadata")
    if not isinstance(metadata, str):
        raise NotFound(f"{name} has no separate metadata")
    return Blob(
        metadata,
        etag=metadata,
        public=public,
        media_type="text/plain; charset=utf-8",
        last_modified=f.uploaded_at,
    )
