"""Labels, which the REST API (and anaconda-client) call channels."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from packyard.api.body import body_of
from packyard.api.schemas import LabelFiles
from packyard.core import permissions, queries
from packyard.core.errors import NotFound
from packyard.core.models import File, FileLabel, Label, Package, Release
from packyard.core.services import labels as label_service
from packyard.web.deps import Caller, SignedIn, Svc

router = APIRouter()


@router.get("/channels/{owner}")
def list_labels(owner: str, ident: Caller, svc: Svc) -> dict[str, Any]:
    """Labels with the number of files the caller may see under each."""
    with svc.db.read() as session:
        account = queries.owner(session, owner)
        rows = session.execute(
            select(Label, Package, func.count(FileLabel.file_id))
            .join(FileLabel, FileLabel.label_id == Label.id, isouter=True)
            .join(File, File.id == FileLabel.file_id, isouter=True)
            .join(Package, Package.id == File.package_id, isouter=True)
            .where(Label.owner_id == account.id)
            .group_by(Label.id, Package.id)
        ).all()
        out: dict[str, Any] = {}
        for label, pkg, count in rows:
            entry = out.setdefault(
                label.name, {"is_locked": label.is_locked, "num_files": 0, "name": label.name}
            )
            if pkg is not None and permissions.can_see(ident, pkg):
                entry["num_files"] += count
        if not permissions.can(ident, permissions.Permission.WRITE, account):
            out = {k: v for k, v in out.items() if v["num_files"] or k == "main"}
        return dict(sorted(out.items()))


@router.get("/channels/{owner}/{label}")
def show_label(owner: str, label: str, ident: Caller, svc: Svc) -> dict[str, Any]:
    with svc.db.read() as session:
        account = queries.owner(session, owner)
        row = session.scalar(select(Label).where(Label.owner_id == account.id, Label.name == label))
        if row is None:
            raise NotFound(f"label {owner}/{label} not found")
        files = session.execute(
            select(File, Release, Package)
            .join(FileLabel, FileLabel.file_id == File.id)
            .join(Release, Release.id == File.release_id)
            .join(Package, Package.id == File.package_id)
            .where(FileLabel.label_id == row.id)
            .order_by(Package.name_key, File.basename)
        ).all()
        visible = [
            {
                "full_name": f"{account.login}/{pkg.name}/{rel.version}/{f.basename}",
                "basename": f.basename,
                "version": rel.version,
                "package": pkg.name,
                "type": f.package_type,
            }
            for f, rel, pkg in files
            if permissions.can_see(ident, pkg)
        ]
        return {"name": row.name, "is_locked": row.is_locked, "files": visible, "num_files": len(visible)}


@router.post("/channels/{owner}/{label}", status_code=201)
async def add_label(
    owner: str, label: str, ident: SignedIn, svc: Svc, body: Annotated[LabelFiles, body_of(LabelFiles)]
) -> Response:
    package, version, basename = body.package, body.version, body.basename

    def work() -> None:
        with svc.db.read() as session:
            account = queries.owner(session, owner)
        label_service.add_label(svc.db, ident, account, label, package, version, basename)

    await run_in_threadpool(work)
    return Response(status_code=201)


@router.delete("/channels/{owner}/{label}", status_code=201)
async def remove_label(
    owner: str, label: str, ident: SignedIn, svc: Svc, body: Annotated[LabelFiles, body_of(LabelFiles)]
) -> Response:
    package, version, basename = body.package, body.version, body.basename

    def work() -> None:
        with svc.db.read() as session:
            account = queries.owner(session, owner)
        label_service.remove_label(svc.db, ident, account, label, package, version, basename)

    await run_in_threadpool(work)
    return Response(status_code=201)


@router.post("/channels/{owner}/{label}/copy/{to_label}", status_code=201)
def copy_label(owner: str, label: str, to_label: str, ident: SignedIn, svc: Svc) -> Response:
    with svc.db.read() as session:
        account = queries.owner(session, owner)
    label_service.copy_label(svc.db, ident, account, label, to_label)
    return Response(status_code=201)


@router.post("/channels/{owner}/{label}/rename/{to_label}", status_code=201)
def rename_label(owner: str, label: str, to_label: str, ident: SignedIn, svc: Svc) -> Response:
    """Packyard extension (anaconda-client has no rename): move every file of a label to another one."""
    with svc.db.read() as session:
        account = queries.owner(session, owner)
    label_service.rename_label(svc.db, ident, account, label, to_label)
    return Response(status_code=201)


@router.post("/channels/{owner}/{label}/lock", status_code=201)
def lock_label(owner: str, label: str, ident: SignedIn, svc: Svc) -> Response:
    return _set_locked(owner, label, ident, svc, locked=True)


@router.delete("/channels/{owner}/{label}/lock", status_code=201)
def unlock_label(owner: str, label: str, ident: SignedIn, svc: Svc) -> Response:
    return _set_locked(owner, label, ident, svc, locked=False)


def _set_locked(owner: str, label: str, ident: Any, svc: Any, *, locked: bool) -> Response:
    with svc.db.read() as session:
        account = queries.owner(session, owner)
    label_service.set_locked(svc.db, ident, account, label, locked)
    return Response(status_code=201)
