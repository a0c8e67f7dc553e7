"""CRAN's part of the one write path: keep `cran_files` and the index generations in step with every event."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from packyard.core import indexes, queries
from packyard.core.models import Event, FileLabel, Label, Package
from packyard.formats.cran import index
from packyard.formats.cran.models import CranFile

FORMAT = "cran"


def slice_key(kind: str, r_version: str) -> str:
    return kind if kind == "source" else f"{kind}/{r_version}"


def on_event(session: Session, event: Event) -> None:
    kind = event.kind
    if event.data.get("package_type") != "r" and kind != "access.changed":
        return
    owner_id = queries.owner_id(session, event.owner)
    if kind in ("file.added", "file.removed", "label.added", "label.removed"):
        f = queries.event_file(session, event)
        if f is None:
            return
        attrs = f.attrs or {}
        key = slice_key(str(attrs.get("type", "source")), str(attrs.get("r_version", "")))
        if kind == "file.added":
            session.merge(
                CranFile(
                    file_id=f.id,
                    owner_id=owner_id,
                    package_id=f.package_id,
                    package=str(attrs.get("Package")),
                    version=str(attrs.get("Version")),
                    kind=str(attrs.get("type", "source")),
                    r_version=str(attrs.get("r_version", "")),
                    filename=f.basename,
                    fields=index.entry(attrs, f.md5, str(attrs.get("type", "source"))),
                )
            )
        elif kind == "file.removed":
            session.execute(delete(CranFile).where(CranFile.file_id == f.id))
        for label in event.data.get("labels") or [event.data.get("label")]:
            indexes.bump(session, FORMAT, owner_id, label, key)
    elif kind == "access.changed":
        rows = session.execute(
            select(Label.name, CranFile.kind, CranFile.r_version)
            .join(FileLabel, FileLabel.label_id == Label.id)
            .join(CranFile, CranFile.file_id == FileLabel.file_id)
            .join(Package, Package.id == CranFile.package_id)
            .where(Package.owner_id == owner_id, queries.named_exactly(event.package or ""))
        )
        for label, kind_, r_version in set(rows):
            indexes.bump(session, FORMAT, owner_id, label, slice_key(kind_, r_version))
