"""Read an R package (source .tar.gz, Windows .zip or macOS .tgz binary) into an `Artifact` via DESCRIPTION.

DESCRIPTION is R's DCF dialect, not Debian's and not RFC 822: no comments, "." continuation lines are blank
lines, some fields keep their whitespace, and the bytes are in whatever the Encoding field says. We follow R's
own reader (`read.dcf`, `tools:::.read_description`) so PACKAGES lists what `install.packages` would see.
"""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import (
    ArchiveKind,
    TarLayout,
    check_zip_modes,
    checked,
    expansion_budget,
    iter_tar,
    member_names,
    open_zip,
    read_zip_member,
    shown,
)

KINDS = {".tar.gz": "source", ".zip": "win.binary", ".tgz": "mac.binary"}
"""File extension -> R's package type, as `install.packages(type=...)` and `write_PACKAGES` name them."""

DEPENDENCY_FIELDS = {
    "depends": "Depends",
    "imports": "Imports",
    "linkingto": "LinkingTo",
    "suggests": "Suggests",
}

_KEEP_WHITE = frozenset({"Description", "Authors@R", "Author", "Built", "Packaged"})
"""tools:::.keep_white_description_fields: these keep their inner whitespace and line breaks."""

_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "latin1": "latin-1",
    "latin-1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "latin2": "iso8859-2",
    "latin-2": "iso8859-2",
    "iso-8859-2": "iso8859-2",
    "iso8859-2": "iso8859-2",
}

_FILE_NAME = re.compile(
    r"^([A-Za-z][A-Za-z0-9.]*[A-Za-z0-9])_([0-9]+(?:[.-][0-9]+)+)(\.tar\.gz|\.zip|\.tgz)$"
)
_FIELD = re.compile(r"^([^\s:]+):(.*)$")
_BUILT = re.compile(r"^R (\d+)\.(\d+)(?:\.\d+)?\s*;\s*([^;]*);[^;]*;\s*(\w+)\s*$")


@dataclass(frozen=True)
class _Contents:
    description: bytes
    has_src: bool


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    """Parse an R package; name, version and summary arguments are ignored (DESCRIPTION says them)."""
    del name, version, summary
    check_basename(basename)
    match = _FILE_NAME.match(basename)
    if match is None:
        raise InvalidPackage(
            f"an R package's file name must be NAME_VERSION.tar.gz, .zip or .tgz, not {shown(basename)}"
        )
    package, fn_version, ext = match.groups()
    contents = _read_contents(path, package, ext)
    fields = parse_description(contents.description)
    _compare(fields, package, fn_version)
    attrs: dict[str, Any] = {**fields, "type": KINDS[ext]}
    if ext == ".tar.gz":
        _check_source(fields)
        attrs.setdefault("NeedsCompilation", "yes" if contents.has_src else "no")
    else:
        attrs |= _binary_attrs(fields, ext)
    return checked(
        Artifact(
            package_type="r",
            name=fields["Package"],
            version=fields["Version"],
            basename=basename,
            summary=_one_line(fields.get("Title")),
            description=fields.get("Description"),
            license=fields.get("License"),
            home=_first_url(fields.get("URL")),
            attrs=attrs,
            dependencies={
                key: split_dependencies(fields.get(field)) for key, field in DEPENDENCY_FIELDS.items()
            },
        )
    )


def _read_contents(path: Path, package: str, ext: str) -> _Contents:
    description, namespace = f"{package}/DESCRIPTION", f"{package}/NAMESPACE"
    with path.open("rb") as raw:
        if ext == ".zip":
            with open_zip(raw, ".zip") as archive:
                check_zip_modes(archive, f"{ext} R package")
                names = set(archive.namelist())
                _require({description, namespace} & names, description, namespace)
                return _Contents(read_zip_member(archive, description, ".zip"), False)
        found: dict[str, bytes] = {}
        seen: set[str] = set()
        has_src = False
        layout = TarLayout(f"{ext} R package", "none")
        for entry in iter_tar(raw, "gz", what=ext, budget=expansion_budget(path.stat().st_size)):
            has_src = has_src or entry.name == f"{package}/src" or entry.name.startswith(f"{package}/src/")
            if entry.name in (description, namespace):
                if entry.name in seen:
                    raise InvalidPackage(f"{entry.name} appears more than once in the archive")
                seen.add(entry.name)
                if entry.name == description:
                    found[description] = entry.read()
            layout.add(entry)
        _require(seen, description, namespace)
        return _Contents(found[description], has_src)


def _require(present: set[str], description: str, namespace: str) -> None:
    for name in (description, namespace):
        if name not in present:
            raise InvalidPackage(f"no {name} in the archive")


def parse_description(data: bytes) -> dict[str, str]:
    """DESCRIPTION bytes -> fields in file order, decoded as its Encoding field says (else UTF-8, else latin1)."""
    declared = _dcf(data.decode("latin-1")).get("Encoding")
    if declared is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        codec = _CODECS.get(declared.lower())
        if codec is None:
            raise InvalidPackage(f"DESCRIPTION declares an unknown encoding {shown(declared)!r}")
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            raise InvalidPackage(
                f"DESCRIPTION is not valid {declared} text, as its Encoding field says"
            ) from None
    return _dcf(text.removeprefix("\ufeff"))


