"""conda packages (.tar.bz2 and .conda): parse (an upload's info/ metadata), index (repodata, shards), store (the
event listener that keeps the index rows), routes (/conda/OWNER/..., and the same channels at the site root),
mirror (proxying an upstream channel, core/mirrors)."""

from __future__ import annotations

from packyard.core.formats import FormatSpec
from packyard.core.permissions import Permission, Scope
from packyard.formats.conda import mirror, parse, routes, store

_ONLY_CONDA = frozenset({"conda"})

SPEC = FormatSpec(
    "conda",
    parse.parse,
    sniff=parse.sniff,
    on_event=store.on_event,
    routers=(routes.router, routes.root_router),
    public_file=routes.public_file,
    mirror_sync=mirror.sync,
    scopes=(
        Scope(
            "conda",
            frozenset({Permission.READ, Permission.WRITE}),
            frozenset({"conda", "api"}),
            "Allow private downloads from and uploads to Conda repositories",
            _ONLY_CONDA,
        ),
        Scope(
            "conda:download",
            frozenset({Permission.READ}),
            frozenset({"conda", "api"}),
            "Allow private downloads from Conda repositories",
            _ONLY_CONDA,
        ),
    ),
    url_prefixes=("conda",),
)
