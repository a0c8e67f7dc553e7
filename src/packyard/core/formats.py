"""The format registry: everything the rest of Packyard needs to know about a package format, in one `FormatSpec`.

A format (conda, PyPI, R, notebooks...) lives in its own folder under `packyard.formats` and is added by one
`register(FormatSpec(...))` there (`packyard/formats/__init__.py`). Nothing else names formats: the services
parse and detect through `spec_for`/`detect`, the events reach the formats' index writers through `listeners`,
`core.permissions` reads their token scopes, `core.auth` their reserved names, the app includes their routers
and gives their URL prefixes to the `/t/TOKEN/` middleware, and the one-request upload reads their filetypes.

The registry is here, in the core, so that the core can use it without importing the formats (they build on
the core). Routers and request handlers are carried as values the core never calls; their types are named for
the type checker only. Whoever runs the core must import `packyard.formats` first (the app, the CLI and the
migrations do); an empty registry is a loud error, never an index that silently stops being written.

`FORMATS` is kept in detection order: anaconda-client's utils/detect.py tries conda, then pypi, then R, and the
order matters because a .tar.gz can be an sdist or an R package. Routers are included in the same order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from packyard.core.artifacts import Artifact, InvalidPackage
from packyard.core.models import Event

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.requests import Request
    from starlette.responses import Response

    from packyard.core.db import Database
    from packyard.core.permissions import Scope
    from packyard.core.storage import BlobStore

FALLBACK_TYPE = "file"
"""What an upload is when no format's sniffer claims it."""


class Parser(Protocol):
    """The signature every format's `parse` has; only the named formats use name, version and summary."""

    def __call__(
        self,
        path: Path,
        basename: str,
        *,
        name: str | None = None,
        version: str | None = None,
        summary: str | None = None,
    ) -> Artifact: ...


Listener = Callable[[Session, Event], None]
PostHandler = Callable[["Request", str], Awaitable["Response"]]
"""(request, owner login) -> response, for a POST to the one-request upload URL that is not an upload."""


@dataclass(frozen=True)
class SyncRequest:
    """What `POST /api/mirrors/NAME/sync` asks for, validated (core/mirrors/service.sync)."""

    packages: tuple[str, ...]
    """Names or requirements in the format's own syntax (PEP 508, conda match specs, R package names)."""
    deps: bool = True
    subdirs: tuple[str, ...] = ()
    """conda: the platforms to solve for (noarch always comes along); empty: the format's default."""


MirrorSync = Callable[["Database", "BlobStore", int, SyncRequest], list[str]]
"""(database, blob store, mirror id, what to fetch) -> the files fetched: `packyard mirror sync`."""


@dataclass(frozen=True)
class FormatSpec:
    """One package format as anaconda-client names it, with everything the shared code reads about it."""

    distribution_type: str
    """The canonical anaconda-client PackageType value, stored on files and sent back in package_types."""
    parse: Parser
    aliases: tuple[str, ...] = ()
    """Other spellings anaconda-client accepts for the same type (PACKAGE_TYPE_ALIASES)."""
    sniff: Callable[[Path, str], bool] | None = None
    """Does an untyped upload look like this format? Must not raise; None means "only when asked for"."""
    on_event: Listener | None = None
    """Keeps the format's index records in step with the data, inside the transaction of each change."""
    named: bool = False
    """The parser takes the name, version and summary the uploader gives (form fields, or the stage URL)."""
    basename_per_release: bool = False
    """The file name does not carry the version (environment.yml, analysis.ipynb), so the same basename may be
    uploaded once to every release; for the other formats a basename is unique in the whole package."""
    next_version: Callable[[Sequence[str]], str] | None = None
    """The version of a one-request upload that names none, from the package's existing versions."""
    routers: tuple[APIRouter, ...] = ()
    """The format's HTTP routes, included by the app after the REST API's, in registration order."""
    scopes: tuple[Scope, ...] = ()
    """The token scopes the format adds (e.g. conda, conda:download), checked by `core.permissions`."""
    filetypes: Mapping[str, str] = field(default_factory=dict)
    """One-request upload (`POST /api/repo/OWNER`, twine): form `filetype` -> the interface (`via`) its token
    scopes are checked against, e.g. {"sdist": "pypi", "bdist_wheel": "pypi"}."""
    url_prefixes: tuple[str, ...] = ()
    """First path segments the format's routes own (e.g. "conda"): `/PREFIX/t/TOKEN/...` moves the token out of
    the path, `PREFIX.DOMAIN` hosts map to `/PREFIX/...`, and the prefix can't be a login."""
    reserved_names: tuple[str, ...] = ()
    """Further names that can't be logins because the format's URLs use them (e.g. PyPI's "simple")."""
    posts: Mapping[str, PostHandler] = field(default_factory=dict)
    """Media type -> handler for a POST to the one-request upload URL (/pypi/OWNER, /api/repo/OWNER) whose
    body is not an upload: PyPI's XML-RPC API shares that URL with twine's upload."""
    mirror_sync: MirrorSync | None = None
    """The format can be mirrored (core/mirrors): its routes proxy a mirror owner's upstream, and this pre-fetches
    packages (and their dependencies) into the mirror. None: `POST /api/mirrors/NAME` refuses the format."""
    public_file: Callable[[str], Any] | None = None
    """URL path -> `formats.front.PublicFile` (typed there) when the path has the shape of one of the format's
    file downloads, else None: lets `formats.front.Front` send public files to anonymous callers itself."""


