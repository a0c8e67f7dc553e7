"""Accept any file as a package of type "file"; only the uploader can say its name and version.

The bytes are never opened: a plain file has no metadata we could trust more than the uploader's word. The
name and version end up in URLs and on disk paths, so they get the same care as names read from archives.
"""

from __future__ import annotations

import re
from pathlib import Path

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import checked, shown

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION = re.compile(r"^[^\s/\\\x00-\x1f\x7f]{1,100}$")


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    """Describe a plain file from the uploader's name, version and optional summary."""
    del path
    check_basename(basename)
    if not name:
        raise InvalidPackage(
            "a file upload needs a package name (anaconda upload -t file -p NAME -v VERSION)"
        )
    if not version:
        raise InvalidPackage("a file upload needs a version (anaconda upload -t file -p NAME -v VERSION)")
    if not _NAME.match(name):
        raise InvalidPackage(
            f"invalid package name {shown(name)}: use 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if not _VERSION.match(version) or version in (".", ".."):
        raise InvalidPackage(
            f"invalid version {shown(version)}: use 1 to 100 characters without spaces or slashes"
        )
    return checked(
        Artifact(
            package_type="file",
            name=name,
            version=version,
            basename=basename,
            summary=summary.strip() or None if summary else None,
        )
    )
