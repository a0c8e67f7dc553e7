"""CRAN-like repositories as at a serial: `/cran/OWNER[/label/LABEL]/snapshot/N/src/contrib/PACKAGES[.gz]` (and the
binary trees), and the package files, Archive/ included, rendered by `index` from the snapshot history's rows."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response
from sqlalchemy.orm import Session

from packyard.core import indexes, permissions, snapshots
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.formats import snapshot
from packyard.formats.cran import index
from packyard.web.serve import Blob

VIA = "cran"


def answer(
    request: Request,
    session: Session,
    identity: Identity,
    point: snapshot.Point,
    slice_of: Callable[[list[str]], tuple[str, str, list[str]] | None],
) -> Response | Blob:
    view = snapshot.open_view(session, point)
    found = slice_of([p for p in view.rest if p])
    if found is None:
        raise NotFound(f"not a CRAN repository path: {point.prefix}/{'/'.join(view.rest)}")
    kind, r_version, rest = found
    if rest in (["PACKAGES"], ["PACKAGES.gz"]):
        return _packages(request, session, identity, view, kind, r_version, gz=rest[0].endswith(".gz"))
    if len(rest) == 1 or (len(rest) == 3 and rest[0] == "Archive"):
        return _file(session, identity, view, kind, r_version, rest[-1])
    raise NotFound(f"not found: {point.prefix}/{'/'.join(view.rest)}")


def _in_slice(f: snapshots.SnapFile, kind: str, r_version: str) -> bool:
    return str(f.attrs.get("type", "source")) == kind and str(f.attrs.get("r_version", "")) == r_version


def _packages(
    request: Request,
    session: Session,
    identity: Identity,
    view: snapshot.View,
    kind: str,
    r_version: str,
    *,
    gz: bool,
) -> Response:
    files = [
        f
        for f in snapshots.files_at(session, view.owner.id, view.at.serial, view.label, "r")
        if _in_slice(f, kind, r_version)
    ]
    shown, aud = snapshot.visible(session, identity, files, VIA)
    aud.require_some(identity, f"the R repository of {view.owner.login}")

    def build() -> indexes.Document:
        rows = [
            index.Row(
                str(f.attrs.get("Package")),
                str(f.attrs.get("Version")),
                index.entry(f.attrs, f.md5, kind),
            )
            for f in shown
        ]
        return indexes.Document(index.packages(rows), media_type="text/plain; charset=utf-8")

    encoding = "gz" if gz else "json"
    return snapshot.document(
        request,
        view,
        aud,
        ("cran", kind, r_version),
        build,
        encoding=encoding,
        media_type="application/x-gzip" if gz else "text/plain; charset=utf-8",
    )


def _file(
    session: Session, identity: Identity, view: snapshot.View, kind: str, r_version: str, filename: str
) -> Blob:
    found = [
        f
        for f in snapshots.files_at(
            session, view.owner.id, view.at.serial, view.label, "r", basename=filename
        )
        if _in_slice(f, kind, r_version)
    ]
    if not found or not snapshot.readable(session, identity, found[0], VIA):
        raise permissions.unseen(identity, f"{view.owner.login}/{filename}", via=VIA)
    return snapshot.blob(found[0], public=snapshot.public(session, found[0]))
