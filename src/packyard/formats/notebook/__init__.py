"""Jupyter notebooks: validated with nbformat, rendered once to a script-free page at /notebooks/OWNER/NAME."""

from __future__ import annotations

from packyard.core.formats import FormatSpec
from packyard.formats.notebook import parse, routes

SPEC = FormatSpec(
    parse.PACKAGE_TYPE,
    parse.parse,
    sniff=parse.sniff,
    named=True,
    basename_per_release=True,
    routers=(routes.router,),
    filetypes={"ipynb": "api"},
    url_prefixes=("notebooks",),
)
