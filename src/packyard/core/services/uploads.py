"""Receiving files: the stage -> upload -> commit flow of anaconda-client, and one-shot uploads.

Every received file is hashed while it streams to a temp file, checked against the digests the client declared,
parsed by the server (client metadata is never trusted), and only then moved into the blob store. Nothing becomes
visible before `packages.add_file` commits the row that names it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from packyard.core import client_attrs, permissions
from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.core.auth import Identity
from packyard.core.db import Database, rowcount
from packyard.core.errors import BadRequest, Conflict, Forbidden, NotFound
from packyard.core.formats import basename_per_release, detect, spec_for
from packyard.core.models import Account, File, Package, Release, Stage, package_key, utcnow
from packyard.core.permissions import Permission
from packyard.core.services.packages import NewFile, add_file, refuse_first_party, validate_label
from packyard.core.storage import BlobRef, BlobStore, Incoming


class DigestMismatch(BadRequest):
    """The bytes received are not the bytes the client declared (S3's InvalidDigest)."""


def parse_received(path: Path, basename: str, distribution_type: str | None, **kw: Any) -> Artifact:
    """Parse with the format's parser; the uploader's name/version/summary (`kw`) reach only named formats."""
    spec = spec_for(distribution_type or detect(path, basename))
    return spec.parse(path, basename, **(kw if spec.named else {}))


def store_artifact(
    store: BlobStore, incoming: Incoming, artifact: Artifact
) -> tuple[BlobRef, dict[str, str]]:
    """Move a parsed upload into the blob store, with its side documents (PEP 658 metadata...)."""
    extra = {name: store.put_bytes(data).sha256 for name, data in artifact.extra_files.items()}
    return incoming.commit(), extra


def check_digests(
    ref: BlobRef,
    *,
    size: str | None = None,
    md5_b64: str | None = None,
    md5_hex: str | None = None,
    sha256: str | None = None,
) -> None:
    if size not in (None, "") and str(ref.size) != str(size).strip():
        raise DigestMismatch(f"received {ref.size} bytes but Content-Length said {size}")
    if md5_b64:
        try:
            declared = base64.b64decode(md5_b64, validate=True).hex()
        except binascii.Error:
            raise DigestMismatch("Content-MD5 is not valid base64") from None
        if declared != ref.md5:
            raise DigestMismatch("the md5 of the received file does not match Content-MD5")
    if md5_hex and md5_hex.lower() != ref.md5:
        raise DigestMismatch("the md5 of the received file does not match md5_digest")
    if sha256 and sha256.lower() != ref.sha256:
        raise DigestMismatch("the sha256 of the received file does not match the declared sha256")


# --- anaconda-client's stage / upload / commit -------------------------------------------------------------------


def _sign(key: bytes, stage_id: str) -> str:
    return hmac.new(key, f"upload:{stage_id}".encode(), hashlib.sha256).hexdigest()


def stage(
    db: Database,
    identity: Identity,
    pkg: Package,
    version: str,
    basename: str,
    payload: dict[str, Any],
    *,
    key: bytes,
    ttl_seconds: int,
) -> tuple[Stage, str]:
    """Reserve an upload; returns the row and the signed single-use token for the upload form."""
    dtype = payload.get("distribution_type")
    # The declared type lets a token of another format be refused before it sends any byte; an upload that does
    # not say is checked at commit, against the type the server parsed (`add_file`).
    declared = _canonical_type(dtype if isinstance(dtype, str) else None)
    permissions.require(identity, Permission.WRITE, pkg, types=[declared] if declared else ())
    if dtype is not None and not isinstance(dtype, str):
        raise BadRequest("distribution_type must be a string")
    try:
        check_basename(basename)
    except InvalidPackage as exc:
        raise BadRequest(str(exc)) from None
    labels = payload.get("channels") or ["main"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise BadRequest("channels must be a list of label names")
    for label in labels:
        validate_label(label)
    attrs = client_attrs.clean_attrs(payload.get("attrs"))
    with db.write() as session:
        refuse_first_party(session, identity, pkg.owner)
        existing = select(File.id).where(File.package_id == pkg.id, File.basename == basename)
        if basename_per_release(dtype):
            existing = existing.join(Release, Release.id == File.release_id).where(Release.version == version)
        if session.scalar(existing):
            raise Conflict(f"{pkg.owner.login}/{pkg.name}/{version}/{basename} already exists")
        now = utcnow()
        row = Stage(
            id=secrets.token_hex(12),
            owner_id=pkg.owner_id,
            uploader_id=identity.account.id,  # type: ignore[union-attr]
            package=pkg.name,
            version=version,
            basename=basename,
            distribution_type=dtype or "",
            request={
                "labels": labels,
                "description": payload.get("description"),
                "sha256": payload.get("sha256"),
                "attrs": attrs,
            },
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_seconds),
        )
        session.add(row)
    return row, _sign(key, row.id)


def _canonical_type(distribution_type: str | None) -> str | None:
    """anaconda-client's name for a type ("PyPI", "standard_r"...) -> the stored one; None when unknown."""
    try:
        return spec_for(distribution_type).distribution_type if distribution_type else None
    except InvalidPackage:
        return None


def load_stage(db: Database, stage_id: str) -> Stage:
    with db.read() as session:
        row = session.get(Stage, stage_id)
    if row is None or row.state != "staged" or row.expires_at <= utcnow():
        raise NotFound("no such upload, or it was already used or has expired; stage the upload again")
    return row


def check_signature(stage_id: str, upload_token: str | None, *, key: bytes) -> None:
    if not hmac.compare_digest(_sign(key, stage_id), upload_token or ""):
        raise Forbidden("the upload form's signature is not valid")


def finish_stage(db: Database, stage_id: str, ref: BlobRef | None, result: dict[str, Any]) -> None:
    """Record the received file, atomically with using up the form: a form works once."""
    values: dict[str, Any] = {"state": "received", "result": result}
    if ref is not None:
        values.update(sha256=ref.sha256, md5=ref.md5, size=ref.size)
    with db.write() as session:
        used = rowcount(
            session.execute(
                update(Stage).where(Stage.id == stage_id, Stage.state == "staged").values(**values)
            )
        )
    if not used:
        raise Forbidden("this upload form was already used; stage the upload again")


def artifact_to_json(artifact: Artifact, extra: dict[str, str]) -> dict[str, Any]:
    data = dataclasses.asdict(artifact)
    data.pop("extra_files")
    data["extra"] = extra
    return data


def commit(
    db: Database,
    identity: Identity,
    owner: Account,
    package: str,
    version: str,
    basename: str,
    stage_id: str,
    *,
    replace: bool = False,
) -> File:
    with db.read() as session:
        row = session.get(Stage, stage_id) if isinstance(stage_id, str) else None
    if (
        row is None
        or row.owner_id != owner.id
        or package_key(row.package) != package_key(package)
        or row.version != version
    ):
        raise NotFound("no such staged upload for this file")
    if identity.account is None or row.uploader_id != identity.account.id:
        raise Forbidden("only the user who staged an upload may commit it")
    if row.state != "received":
        raise BadRequest("the file has not been uploaded yet (POST it to the post_url first)")
    try:
        if "error" in row.result:
            raise BadRequest(row.result["error"])
        data = dict(row.result)
        extra = data.pop("extra")
        artifact = Artifact(**data)
        # The client's attrs are kept beside the server's parse, never in its place (core/client_attrs.py).
        artifact = dataclasses.replace(
            artifact, attrs=client_attrs.merged(artifact.attrs, row.request.get("attrs") or {})
        )
        if artifact.basename != basename and artifact.basename.split("/")[-1] != basename:
            raise BadRequest(f"the file is {artifact.basename!r}, not {basename!r}")
        return add_file(
            db,
            identity,
            owner,
            NewFile(
                artifact=artifact,
                blob=BlobRef(sha256=row.sha256, md5=row.md5, size=row.size),  # type: ignore[arg-type]
                labels=row.request.get("labels") or ["main"],
                description=row.request.get("description"),
                extra=extra,
            ),
            package_name=package,
            version=version,
            replace=replace,
            create_package=False,
        )
    finally:
        _drop_stage(db, stage_id)


def _drop_stage(db: Database, stage_id: str) -> None:
    with db.write() as session:
        row = session.get(Stage, stage_id)
        if row is not None:
            session.delete(row)


def labels_from(values: Sequence[str] | None) -> list[str]:
    return [validate_label(v) for v in values or ()] or ["main"]
