"""Projects: a folder of code and assets uploaded as one .tar.gz, .tar.bz2 or .zip archive, one per revision.

Nothing is extracted. Every member is vetted (no absolute paths or `..`, no links, devices or other special
files, no duplicates), the member count and sizes are bounded, and the whole archive is decompressed once so a
damaged or lying one is refused at upload rather than at download. The listing (path and size of every file) is
kept in the file's attrs, for `GET /api/projects/OWNER/NAME/REVISION/files`.

The revision is the version: the uploader's, else "1" here; the upload route asks for the next free integer
revision (`next_revision`) when the uploader named none.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import (
    ARCHIVE_ERRORS,
    Compression,
    checked,
    expansion_budget,
    iter_tar,
    open_zip,
    open_zip_member,
    shown,
)
from packyard.formats.naming import check_name, check_version, name_from_basename, summary_text

PACKAGE_TYPE = "project"
MAX_MEMBERS = 10_000
"""Members of any kind (folders included) one project archive may hold."""
MAX_FILE_BYTES = 1 << 30
"""Largest single file in a project, once decompressed."""
ARCHIVES: dict[str, Compression | None] = {
    ".tar.gz": "gz",
    ".tgz": "gz",
    ".tar.bz2": "bz2",
    ".tbz2": "bz2",
    ".tar.zst": "zst",
    ".zip": None,
}
"""Accepted archive suffixes -> tar compression (None: a zip)."""


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    check_basename(basename)
    suffix = next((s for s in ARCHIVES if basename.lower().endswith(s)), None)
    if suffix is None:
        raise InvalidPackage("upload a project as a .tar.gz, .tar.bz2 or .zip archive of its folder")
    name = check_name(name or name_from_basename(basename, (suffix,)) or "", "project")
    version = check_version(version or "1", "project revision")
    budget = expansion_budget(path.stat().st_size)
    compression = ARCHIVES[suffix]
    with path.open("rb") as fh:
        files = _zip_files(fh, budget) if compression is None else _tar_files(fh, compression, budget)
    if not files:
        raise InvalidPackage("the project archive holds no files")
    return checked(
        Artifact(
            package_type=PACKAGE_TYPE,
            name=name,
            version=version,
            basename=basename,
            summary=summary_text(summary),
            attrs={
                "revision": version,
                "archive": suffix.lstrip("."),
                "num_files": len(files),
                "total_size": sum(f["size"] for f in files),
                "files": files,
            },
        )
    )


def next_revision(versions: Sequence[str]) -> str:
    """The revision after the highest integer one (non-integer versions are ignored)."""
    numbers = [int(v) for v in versions if v.isdigit() and len(v) < 19]
    return str(max(numbers, default=0) + 1)


class _Listing:
    """Collects files, enforcing the limits every archive kind shares."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.members = 0
        self.total = 0
        self.seen: set[str] = set()
        self.files: list[dict[str, Any]] = []

    def member(self, name: str) -> str:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise InvalidPackage(f"the project archive has more than {MAX_MEMBERS} members")
        name = name.rstrip("/")
        if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InvalidPackage(f"the project archive has a member with an invalid name: {shown(name)}")
        if name in self.seen:
            raise InvalidPackage(f"{shown(name)} appears more than once in the project archive")
        self.seen.add(name)
        return name

    def file(self, name: str, size: int) -> None:
        if size > MAX_FILE_BYTES:
            raise InvalidPackage(f"{shown(name)} is larger than {MAX_FILE_BYTES} bytes")
        self.total += size
        if self.total > self.budget:
            raise InvalidPackage(f"the project archive expands to more than {self.budget} bytes")
        self.files.append({"path": name, "size": size})


def _tar_files(fh: Any, compression: Compression, budget: int) -> list[dict[str, Any]]:
    listing = _Listing(budget)
    for entry in iter_tar(fh, compression, what="project", budget=budget):
        info = entry.info
        if info.isdir() and entry.name.rstrip("/") in ("", "."):
            continue  # the archive's root, as `tar -C folder .` writes it
        name = listing.member(entry.name)
        if info.isdir():
            continue
        if info.issym() or info.islnk():
            raise InvalidPackage(
                f"{shown(name)} is a link; a project archive may hold only files and folders"
            )
        if not info.isreg():
            raise InvalidPackage(f"{shown(name)} is a device or special file ({_tar_kind(info)})")
        listing.file(name, info.size)
    return listing.files


def _tar_kind(info: tarfile.TarInfo) -> str:
    kinds = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "fifo"}
    return kinds.get(info.type, f"tar type {shown(info.type.decode('latin-1'))}")


def _zip_files(fh: Any, budget: int) -> list[dict[str, Any]]:
    listing = _Listing(budget)
    with open_zip(fh, "project") as archive:
        for info in archive.infolist():
            name = listing.member(info.filename)
            mode = info.external_attr >> 16
            if info.is_dir() or stat.S_ISDIR(mode):
                continue
            if stat.S_ISLNK(mode):
                raise InvalidPackage(
                    f"{shown(name)} is a symbolic link; a project may hold only files and folders"
                )
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # many zips give permission bits only
                raise InvalidPackage(f"{shown(name)} is a device or special file")
            listing.file(name, _zip_member_size(archive, info, listing))
    return listing.files


def _zip_member_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, listing: _Listing) -> int:
    """Decompress a member to count its real size (and have zipfile check its CRC); headers may lie."""
    limit = min(MAX_FILE_BYTES, listing.budget - listing.total)
    size = 0
    try:
        with open_zip_member(archive, info.filename, "project") as member:
            while chunk := member.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InvalidPackage(f"{shown(info.filename)} expands past the project archive's limits")
    except InvalidPackage:
        raise
    except ARCHIVE_ERRORS as exc:
        raise InvalidPackage(
            f"not a valid project archive: {shown(str(exc) or type(exc).__name__, 200)}"
        ) from exc
    return size
