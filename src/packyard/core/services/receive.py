"""The one receive pipeline: a multipart upload streamed into the blob store, hashed on the way, off the event loop;
then checked, parsed and recorded on its stage (anaconda-client's POST to `post_url`) or added (the one-request
upload of twine, uv and curl at /pypi/OWNER and /api/repo/OWNER).

    body (async chunks) --event loop: batches of BATCH_BYTES--> worker thread: MultipartReader.feed
        -> file part: temp blob (write + md5 + sha256; blake2b-256 when the form declares one)
    -> close + fsync -> check the declared digests -> parse (formats) -> blob into place -> stage row / add_file

The event loop only moves bytes: parsing the multipart framing, hashing and writing run in a worker thread, one
batch at a time while the loop reads the next, so a large upload does not hold up other requests. Routes pass
plain values (ids, logins, the body's content type and chunks) and shape the answer their protocol expects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy import select

from packyard.core import formats, permissions, queries
from packyard.core.artifacts import Artifact, InvalidPackage
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict
from packyard.core.models import Account, File, Package, Release, Stage, package_key
from packyard.core.multipart import Form, MultipartReader
from packyard.core.permissions import Permission
from packyard.core.services import packages, uploads
from packyard.core.storage import BlobRef, BlobStore, Incoming

BATCH_BYTES = 1 << 20
"""Bytes handed to the worker thread at a time: large enough that the hand-over costs nothing, small enough that
an upload holds at most two batches (the one being hashed, the one being read) in memory."""
BLAKE2_FIELD = "blake2_256_digest"


@dataclass(frozen=True)
class Received:
    """A form read to its end, its file part in the temp blob (not yet visible)."""

    form: Form
    ref: BlobRef
    blake2_256: str | None
    """Hex digest of the file, computed only when the form declared `blake2_256_digest`."""


@dataclass(frozen=True)
class Staged:
    """The POST to a stage's post_url: the file received; `error` is the parser's refusal, which the commit reports."""

    basename: str
    md5: str
    error: str | None = None


@dataclass(frozen=True)
class Uploaded:
    """A one-request upload: the file added, or found already there byte for byte (`identical`)."""

    owner: str
    name: str
    version: str
    basename: str
    identical: bool = False


class _FileSink:
    """Where the file part's bytes go: the temp blob and, once the form has declared one, a blake2b-256."""

    def __init__(self, incoming: Incoming) -> None:
        self.incoming = incoming
        self.blake2: hashlib.blake2b | None = None

    def write(self, chunk: bytes) -> None:
        self.incoming.write(chunk)
        if self.blake2 is not None:
            self.blake2.update(chunk)


async def receive_form(
    incoming: Incoming,
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    file_fields: tuple[str, ...],
    max_file_bytes: int,
    before_file: Callable[[dict[str, str]], None] | None = None,
) -> Received:
    """Read a multipart body into `incoming`; `before_file` sees the fields before the file's first byte lands."""
    sink = _FileSink(incoming)

    def at_file(fields: dict[str, str]) -> None:
        if before_file is not None:
            before_file(fields)
        if fields.get(BLAKE2_FIELD):
            sink.blake2 = hashlib.blake2b(digest_size=32)

    reader = MultipartReader(
        content_type, sink.write, file_fields=file_fields, max_file_bytes=max_file_bytes, before_file=at_file
    )
    await _pump(body, reader.feed)

    def finish() -> Received:
        form = reader.close()
        ref = incoming.digest()
        blake2 = None
        if form.filename is not None and form.fields.get(BLAKE2_FIELD):
            # Declared after the file (no client does): hash the temp file again rather than skip the check.
            blake2 = sink.blake2.hexdigest() if sink.blake2 is not None else _blake2_of(incoming.path)
        return Received(form, ref, blake2)

    return await anyio.to_thread.run_sync(finish)


