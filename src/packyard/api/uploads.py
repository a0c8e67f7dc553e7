"""anaconda-client's upload flow (stage -> POST post_url -> commit) and downloads.

The POST to `post_url` carries no credentials (anaconda-client sends it without its session), so the form is
signed at stage time and works once. Its errors are S3-style XML, which is what the client parses.
"""

from __future__ import annotations

from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from packyard.api.body import body_of
from packyard.api.schemas import CommitRequest, StageRequest
from packyard.core import queries
from packyard.core.errors import Forbidden, NotFound, PackyardError, TooLarge
from packyard.core.models import File, Package
from packyard.core.services import receive, uploads
from packyard.web import shapes as ser
from packyard.web.deps import Caller, SignedIn, Svc, base_url, readable_package
from packyard.web.serve import Blob, serve_blob

router = APIRouter()


@router.post("/stage/{owner}/{name}/{version}/{basename:path}")
async def stage(
    owner: str,
    name: str,
    version: str,
    basename: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[StageRequest, body_of(StageRequest)],
) -> dict[str, Any]:
    payload = body.model_dump()

    def work() -> dict[str, Any]:
        with svc.db.read() as session:
            pkg = readable_package(session, ident, owner, name)
        row, signature = uploads.stage(
            svc.db,
            ident,
            pkg,
            version,
            basename,
            payload,
            key=svc.settings.signing_key,
            ttl_seconds=svc.settings.stage_ttl_seconds,
        )
        return {
            "post_url": f"{base_url(request)}/api/upload/{row.id}",
            "form_data": {"key": f"{owner}/{name}/{version}/{basename}", "upload_token": signature},
            "dist_id": row.id,
            "basename": basename,
        }

    return await run_in_threadpool(work)


def s3_error(status: int, code: str, message: str) -> Response:
    body = f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    return Response(body, status_code=status, media_type="application/xml")


@router.post("/upload/{stage_id}", include_in_schema=False)
async def upload(stage_id: str, request: Request, svc: Svc) -> Response:
    try:
        staged = await receive.into_stage(
            svc.db,
            svc.store,
            stage_id,
            request.headers.get("content-type", ""),
            request.stream(),
            key=svc.settings.signing_key,
            max_file_bytes=svc.settings.max_upload_bytes,
        )
    except uploads.DigestMismatch as exc:
        return s3_error(400, "InvalidDigest", exc.message)
    except Forbidden as exc:
        return s3_error(403, "AccessDenied", exc.message)
    except NotFound as exc:
        return s3_error(404, "NoSuchUpload", exc.message)
    except TooLarge as exc:
        return s3_error(413, "EntityTooLarge", exc.message)
    except ClientDisconnect:  # nobody reads this answer: it keeps a routine event out of the error log
        return s3_error(400, "IncompleteBody", "the client went away before the body ended")
    except PackyardError as exc:
        return s3_error(exc.status, "InvalidRequest", exc.message)
    if staged.error is not None:
        # anaconda-client cannot show an error of this POST: the commit answers it (400, the parser's message).
        return Response(status_code=201)
    return Response(
        f"<PostResponse><Key>{escape(staged.basename)}</Key><ETag>{staged.md5}</ETag></PostResponse>",
        status_code=201,
        media_type="application/xml",
    )


@router.post("/commit/{owner}/{name}/{version}/{basename:path}")
async def commit(
    owner: str,
    name: str,
    version: str,
    basename: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[CommitRequest, body_of(CommitRequest)],
) -> dict[str, Any]:
    dist_id = body.dist_id

    def work() -> dict[str, Any]:
        with svc.db.read() as session:
            account = queries.owner(session, owner)
        f = uploads.commit(svc.db, ident, account, name, version, basename, dist_id)
        base = base_url(request)
        with svc.db.read() as session:
            pkg = queries.package(session, owner, name)
            rel = queries.release(pkg, f_version(f, pkg))
            out = ser.file(queries.file(rel, f.basename), pkg, rel, base)
        return {**out, "url": f"{base}/{pkg.owner.login}/{pkg.name}"}

    return await run_in_threadpool(work)


def f_version(f: File, pkg: Package) -> str:
    for rel in pkg.releases:
        if rel.id == f.release_id:
            return rel.version
    raise NotFound("the file vanished while it was committed")


@router.get("/download/{owner}/{name}/{version}/{basename:path}")
@router.head("/download/{owner}/{name}/{version}/{basename:path}", include_in_schema=False)
def download(
    owner: str, name: str, version: str, basename: str, request: Request, ident: Caller, svc: Svc
) -> Response:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
        found = Blob.of_file(queries.file(queries.release(pkg, version), basename), pkg)
    return serve_blob(svc, request, found)