FORMATS: dict[str, FormatSpec] = {}
_BY_NAME: dict[str, FormatSpec] = {}
_SCOPES: dict[str, Scope] = {}


def register(spec: FormatSpec) -> None:
    """Add a format at the end of the detection order; its names, scopes, filetypes and prefixes must be new."""
    names = (spec.distribution_type, *spec.aliases)
    clashes = [n for n in names if n in _BY_NAME]
    from packyard.core import permissions  # not at the top: permissions reads this registry

    clashes += [s.name for s in spec.scopes if permissions.scope(s.name) is not None]
    clashes += [t for t in spec.filetypes if filetype(t) is not None]
    clashes += [p for p in spec.url_prefixes if p in url_prefixes()]
    if clashes:
        raise ValueError(f"{clashes[0]!r} is already registered")
    FORMATS[spec.distribution_type] = spec
    _BY_NAME.update(dict.fromkeys(names, spec))
    _SCOPES.update((s.name, s) for s in spec.scopes)


def unregister(distribution_type: str) -> None:
    """Remove a format again (tests register formats of their own); an app already built keeps its routes."""
    spec = FORMATS.pop(distribution_type)
    for name in (spec.distribution_type, *spec.aliases):
        del _BY_NAME[name]
    for s in spec.scopes:
        del _SCOPES[s.name]


def _formats() -> list[FormatSpec]:
    if not FORMATS:
        raise RuntimeError("no package format is registered: import packyard.formats before using the core")
    return list(FORMATS.values())


def spec_for(distribution_type: str) -> FormatSpec:
    """The format for a type name or alias, e.g. "PyPI" -> the pypi spec."""
    spec = _BY_NAME.get(distribution_type)
    if spec is None:
        expected = ", ".join(s.distribution_type for s in _formats())
        raise InvalidPackage(f"unknown package type {distribution_type!r}; expected one of {expected}")
    return spec


def parser_for(distribution_type: str) -> Parser:
    """The parse function for a type name or alias; InvalidPackage for an unknown type."""
    return spec_for(distribution_type).parse


def distribution_types() -> list[str]:
    """The canonical type names, in detection order."""
    return [spec.distribution_type for spec in _formats()]


def basename_per_release(distribution_type: str | None) -> bool:
    """May the same basename recur in several releases of a package of this type? False for unknown types."""
    spec = _BY_NAME.get(distribution_type or "")
    return spec is not None and spec.basename_per_release


def listeners() -> list[Listener]:
    """Every format's event listener, for core.services.events."""
    return [spec.on_event for spec in _formats() if spec.on_event is not None]


def detect(path: Path, basename: str) -> str:
    """Guess the canonical distribution type of an upload that did not say, like anaconda-client does."""
    for spec in _formats():
        if spec.sniff is not None and spec.sniff(path, basename):
            return spec.distribution_type
    return FALLBACK_TYPE


def scopes() -> list[Scope]:
    """The token scopes the formats add, in registration order."""
    return list(_SCOPES.values())


def scope(name: str) -> Scope | None:
    return _SCOPES.get(name)


def filetypes() -> list[str]:
    """Every form `filetype` the one-request upload accepts."""
    return [t for spec in FORMATS.values() for t in spec.filetypes]


def filetype(name: str) -> tuple[FormatSpec, str] | None:
    """The format a form `filetype` uploads, and the interface its scopes are checked against."""
    for spec in FORMATS.values():
        if name in spec.filetypes:
            return spec, spec.filetypes[name]
    return None


def url_prefixes() -> list[str]:
    return [p for spec in FORMATS.values() for p in spec.url_prefixes]


def reserved_names() -> frozenset[str]:
    """Names the formats' URLs use, which therefore can't be logins (lower case)."""
    return frozenset(
        n.lower() for spec in FORMATS.values() for n in (*spec.url_prefixes, *spec.reserved_names)
    )


def interfaces() -> frozenset[str]:
    """The interfaces (`via`) the formats' routes and filetypes check scopes against."""
    found = {i for s in scopes() for i in s.interfaces} | {
        v for spec in FORMATS.values() for v in spec.filetypes.values()
    }
    return frozenset(found - {"*"})


def public_files() -> list[Callable[[str], Any]]:
    return [spec.public_file for spec in _formats() if spec.public_file is not None]


def routers() -> list[APIRouter]:
    return [router for spec in _formats() for router in spec.routers]


def post_handler(media_type: str) -> PostHandler | None:
    """The handler of a non-upload POST to the one-request upload URL, by the body's media type."""
    for spec in FORMATS.values():
        if media_type in spec.posts:
            return spec.posts[media_type]
    return None