async def _pump(body: AsyncIterator[bytes], consume: Callable[[bytes], None]) -> None:
    """Feed `body` to `consume` in a worker thread, BATCH_BYTES at a time, reading the next batch while the thread
    works on the last (uvicorn hands the body over in pieces of 64-256 KiB: one thread hop per piece would cost
    more than the hashing it moves)."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in body:
            parts.append(chunk)
            size += len(chunk)
            if size < BATCH_BYTES:
                continue
            batch = parts[0] if len(parts) == 1 else b"".join(parts)
            parts, size = [], 0
            if pending is not None:
                await asyncio.shield(pending)  # its error (a refused form) stops the upload here
            pending = loop.run_in_executor(None, consume, batch)
        if pending is not None:
            await asyncio.shield(pending)
        if parts:
            await anyio.to_thread.run_sync(consume, b"".join(parts))
    finally:
        if pending is not None:
            if not pending.done():
                # Leaving early (the client went away, the request was cancelled): the thread must be done with
                # the temp file before the caller removes it.
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved, so asyncio does not log it: the error that got us here wins


def _blake2_of(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=32)
    with path.open("rb") as fh:
        while chunk := fh.read(BATCH_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# --- anaconda-client's POST to post_url --------------------------------------------------------------------------


async def into_stage(
    db: Database,
    store: BlobStore,
    stage_id: str,
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    key: bytes,
    max_file_bytes: int,
) -> Staged:
    """Receive the file of a staged upload. The form's signature is checked on the fields that precede the file,
    before any file byte is stored; a file the parser refuses is recorded as the stage's error."""
    row = await anyio.to_thread.run_sync(uploads.load_stage, db, stage_id)
    with store.receive() as incoming:
        received = await receive_form(
            incoming,
            content_type,
            body,
            file_fields=("file", "content"),
            max_file_bytes=max_file_bytes,
            before_file=lambda fields: uploads.check_signature(stage_id, fields.get("upload_token"), key=key),
        )
        return await anyio.to_thread.run_sync(_finish_stage, db, store, incoming, row, received, key)


def _finish_stage(
    db: Database, store: BlobStore, incoming: Incoming, row: Stage, received: Received, key: bytes
) -> Staged:
    fields, ref = received.form.fields, received.ref
    uploads.check_signature(row.id, fields.get("upload_token"), key=key)  # also when there was no file part
    if received.form.filename is None:
        raise BadRequest("the form has no file part named 'file'")
    uploads.check_digests(
        ref,
        size=fields.get("Content-Length"),
        md5_b64=fields.get("Content-MD5"),
        sha256=row.request.get("sha256"),
    )
    try:
        artifact = uploads.parse_received(
            incoming.path,
            row.basename,
            row.distribution_type or None,
            name=row.package,  # used by the formats named by their uploader (file, ipynb, env, project)
            version=row.version,
        )
    except InvalidPackage as exc:
        uploads.finish_stage(db, row.id, ref, {"error": str(exc)})
        return Staged(row.basename, ref.md5, error=str(exc))
    blob, extra = uploads.store_artifact(store, incoming, artifact)
    uploads.finish_stage(db, row.id, blob, uploads.artifact_to_json(artifact, extra))
    return Staged(row.basename, ref.md5)


# --- the one-request upload (PyPI's legacy upload API, also for R, notebooks, environments, projects, files) ----

DIGEST_MISMATCH = "The digest supplied does not match a digest calculated from the uploaded file."


async def upload(
    db: Database,
    store: BlobStore,
    identity: Identity,
    owner_login: str,
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    max_file_bytes: int,
) -> Uploaded:
    """Receive, check, parse and add one file. The form's `filetype` names the format (the registry says which,
    and the interface its token scopes are checked against). Messages are the ones twine and uv print
    (warehouse's)."""
    owner = await anyio.to_thread.run_sync(_owner, db, owner_login)
    with store.receive() as incoming:
        received = await receive_form(
            incoming, content_type, body, file_fields=("content",), max_file_bytes=max_file_bytes
        )
        return await anyio.to_thread.run_sync(_add_received, db, store, incoming, identity, owner, received)


# --- the browser's upload form (ui/upload.py) ------------------------------------------------------------------

AUTO_FILETYPE = ""
"""The form's `filetype` when the uploader leaves the type to the server: it is detected from the file."""


async def upload_form(
    db: Database,
    store: BlobStore,
    identity: Identity,
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    max_file_bytes: int,
    check_form: Callable[[dict[str, str]], None],
) -> Uploaded:
    """The web UI's upload: the one-request upload, with the owner a field of the form and the file type
    detectable. `check_form` (the CSRF check) sees the fields that precede the file before any file byte is
    stored, and the owner is looked up then too, so a forged or mistaken form stores nothing; a form without a
    file part is checked all the same."""
    owners: list[Account] = []

    def before_file(fields: dict[str, str]) -> None:
        check_form(fields)
        login = (fields.get("owner") or "").strip()
        if not login:
            raise BadRequest("choose the owner to upload to")
        owners.append(_owner(db, login))

    with store.receive() as incoming:
        received = await receive_form(
            incoming,
            content_type,
            body,
            file_fields=("content",),
            max_file_bytes=max_file_bytes,
            before_file=before_file,
        )
        if not owners:  # no file part: the hook never ran
            await anyio.to_thread.run_sync(before_file, received.form.fields)
        return await anyio.to_thread.run_sync(
            lambda: _add_received(db, store, incoming, identity, owners[0], received, detect=True)
        )


