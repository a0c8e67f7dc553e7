"""Which parser handles which anaconda-client `distribution_type`, and which type an untyped upload is.

The core looks formats up here instead of switching on type names, so a new format (notebook, env, project...)
is one `register(FormatSpec(...))` call away and nothing else needs editing. `FORMATS` is kept in detection
order: anaconda-client's utils/detect.py tries conda, then pypi, then R, and the order matters because a
.tar.gz can be an sdist or an R package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from packyard.core.models import Event
from packyard.formats.base import Artifact, InvalidPackage
from packyard.formats.conda import parse as conda
from packyard.formats.conda import store as conda_store
from packyard.formats.cran import parse as cran
from packyard.formats.cran import store as cran_store
from packyard.formats.env import parse as env
from packyard.formats.file import parse as file
from packyard.formats.notebook import parse as notebook
from packyard.formats.project import parse as project
from packyard.formats.pypi import parse as pypi
from packyard.formats.pypi import store as pypi_store

FALLBACK_TYPE = "file"
"""What an upload is when no format's sniffer claims it."""


class Parser(Protocol):
    """The signature every format's `parse` has; only the file format uses name, version and summary."""

    def __call__(
        self,
        path: Path,
        basename: str,
        *,
        name: str | None = None,
        version: str | None = None,
        summary: str | None = None,
    ) -> Artifact: ...


@dataclass(frozen=True)
class FormatSpec:
    """One package format as anaconda-client names it."""

    distribution_type: str
    """The canonical anaconda-client PackageType value, stored on files and sent back in package_types."""
    parse: Parser
    aliases: tuple[str, ...] = ()
    """Other spellings anaconda-client accepts for the same type (PACKAGE_TYPE_ALIASES)."""
    sniff: Callable[[Path, str], bool] | None = None
    """Does an untyped upload look like this format? Must not raise; None means "only when asked for"."""
    on_event: Callable[[Session, Event], None] | None = None
    """Keeps the format's index records in step with the data, inside the transaction of each change."""
    named: bool = False
    """The parser takes the name, version and summary the uploader gives (form fields, or the stage URL)."""
    basename_per_release: bool = False
    """The file name does not carry the version (environment.yml, analysis.ipynb), so the same basename may be
    uploaded once to every release; for the other formats a basename is unique in the whole package."""
    next_version: Callable[[Sequence[str]], str] | None = None
    """The version of a one-request upload that names none, from the package's existing versions."""


FORMATS: dict[str, FormatSpec] = {}
_BY_NAME: dict[str, FormatSpec] = {}


def register(spec: FormatSpec) -> None:
    """Add a format at the end of the detection order; every name and alias must be new."""
    names = (spec.distribution_type, *spec.aliases)
    taken = [n for n in names if n in _BY_NAME]
    if taken:
        raise ValueError(f"distribution type {taken[0]!r} is already registered")
    FORMATS[spec.distribution_type] = spec
    _BY_NAME.update(dict.fromkeys(names, spec))


def spec_for(distribution_type: str) -> FormatSpec:
    """The format for a type name or alias, e.g. "PyPI" -> the pypi spec."""
    spec = _BY_NAME.get(distribution_type)
    if spec is None:
        expected = ", ".join(FORMATS)
        raise InvalidPackage(f"unknown package type {distribution_type!r}; expected one of {expected}")
    return spec


def parser_for(distribution_type: str) -> Parser:
    """The parse function for a type name or alias; InvalidPackage for an unknown type."""
    return spec_for(distribution_type).parse


def basename_per_release(distribution_type: str | None) -> bool:
    """May the same basename recur in several releases of a package of this type? False for unknown types."""
    spec = _BY_NAME.get(distribution_type or "")
    return spec is not None and spec.basename_per_release


def listeners() -> list[Callable[[Session, Event], None]]:
    """Every format's event listener, for core.services.events."""
    return [spec.on_event for spec in FORMATS.values() if spec.on_event is not None]


def detect(path: Path, basename: str) -> str:
    """Guess the canonical distribution type of an upload that did not say, like anaconda-client does."""
    for spec in FORMATS.values():
        if spec.sniff is not None and spec.sniff(path, basename):
            return spec.distribution_type
    return FALLBACK_TYPE


for _spec in (
    FormatSpec("conda", conda.parse, sniff=conda.sniff, on_event=conda_store.on_event),
    FormatSpec(
        "pypi",
        pypi.parse,
        aliases=("PyPI", "standard_python"),
        sniff=pypi.sniff,
        on_event=pypi_store.on_event,
    ),
    FormatSpec(
        "r", cran.parse, aliases=("cran", "standard_r"), sniff=cran.sniff, on_event=cran_store.on_event
    ),
    FormatSpec(
        notebook.PACKAGE_TYPE, notebook.parse, sniff=notebook.sniff, named=True, basename_per_release=True
    ),
    FormatSpec(env.PACKAGE_TYPE, env.parse, sniff=env.sniff, named=True, basename_per_release=True),
    FormatSpec(
        project.PACKAGE_TYPE,
        project.parse,
        named=True,
        basename_per_release=True,
        next_version=project.next_revision,
    ),
    FormatSpec(FALLBACK_TYPE, file.parse, named=True),
):
    register(_spec)
