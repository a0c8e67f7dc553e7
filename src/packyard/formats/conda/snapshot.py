"""conda channels as at a serial: `/conda/OWNER[/label/LABEL]/snapshot/N/SUBDIR/DOCUMENT` (repodata.json and its
.zst/.bz2 forms, current_repodata.json, run_exports.json), `.../snapshot/N/channeldata.json` and the package files,
rendered by `index` from the snapshot history's rows.

Shards (CEP 16) are not offered: a 404 for repodata_shards.msgpack.zst sends rattler and conda to repodata.json.
"""

from __future__ import annotations

import re

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from packyard.core import indexes, permissions, snapshots
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.models import Package
from packyard.formats import snapshot
from packyard.formats.conda import index
from packyard.web.serve import Blob

VIA = "conda"
_DOCUMENTS = {
    "repodata.json": ("repodata", "json"),
    "repodata.json.zst": ("repodata", "zst"),
    "repodata.json.bz2": ("repodata", "bz2"),
    "current_repodata.json": ("repodata", "json"),
    "current_repodata.json.zst": ("repodata", "zst"),
    "current_repodata.json.bz2": ("repodata", "bz2"),
    "repodata_from_packages.json": ("repodata", "json"),
    "run_exports.json": ("run_exports", "json"),
    "run_exports.json.zst": ("run_exports", "zst"),
}
_MEDIA = {"json": "application/json", "zst": "application/zstd", "bz2": "application/x-bzip2"}


def answer(
    request: Request,
    session: Session,
    identity: Identity,
    point: snapshot.Point,
    subdir_pattern: re.Pattern[str],
) -> Response | Blob:
    view = snapshot.open_view(session, point)
    rest = view.rest
    if rest == ["channeldata.json"]:
        return _document(request, session, identity, view, "", "channeldata", "json")
    if len(rest) == 2 and subdir_pattern.match(rest[0]):
        subdir, name = rest
        if name in _DOCUMENTS:
            kind, encoding = _DOCUMENTS[name]
            return _document(request, session, identity, view, subdir, kind, encoding)
        if name.endswith((".conda", ".tar.bz2")):
            return _file(session, identity, view, subdir, name)
    raise NotFound(f"not found in a conda snapshot: /conda/{point.prefix}/{'/'.join(rest)}")


def _rows(files: list[snapshots.SnapFile], subdir: str) -> list[index.Row]:
    rows = []
    for f in files:
        if f.basename.split("/", 1)[0] != subdir:
            continue
        rec = index.record(f.attrs, md5=f.md5, sha256=f.sha256, size=f.size, uploaded=f.uploaded_at)
        rows.append(index.Row(str(rec.get("name", "")), f.basename.split("/", 1)[-1], index.dumps(rec)))
    return rows


def _document(
    request: Request,
    session: Session,
    identity: Identity,
    view: snapshot.View,
    subdir: str,
    kind: str,
    encoding: str,
) -> Response:
    files = snapshots.files_at(session, view.owner.id, view.at.serial, view.label, "conda")
    shown, aud = snapshot.visible(session, identity, files, VIA)
    aud.require_some(identity, f"the channel {view.owner.login}")

    def build() -> indexes.Document:
        if kind == "channeldata":
            subdirs = sorted({f.basename.split("/", 1)[0] for f in shown})
            per_subdir = {s: _rows(shown, s) for s in subdirs}
            return indexes.Document(index.channeldata(per_subdir, _info(session, shown)))
        rows = _rows(shown, subdir)
        body = index.repodata(subdir, rows) if kind == "repodata" else index.run_exports(subdir, rows)
        return indexes.Document(body)

    return snapshot.document(
        request, view, aud, ("conda", subdir, kind), build, encoding=encoding, media_type=_MEDIA[encoding]
    )


def _info(session: Session, files: list[snapshots.SnapFile]) -> dict[str, index.PackageInfo]:
    """Descriptive fields of the packages that still exist (a snapshot keeps files, not package pages)."""
    if not files:
        return {}
    ids = {f.package_id for f in files}
    names = {f.package_id: str(f.attrs.get("name") or f.package_name).lower() for f in files}
    out = {}
    for p in session.scalars(
        select(Package).where(Package.id.in_(ids), Package.owner_id == files[0].owner_id)
    ):
        out[names[p.id]] = index.PackageInfo.of(p)
    return out


def _file(session: Session, identity: Identity, view: snapshot.View, subdir: str, filename: str) -> Blob:
    found = snapshots.files_at(
        session, view.owner.id, view.at.serial, view.label, "conda", basename=f"{subdir}/{filename}"
    )
    if not found or not snapshot.readable(session, identity, found[0], VIA):
        raise permissions.unseen(
            identity, f"{view.owner.login}/label/{view.label}/{subdir}/{filename}", via=VIA
        )
    return snapshot.blob(found[0], public=snapshot.public(session, found[0]))