def _filetype(
    fields: dict[str, str], path: Path, basename: str, *, detect: bool
) -> tuple[formats.FormatSpec, str]:
    """The format of a one-request upload and the interface its token scopes are checked against: the form's
    `filetype`, or (the browser's form, `detect`) a type name, or the type the server detects in the file."""
    filetype = fields.get("filetype") or ""
    found = formats.filetype(filetype)
    if found is not None:
        return found
    if detect:
        try:
            spec = formats.spec_for(filetype or formats.detect(path, basename))
        except InvalidPackage as exc:
            raise BadRequest(str(exc)) from None
        return spec, next(iter(spec.filetypes.values()), "api")
    raise BadRequest(
        f"Invalid value for filetype: {filetype!r}; expected one of {', '.join(formats.filetypes())}"
    )


def _owner(db: Database, login: str) -> Account:
    with db.read() as session:
        return queries.owner(session, login)


def _add_received(
    db: Database,
    store: BlobStore,
    incoming: Incoming,
    identity: Identity,
    owner: Account,
    received: Received,
    *,
    detect: bool = False,
) -> Uploaded:
    fields = received.form.fields
    if fields.get(":action", "file_upload") != "file_upload":
        raise BadRequest(f"Unsupported :action {fields[':action']!r}; only file_upload is supported")
    if fields.get("protocol_version", "1") != "1":
        raise BadRequest("Unknown protocol version.")
    if received.form.filename is None:
        raise BadRequest("Upload payload does not have a file (a 'content' file part).")
    basename = received.form.filename.rsplit("/", 1)[-1]
    spec, via = _filetype(fields, incoming.path, basename, detect=detect)
    dtype = spec.distribution_type
    ref = received.ref
    try:
        uploads.check_digests(ref, md5_hex=fields.get("md5_digest"), sha256=fields.get("sha256_digest"))
    except uploads.DigestMismatch:
        raise BadRequest(DIGEST_MISMATCH) from None
    declared_blake2 = fields.get(BLAKE2_FIELD)
    if declared_blake2 and declared_blake2.lower() != received.blake2_256:
        raise BadRequest(DIGEST_MISMATCH)
    named = {k: fields.get(k) or None for k in ("name", "version", "summary")} if spec.named else {}
    labels = [v for v in (fields.get("label") or "main").split(",") if v]
    try:
        artifact = uploads.parse_received(incoming.path, basename, dtype, **named)
    except InvalidPackage as exc:
        raise BadRequest(f"Invalid distribution file. {exc}") from None
    if fields.get("name") and package_key(fields["name"]) != package_key(artifact.name):
        raise BadRequest(
            f"Invalid value for name: the form says {fields['name']!r} but the file is {artifact.name!r}"
        )
    chosen_version = artifact.version if fields.get("version") or not spec.named else None
    next_version = spec.next_version
    if chosen_version is None and next_version is not None:
        artifact = dataclasses.replace(artifact, version=next_version(_versions(db, owner.id, artifact.name)))
    done = Uploaded(owner.login, artifact.name, artifact.version, artifact.basename)
    if _identical_exists(db, identity, owner.id, artifact, ref.sha256, chosen_version, via):
        return dataclasses.replace(done, identical=True)
    _require_write(db, identity, owner, artifact, via)
    blob, extra = uploads.store_artifact(store, incoming, artifact)
    try:
        packages.add_file(
            db,
            identity,
            owner,
            packages.NewFile(artifact=artifact, blob=blob, labels=labels, extra=extra),
            create_package=True,
            package_info=packages.PackageInfo(
                summary=artifact.summary,
                description=artifact.description,
                license=artifact.license,
                home=artifact.home,
            ),
            via=via,
        )
    except Conflict as exc:  # twine's --skip-existing looks for "File already exists"
        raise Conflict(f"File already exists ('{artifact.basename}'). {exc.message}") from None
    return done


def _require_write(db: Database, identity: Identity, owner: Account, artifact: Artifact, via: str) -> None:
    """`add_file`'s own permission check, asked once more before the blob is stored, so that a refused upload
    leaves nothing in the store (add_file asks again, in its transaction)."""
    with db.read() as session:
        pkg = session.scalar(
            select(Package).where(
                Package.owner_id == owner.id, Package.name_key == package_key(artifact.name)
            )
        )
        target: Package | Account = pkg if pkg is not None else owner
        permissions.require(identity, Permission.WRITE, target, via=via, types=[artifact.package_type])
        packages.refuse_first_party(session, identity, owner)


def _identical_exists(
    db: Database,
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
    with db.read() as session:
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


def _versions(db: Database, owner_id: int, name: str) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(Release.version)
                .join(Package, Package.id == Release.package_id)
                .where(Package.owner_id == owner_id, Package.name_key == package_key(name))
            )
        )
