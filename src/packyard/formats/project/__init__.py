"""Projects: folders uploaded as archives, one per revision; listed at /api/projects/OWNER/NAME."""

from __future__ import annotations

from packyard.core.formats import FormatSpec
from packyard.formats.project import parse, routes

SPEC = FormatSpec(
    parse.PACKAGE_TYPE,
    parse.parse,
    named=True,
    basename_per_release=True,
    next_version=parse.next_revision,
    routers=(routes.router,),
    filetypes={"project": "api"},
)
