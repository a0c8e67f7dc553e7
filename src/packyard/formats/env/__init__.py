"""conda environment files: validated environment.yml uploads, served at /envs/OWNER/NAME for conda and rattler."""

from __future__ import annotations

from packyard.core.formats import FormatSpec
from packyard.formats.env import parse, routes

SPEC = FormatSpec(
    parse.PACKAGE_TYPE,
    parse.parse,
    sniff=parse.sniff,
    named=True,
    basename_per_release=True,
    routers=(routes.router,),
    filetypes={"env": "api"},
    url_prefixes=("envs",),
)
