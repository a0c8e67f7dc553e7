"""R packages (source tarballs, Windows and macOS binaries): parse (an upload's DESCRIPTION), index (PACKAGES),
store, routes (/cran/OWNER/..., and /api/repo/OWNER/cran/...), mirror (proxying an upstream repository,
core/mirrors)."""

from __future__ import annotations

from packyard.core.formats import FormatSpec
from packyard.core.permissions import Permission, Scope
from packyard.formats.cran import mirror, parse, routes, store

_ONLY_R = frozenset({"r"})

SPEC = FormatSpec(
    "r",
    parse.parse,
    aliases=("cran", "standard_r"),
    sniff=parse.sniff,
    on_event=store.on_event,
    routers=(routes.router,),
    mirror_sync=mirror.sync,
    scopes=(
        Scope(
            "cran",
            frozenset({Permission.READ, Permission.WRITE}),
            frozenset({"cran", "api"}),
            "Allow private downloads from and uploads to R (CRAN) repositories",
            _ONLY_R,
        ),
        Scope(
            "cran:download",
            frozenset({Permission.READ}),
            frozenset({"cran", "api"}),
            "Allow private downloads from R (CRAN) repositories",
            _ONLY_R,
        ),
    ),
    filetypes={"cran_source_package": "cran", "cran_binary_package": "cran"},
    url_prefixes=("cran",),
)
