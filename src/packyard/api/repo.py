"""One-request uploads: the legacy PyPI upload API that twine and `uv publish` speak, which Anaconda Server also
uses for curl uploads of R packages (seed 004) — and Packyard for notebooks, environments, projects and files.

    curl -F filetype=cran_source_package -F content=@pkg_1.0.tar.gz -H "X-Auth: TOKEN" http://HOST/api/repo/OWNER
    curl -F filetype=ipynb -F name=analysis -F version=1 -F content=@analysis.ipynb -H "X-Auth: TOKEN" ...

Errors are plain text with the status twine and uv understand: 401 bad credentials, 403 not allowed, 409
"File already exists" (twine's --skip-existing looks for that phrase), 400 anything wrong with the file.
Re-uploading an identical file answers 200, as PyPI does.
"""

from __future__ import annotations

import dataclasses
import hashlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from packyard.core import formats, permissions, queries
from packyard.core.artifacts import Artifact, InvalidPackage
from packyard.core.auth import Identity
from packyard.core.errors import BadRequest, Conflict, NotFound, PackyardError, Unauthorized
from packyard.core.models import File, Package, Release, package_key
from packyard.core.multipart import read_form
from packyard.core.permissions import Permission
from packyard.core.services import packages as pkg_service
from packyard.core.services import uploads
from packyard.web.deps import Services, Svc, resolve_identity

router = APIRouter()
"""Included after the formats' routers: they answer the reads under /api/repo (PyPI's simple pages and files,
R's repository), and the GET route here only says what is not found there."""


async def _post(owner: str, request: Request, svc: Svc) -> Response:
    """POST /pypi/OWNER is twine's upload (multipart), or what a format posts there (PyPI's XML-RPC, text/xml);
    /api/repo/OWNER likewise."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    other = formats.post_handler(media_type)
    if other is not None:
        return await other(request, owner)
    return await handle(request, svc, owner)


for _path in ("/pypi/{owner}", "/pypi/{owner}/", "/api/repo/{owner}", "/api/repo/{owner}/"):
    router.add_api_route(_path, _post, methods=["POST"], include_in_schema=False)


@router.api_route("/api/repo/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def repo_get(path: str, request: Request, svc: Svc) -> Response:
    """Anaconda Server's read URLs are /api/repo/OWNER/simple/... (PyPI) and /api/repo/OWNER/cran/... (R)."""
    resolve_identity(request, svc)  # a wrong credential is a 401 here too
    raise NotFound(f"not found: /api/repo/{path}")


async def handle(request: Request, svc: Services, owner: str) -> Response:
    try:
        return await _upload(request, svc, owner)
    except PackyardError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="packyard"'} if exc.status == 401 else None
        return PlainTextResponse(exc.message, status_code=exc.status, headers=headers)


