"""What a format parser returns (`Artifact`) and raises (`InvalidPackage`), and the basename rule every stored
file obeys. They live in the core because the services take artifacts and check basenames; the parsers
themselves (`packyard.formats`) build on this module, never the other way round.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any


class InvalidPackage(ValueError):
    """The uploaded file is not a valid package of the claimed type; the message says what to fix."""


@dataclass(frozen=True)
class Artifact:
    """Metadata read from an uploaded file, format-independent in shape."""

    package_type: str
    """anaconda-client's PackageType value: conda, pypi, r, file, ipynb, env, project."""
    name: str
    version: str
    basename: str
    """Canonical basename, e.g. ``linux-64/foo-1.0-0.tar.bz2``; may contain one subdir."""
    summary: str | None = None
    description: str | None = None
    license: str | None = None
    home: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    """Format attributes kept on the file row as JSON (conda: index.json + run_exports; pypi: core metadata)."""
    dependencies: dict[str, Any] | None = None
    extra_files: dict[str, bytes] = field(default_factory=dict)
    """Small side documents to store with the file, e.g. ``{"metadata": <PEP 658 METADATA bytes>}``."""


def check_basename(basename: str) -> str:
    """Refuse basenames that could escape a folder or confuse a URL; returns the basename unchanged."""
    if not basename or len(basename) > 512:
        raise InvalidPackage("the file name must be 1 to 512 characters long")
    if "\x00" in basename or any(ord(c) < 32 for c in basename):
        raise InvalidPackage("the file name must not contain NUL or control characters")
    if "\\" in basename:
        raise InvalidPackage("the file name must not contain a backslash")
    if basename.startswith("/") or basename != posixpath.normpath(basename):
        raise InvalidPackage(f"the file name {basename!r} is not a normalised relative path")
    parts = basename.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidPackage(f"the file name {basename!r} must not contain '.' or '..' parts")
    if len(parts) > 2:
        raise InvalidPackage(f"the file name {basename!r} may contain at most one folder (a conda subdir)")
    return basename
