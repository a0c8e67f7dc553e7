"""Python distributions (wheels and sdists): parse (an upload's core metadata), simple (PEP 503/691 pages), store,
routes (/pypi/OWNER/simple, files), json_api, xmlrpc, mirror (proxying an upstream index, core/mirrors)."""

from __future__ import annotations

from packyard.core.formats import FormatSpec
from packyard.core.permissions import Permission, Scope
from packyard.formats.pypi import json_api, mirror, parse, routes, store, xmlrpc

_ONLY_PYPI = frozenset({"pypi"})

SPEC = FormatSpec(
    "pypi",
    parse.parse,
    aliases=("PyPI", "standard_python"),
    sniff=parse.sniff,
    on_event=store.on_event,
    # json_api before routes: the /pypi/{path} catch-all would swallow /json
    routers=(xmlrpc.router, json_api.router, routes.router),
    public_file=routes.public_file,
    mirror_sync=mirror.sync,
    scopes=(
        Scope(
            "pypi",
            frozenset({Permission.READ, Permission.WRITE}),
            frozenset({"pypi", "api"}),
            "Allow private downloads from and uploads to PyPI repositories",
            _ONLY_PYPI,
        ),
        Scope(
            "pypi:download",
            frozenset({Permission.READ}),
            frozenset({"pypi", "api"}),
            "Allow private downloads from PyPI repositories",
            _ONLY_PYPI,
        ),
        Scope(
            "pypi:upload",
            frozenset({Permission.WRITE}),
            frozenset({"pypi"}),
            "Allow uploads to PyPI repositories with twine (no downloads, no REST API)",
            _ONLY_PYPI,
        ),
    ),
    filetypes={"sdist": "pypi", "bdist_wheel": "pypi"},
    url_prefixes=("pypi",),
    reserved_names=("simple",),
    posts={"text/xml": xmlrpc.handle_owner, "application/xml": xmlrpc.handle_owner},
)