async def _upload(request: Request, svc: Services, owner_login: str) -> Response:
    identity = await run_in_threadpool(resolve_identity, request, svc)
    if identity.is_anonymous:
        raise Unauthorized(
            "Invalid or non-existent authentication information: upload with a token "
            "(-u TOKEN -p x-auth-token, or -u __token__ -p TOKEN) or your password"
        )
    with svc.db.read() as session:
        owner = queries.owner(session, owner_login)
    blake2 = hashlib.blake2b(digest_size=32)
    with svc.store.receive() as incoming:

        def sink(chunk: bytes) -> None:
            blake2.update(chunk)
            incoming.write(chunk)

        form = await read_form(
            request.headers.get("content-type", ""),
            request.stream(),
            sink,
            file_fields=("content",),
            max_file_bytes=svc.settings.max_upload_bytes,
        )
        fields = form.fields
        if fields.get(":action", "file_upload") != "file_upload":
            raise BadRequest(f"Unsupported :action {fields[':action']!r}; only file_upload is supported")
        if fields.get("protocol_version", "1") != "1":
            raise BadRequest("Unknown protocol version.")
        if form.filename is None:
            raise BadRequest("Upload payload does not have a file (a 'content' file part).")
        filetype = fields.get("filetype") or ""
        found = formats.filetype(filetype)
        if found is None:
            raise BadRequest(
                f"Invalid value for filetype: {filetype!r}; expected one of {', '.join(formats.filetypes())}"
            )
        spec, via = found
        dtype = spec.distribution_type
        ref = await run_in_threadpool(incoming.digest)
        try:
            uploads.check_digests(ref, md5_hex=fields.get("md5_digest"), sha256=fields.get("sha256_digest"))
        except uploads.DigestMismatch:
            raise BadRequest(
                "The digest supplied does not match a digest calculated from the uploaded file."
            ) from None
        declared_blake2 = fields.get("blake2_256_digest")
        if declared_blake2 and declared_blake2.lower() != blake2.hexdigest():
            raise BadRequest("The digest supplied does not match a digest calculated from the uploaded file.")
        basename = form.filename.rsplit("/", 1)[-1]
        named = {k: fields.get(k) or None for k in ("name", "version", "summary")} if spec.named else {}
        labels = [v for v in (fields.get("label") or "main").split(",") if v]
        try:
            artifact = await run_in_threadpool(
                lambda: uploads.parse_received(incoming.path, basename, dtype, **named)
            )
        except InvalidPackage as exc:
            raise BadRequest(f"Invalid distribution file. {exc}") from None
        if fields.get("name") and package_key(fields["name"]) != package_key(artifact.name):
            raise BadRequest(
                f"Invalid value for name: the form says {fields['name']!r} but the file is {artifact.name!r}"
            )
        chosen_version = artifact.version if fields.get("version") or not spec.named else None
        next_version = spec.next_version
        if chosen_version is None and next_version is not None:
            versions = await run_in_threadpool(_versions, svc, owner.id, artifact.name)
            artifact = dataclasses.replace(artifact, version=next_version(versions))
        if await run_in_threadpool(
            _identical_exists, svc, identity, owner.id, artifact, ref.sha256, chosen_version, via
        ):
            return PlainTextResponse(f"{artifact.basename} is already uploaded (identical file)\n")
        blob, extra = await run_in_threadpool(uploads.store_artifact, svc.store, incoming, artifact)
    try:
        await run_in_threadpool(
            lambda: pkg_service.add_file(
                svc.db,
                identity,
                owner,
                pkg_service.NewFile(artifact=artifact, blob=blob, labels=labels, extra=extra),
                create_package=True,
                package_info=pkg_service.PackageInfo(
                    summary=artifact.summary,
                    description=artifact.description,
                    license=artifact.license,
                    home=artifact.home,
                ),
                via=via,
            )
        )
    except Conflict as exc:
        raise Conflict(f"File already exists ('{artifact.basename}'). {exc.message}") from None
    return PlainTextResponse(
        f"uploaded {owner.login}/{artifact.name}/{artifact.version}/{artifact.basename}\n"
    )


def _identical_exists(
    svc: Services,
    identity: Identity,
    owner_id: int,
    artifact: Artifact,
    sha256: str,
    version: str | None,
    via: str,
) -> bool:
    """Is this very file already there (in `version`; in any version when the uploader named none)?

    Only someone who may write to the package gets the answer: to anyone else it would reveal what a private
    package holds, so they go on to the write path and its 403.
    """
    with svc.db.read() as session:
        pkg = session.scalar(
            select(Package).where(
                Package.owner_id == owner_id, Package.name_key == package_key(artifact.name)
            )
        )
        if pkg is None or not permissions.can(identity, Permission.WRITE, pkg, via=via):
            return False
        query = select(File.id).where(
            File.package_id == pkg.id, File.basename == artifact.basename, File.sha256 == sha256
        )
        if version is not None:
            query = query.join(Release, Release.id == File.release_id).where(Release.version == version)
        return session.scalar(query) is not None


def _versions(svc: Services, owner_id: int, name: str) -> list[str]:
    with svc.db.read() as session:
        return list(
            session.scalars(
                select(Release.version)
                .join(Package, Package.id == Release.package_id)
                .where(Package.owner_id == owner_id, Package.name_key == package_key(name))
            )
        )
