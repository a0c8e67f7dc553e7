"""PyPI's part of the one write path: keep `pypi_files` and the index generations in step with every event."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from packyard.core import indexes, queries
from packyard.core.models import Event, File, FileLabel, Label, Package
from packyard.formats.pypi.models import PypiFile
from packyard.formats.pypi.simple import normalize

FORMAT = "pypi"
ROOT_KEY = ""
"""The generation key of an owner's project list (/simple/)."""


def on_event(session: Session, event: Event) -> None:
    kind = event.kind
    if event.data.get("package_type") != "pypi" and kind != "access.changed":
        return
    owner_id = queries.owner_id(session, event.owner)
    if kind in ("file.added", "file.removed", "label.added", "label.removed", "file.yanked"):
        f = queries.event_file(session, event)
        if f is None:
            return
        if kind == "file.added":
            _add(session, owner_id, f)
        elif kind == "file.removed":
            session.execute(delete(PypiFile).where(PypiFile.file_id == f.id))
        elif kind == "file.yanked":
            session.execute(
                update(PypiFile)
                .where(PypiFile.file_id == f.id)
                .values(yanked=bool(event.data.get("yanked")), yanked_reason=event.data.get("reason"))
            )
        labels = event.data.get("labels") or [event.data.get("label")] if kind != "file.yanked" else None
        if labels is None:
            labels = [label.name for label in f.labels]
        project = normalize(f.release.package.name)
        for label in labels:
            _bump(session, owner_id, label, project)
    elif kind == "access.changed":
        rows = session.execute(
            select(Label.name, PypiFile.project)
            .join(FileLabel, FileLabel.label_id == Label.id)
            .join(PypiFile, PypiFile.file_id == FileLabel.file_id)
            .join(Package, Package.id == PypiFile.package_id)
            .where(Package.owner_id == owner_id, queries.named_exactly(event.package or ""))
        )
        for label, project in set(rows):
            _bump(session, owner_id, label, project)


def _bump(session: Session, owner_id: int, label: str, project: str) -> None:
    indexes.bump(session, FORMAT, owner_id, label, project)
    indexes.bump(session, FORMAT, owner_id, label, ROOT_KEY)


def _add(session: Session, owner_id: int, f: File) -> None:
    attrs = f.attrs or {}
    session.merge(
        PypiFile(
            file_id=f.id,
            owner_id=owner_id,
            package_id=f.package_id,
            project=normalize(f.release.package.name),
            filename=f.basename,
            version=f.release.version,
            packagetype=str(attrs.get("packagetype") or "sdist"),
            python_version=str(attrs.get("python_version") or "source"),
            requires_python=attrs.get("requires_python"),
            metadata_sha256=(f.extra or {}).get("metadata"),
            yanked=bool(attrs.get("yanked")),
            upload_time=f.uploaded_at,
        )
    )
    session.flush()
