"""What the notebook, environment and project routes share: finding the file a "latest version" URL means.

Access is decided by `core.permissions` alone (through `web.deps.readable_package`), via the REST interface
(`VIA`): these documents are what the REST API's packages hold, so the same token scopes read them. The bytes go
out through `web.serve`.
"""

from __future__ import annotations

from packyard.core import queries
from packyard.core.errors import NotFound
from packyard.core.models import File, Package, Release

VIA = "api"


def files_of(pkg: Package, package_type: str, version: str | None = None) -> list[tuple[Release, File]]:
    """The package's files of one type (in one version), oldest release first."""
    releases = sorted(pkg.releases, key=lambda r: queries.version_key(r.version))
    return [
        (rel, f)
        for rel in releases
        if version is None or rel.version == version
        for f in rel.files
        if f.package_type == package_type
    ]


def pick(pkg: Package, package_type: str, version: str | None, what: str) -> tuple[Release, File]:
    """The file a URL means: of the given version (or the latest one), the most recently uploaded."""
    found = files_of(pkg, package_type, version)
    if not found:
        where = f"{pkg.owner.login}/{pkg.name}" + (f"/{version}" if version else "")
        raise NotFound(f"{where} has no {what}")
    latest = max(queries.version_key(rel.version) for rel, _ in found)
    newest = [(rel, f) for rel, f in found if queries.version_key(rel.version) == latest]
    return max(newest, key=lambda pair: (pair[1].uploaded_at, pair[1].id))
