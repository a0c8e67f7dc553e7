"""Copy files to another owner and/or label (`anaconda copy`).

Within one owner a copy is a label change. Across owners the destination gets new file rows that name the same
content-addressed blobs, so no bytes are copied. One copy request is one transaction: if any file cannot be
copied (a conflict, a locked label, a permission), none is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from packyard.core import permissions, queries
from packyard.core.artifacts import Artifact
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Conflict, NotFound
from packyard.core.models import File, Package
from packyard.core.permissions import Permission
from packyard.core.services import labels as label_service
from packyard.core.services.packages import NewFile, PackageInfo, add_file_in
from packyard.core.storage import BlobRef

MODES = ("copy", "replace", "update")


@dataclass(frozen=True)
class CopiedFile:
    """A file now at the destination, by name (plain data: the caller reads it back in its own session)."""

    owner: str
    package: str
    version: str
    basename: str


def copy_files(
    db: Database,
    identity: Identity,
    owner: str,
    name: str,
    version: str,
    basename: str | None,
    *,
    to_owner: str | None,
    from_label: str,
    to_label: str,
    mode: str = "copy",
) -> list[CopiedFile]:
    """Every file of OWNER/NAME/VERSION (or the one BASENAME) carrying `from_label`, copied in one transaction.

    The source is read inside the write transaction too, so a file removed concurrently is a 404, not a copy of
    a row that no longer exists.
    """
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {MODES}")
    with db.write() as session:
        pkg = queries.package(session, owner, name)
        permissions.require(identity, Permission.READ, pkg)
        rel = queries.release(pkg, version)
        files = [f for f in rel.files if basename is None or f.basename == basename]
        if basename is not None and not files:
            queries.file(rel, basename)  # raises the 404
        files = [f for f in files if from_label in {label.name for label in f.labels}]
        if not files:
            raise NotFound(f"no files of {owner}/{name}/{version} carry the label {from_label!r}")
        dest = queries.owner(session, to_owner or owner)
        done = [CopiedFile(dest.login, pkg.name, version, f.basename) for f in files]
        if dest.id == pkg.owner_id:
            for f in files:
                label_service.add_label_in(session, identity, dest, to_label, pkg.name, version, f.basename)
            return done
        dest_pkg = session.scalar(
            select(Package).where(Package.owner_id == dest.id, Package.name_key == pkg.name_key)
        )
        permissions.require(
            identity, Permission.WRITE, dest_pkg or dest, types={f.package_type for f in files}
        )
        existing = (
            {
                f.basename: f
                for f in session.scalars(
                    select(File).where(File.package_id == dest_pkg.id, File.release.has(version=version))
                )
            }
            if dest_pkg is not None
            else {}
        )
        if mode == "copy":
            for f in files:
                if f.basename in existing:
                    raise Conflict(
                        f"{dest.login}/{pkg.name}/{version}/{f.basename} already exists; use --replace or --update"
                    )
        info = PackageInfo(
            summary=pkg.summary,
            description=pkg.description,
            license=pkg.license,
            license_url=pkg.license_url,
            license_family=pkg.license_family,
            home=pkg.home,
            dev_url=pkg.dev_url,
            doc_url=pkg.doc_url,
            source_git_url=pkg.source_git_url,
            access=pkg.access,
        )
        for f in files:
            there = existing.get(f.basename)
            if there is not None and mode == "update" and there.sha256 == f.sha256:
                continue
            artifact = Artifact(
                package_type=f.package_type,
                name=pkg.name,
                version=version,
                basename=f.basename,
                summary=rel.summary or pkg.summary,
                description=rel.description,
                attrs=f.attrs or {},
                dependencies=f.dependencies,
            )
            add_file_in(
                session,
                identity,
                dest,
                NewFile(
                    artifact,
                    BlobRef(f.sha256, f.md5, f.size),
                    labels=[to_label],
                    description=f.description,
                    extra=dict(f.extra or {}),
                ),
                package_name=pkg.name,
                replace=there is not None,
                package_info=info,
            )
        return done
