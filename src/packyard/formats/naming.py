"""Names and versions the uploader gives (notebooks, environments, projects): checked as carefully as read ones.

They end up in URLs (`/notebooks/OWNER/NAME/VERSION`) and in file rows, so they are held to a narrow alphabet:
no spaces, slashes, `?`, `#` or control characters.
"""

from __future__ import annotations

import re
import time
import unicodedata

from packyard.core.artifacts import InvalidPackage
from packyard.formats.base import shown

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}$")
_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")

TIMESTAMP_FORMAT = "%Y.%m.%d.%H%M%S"
"""anaconda-client's version for environments that name none (UTC here, so every server agrees)."""


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise InvalidPackage(
            f"invalid {what} name {shown(name)}: use 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_version(version: str, what: str) -> str:
    if not _VERSION.match(version):
        raise InvalidPackage(
            f"invalid {what} version {shown(version)}: use 1 to 100 letters, digits, '.', '_', '+' or '-'"
        )
    return version


def name_from_basename(basename: str, suffixes: tuple[str, ...]) -> str | None:
    """`My Análisis.ipynb` -> `my-analisis` (as anaconda-client's parameterize does); None if nothing is left."""
    stem = basename.rsplit("/", 1)[-1]
    for suffix in suffixes:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    name = _NOT_NAME.sub("-", ascii_stem.lower()).strip("-._")[:100]
    return name or None


def timestamp_version(now: float | None = None) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(now))


def summary_text(summary: object) -> str | None:
    """A one-line summary from the uploader or the file, or None when there is none."""
    if not isinstance(summary, str):
        return None
    text = " ".join(summary.split())[:500]
    return text or None