def _dcf(text: str) -> dict[str, str]:
    """R's read.dcf for a single record: continuation lines, "." blank lines, last repeated field wins."""
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    record_ended = False
    for line in text.split("\n"):  # not splitlines(): latin-1 text may hold U+0085, which it splits on
        line = line.removesuffix("\r")
        if not line.strip():
            record_ended = current is not None
            continue
        if line[0] in " \t":
            if current is None or record_ended:
                raise InvalidPackage(
                    f"DESCRIPTION has a continuation line outside a field: {shown(line, 40)}"
                )
            current.append(line)
            continue
        if record_ended:
            raise InvalidPackage("DESCRIPTION has a blank line inside it; it must be a single record")
        match = _FIELD.match(line)
        if match is None:
            raise InvalidPackage(f"DESCRIPTION has a malformed line: {shown(line, 40)}")
        fields.pop(match.group(1), None)
        current = fields[match.group(1)] = [match.group(2)]
    return {tag: _join(tag, lines) for tag, lines in fields.items()}


def _join(tag: str, lines: list[str]) -> str:
    keep = tag in _KEEP_WHITE
    parts = [lines[0].strip()]
    for line in lines[1:]:
        if line.strip() == ".":
            parts.append("")
        else:
            parts.append(line.rstrip() if keep else line.strip())
    return "\n".join(parts).strip() if not keep else "\n".join(parts).rstrip()


_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$")
_VERSION = re.compile(r"^(?:[0-9]+[.-]){1,}[0-9]+$")
"""tools:::.standard_regexps(): valid_package_name and valid_package_version, as R CMD build checks them."""
_DEPENDENCY = re.compile(r"^[A-Za-z][A-Za-z0-9.]*\s*(?:\(\s*(?:>=|<=|>|<|==|!=)\s*[0-9][0-9.-]*\s*\))?$")
"""One entry of Depends, Imports, LinkingTo, Suggests or Enhances: `name` or `name (OP version)`."""


def _compare(fields: dict[str, str], package: str, version: str) -> None:
    for field in ("Package", "Version"):
        if field not in fields:
            raise InvalidPackage(f"DESCRIPTION has no {field} field")
    if not _PACKAGE.match(fields["Package"]):
        raise InvalidPackage(
            f"DESCRIPTION's Package {shown(fields['Package'])} is not a valid R package name "
            "(letters, digits and dots, starting with a letter, not ending with a dot)"
        )
    if not _VERSION.match(fields["Version"]):
        raise InvalidPackage(
            f"DESCRIPTION's Version {shown(fields['Version'])} is not a valid R package version "
            "(at least two integers separated by '.' or '-')"
        )
    for field in (*DEPENDENCY_FIELDS.values(), "Enhances"):
        for item in split_dependencies(fields.get(field)):
            if not _DEPENDENCY.match(item):
                raise InvalidPackage(
                    f"DESCRIPTION's {field} has {shown(item)}, which is not NAME or NAME (OP VERSION)"
                )
    for field, value in (("Package", package), ("Version", version)):
        if fields[field] != value:
            raise InvalidPackage(
                f"DESCRIPTION says {field} {shown(fields[field])} but the file name says {value}"
            )


def _check_source(fields: dict[str, str]) -> None:
    if "Built" in fields:
        raise InvalidPackage(
            "this .tar.gz is an installed (binary) package (its DESCRIPTION has a Built field); "
            "upload source packages as .tar.gz, Windows binaries as .zip and macOS binaries as .tgz"
        )


def _binary_attrs(fields: dict[str, str], ext: str) -> dict[str, str]:
    """r_version and platform from Built ("R 4.4.1; x86_64-w64-mingw32; DATE; windows"), checked against ext."""
    built = fields.get("Built")
    if built is None:
        raise InvalidPackage(f"a {ext} R package must be an installed (binary) package with a Built field")
    match = _BUILT.match(" ".join(built.split()))
    if match is None:
        raise InvalidPackage(f"DESCRIPTION has a malformed Built field: {shown(built)}")
    major, minor, platform, os_type = match.groups()
    platform = platform.strip()
    if ext == ".zip" and os_type != "windows":
        raise InvalidPackage(f"a .zip R binary must be built for Windows, but Built says {shown(os_type)}")
    if ext == ".tgz" and (os_type != "unix" or (platform and "darwin" not in platform)):
        raise InvalidPackage(
            f"a .tgz R binary must be built for macOS, but Built says {shown(platform or os_type)}"
        )
    return {"r_version": f"{major}.{minor}", "platform": platform}


def split_dependencies(value: str | None) -> list[str]:
    """ "R (>= 4.1),\\n  utils" -> ["R (>= 4.1)", "utils"]."""
    if not value:
        return []
    return [" ".join(item.split()) for item in value.split(",") if item.strip()]


def _one_line(value: str | None) -> str | None:
    return " ".join(value.split()) if value else None


def _first_url(value: str | None) -> str | None:
    if not value:
        return None
    first = re.split(r"[,\s]+", value.strip(), maxsplit=1)[0]
    return first or None


def sniff(path: Path, basename: str) -> bool:
    """Is this upload an R package: a .tar.gz, .tgz or .zip with top-level FOLDER/DESCRIPTION and NAMESPACE?"""
    kind: ArchiveKind | None = (
        "zip" if basename.endswith(".zip") else "gz" if basename.endswith((".tar.gz", ".tgz")) else None
    )
    if kind is None:
        return False
    seen: set[str] = set()
    try:
        with closing(member_names(path, kind)) as names:
            for name in names:
                parts = name.split("/")
                if len(parts) == 2 and parts[1] in ("DESCRIPTION", "NAMESPACE"):
                    seen.add(parts[1])
                    if len(seen) == 2:
                        return True
    except InvalidPackage:
        return False
    return False
