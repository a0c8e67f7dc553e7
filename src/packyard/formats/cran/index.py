"""Pure builders of CRAN repository indexes (what `tools::write_PACKAGES` writes): rows in, bytes out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packyard.core.queries import version_key

PACKAGES_FIELDS = (
    "Package",
    "Version",
    "Priority",
    "Depends",
    "Imports",
    "LinkingTo",
    "Suggests",
    "Enhances",
    "License",
    "License_is_FOSS",
    "License_restricts_use",
    "OS_type",
    "Archs",
    "MD5sum",
    "NeedsCompilation",
    "Path",
    "Built",
)
"""The fields write_PACKAGES keeps, in its order (tools:::.get_standard_repository_db_fields plus MD5sum)."""


@dataclass(frozen=True)
class Row:
    package: str
    version: str
    fields: Mapping[str, Any]


def entry(description: Mapping[str, Any], md5: str, kind: str) -> dict[str, str]:
    """The PACKAGES fields of one file, from its DESCRIPTION (binary repositories omit NeedsCompilation)."""
    out = {
        k: str(description[k])
        for k in PACKAGES_FIELDS
        if k in description and description[k] not in (None, "")
    }
    out["MD5sum"] = md5
    if kind != "source":
        out.pop("NeedsCompilation", None)
    return out


def r_version_key(version: str) -> tuple[int, ...] | tuple[object, ...]:
    """R versions are dot/dash separated integers (package_version)."""
    try:
        return tuple(int(p) for p in re.split(r"[.-]", version))
    except ValueError:
        return (version_key(version),)


def latest(rows: Iterable[Row]) -> list[Row]:
    """The newest version of each package: what PACKAGES lists (older ones live under Archive/)."""
    best: dict[str, Row] = {}
    for row in rows:
        current = best.get(row.package)
        if current is None or r_version_key(row.version) > r_version_key(current.version):
            best[row.package] = row
    return [best[name] for name in sorted(best, key=str.lower)]


def _value(value: str) -> str:
    # DCF: continuation lines start with whitespace; blank lines would end the record.
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    return "\n    ".join(lines)


def packages(rows: Iterable[Row]) -> bytes:
    records = []
    for row in latest(rows):
        fields = {"Package": row.package, "Version": row.version, **row.fields}
        ordered = [k for k in PACKAGES_FIELDS if k in fields]
        records.append("\n".join(f"{k}: {_value(fields[k])}" for k in ordered))
    return ("\n\n".join(records) + ("\n" if records else "")).encode("utf-8")
