"""Several files of a package at once (the Files tab's ticked files): `POST /api/files/OWNER/NAME`.

One file at a time already has its calls (`DELETE /api/dist/...`, `POST/DELETE /api/channels/OWNER/LABEL`);
this one exists because a batch must be all or nothing, which separate calls cannot be. The page and this call
run the same service, `core.services.filesets.change_files`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from packyard.api.body import body_of
from packyard.api.schemas import FileBatch
from packyard.core.services import filesets
from packyard.web.deps import SignedIn, Svc

router = APIRouter()


@router.post("/files/{owner}/{name}")
async def change_files(
    owner: str, name: str, ident: SignedIn, svc: Svc, body: Annotated[FileBatch, body_of(FileBatch)]
) -> dict[str, Any]:
    """Delete, label, unlabel, copy to or move to a label several files in one transaction: if any file may not
    be changed (a locked label, a missing file, no write access), none is."""
    refs = [filesets.FileRef(f.version, f.basename) for f in body.files]
    changed = await run_in_threadpool(
        filesets.change_files, svc.db, ident, owner, name, refs, body.action, body.label or ""
    )
    return {"action": changed.action, "files": changed.files, "label": changed.label or None}
