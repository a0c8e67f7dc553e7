"""Read a Python distribution (wheel or sdist) into an `Artifact`, from its core metadata.

pip and uv check that a wheel's METADATA matches its file name (and PEP 658 makes them trust our copy of it),
so a mismatch here would surface later as a confusing install failure; we refuse it at upload instead.
"""

from __future__ import annotations

import email.errors
import re
from contextlib import closing
from pathlib import Path
from typing import Any

import packaging.metadata
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import (
    ArchiveKind,
    TarLayout,
    checked,
    expansion_budget,
    iter_tar,
    member_names,
    open_zip,
    read_zip_member,
    shown,
)

METADATA_VERSIONS: tuple[str, ...] = tuple(
    sorted(
        {
            "2.0",
            *getattr(packaging.metadata, "_VALID_METADATA_VERSIONS", ("1.0", "1.1", "1.2", "2.1", "2.2")),
        },
        key=Version,
    )
)
"""The core-metadata versions packaging.metadata validates, plus 2.0: never a standard (PEP 426 was withdrawn),
but `wheel` wrote it into wheels until 2018 and pip installs them, so refusing it would refuse old releases."""
_QUOTED = re.compile(r"""(["'])(.*?)\1""")
_UNSAFE_MARKER_TEXT = re.compile(r"[<>&`\x00-\x1f\x7f]")
_SAFE_URL = re.compile(r"^(https?|file|(git|hg|svn|bzr)\+(https?|ssh|file))://[^\s<>\"'`\\]+$", re.IGNORECASE)
METADATA_FILE_SINCE = Version("2.2")
"""PEP 643: from this Metadata-Version on, an sdist's PKG-INFO is static enough to serve as PEP 658 metadata."""

_WHEEL_VERSION = re.compile(rb"^Wheel-Version:[ \t]*(\d+)\.(\d+)[ \t]*\r?$", re.MULTILINE)
_FIELD_LABELS = {"metadata_version": "Metadata-Version", "name": "Name", "version": "Version"}
_HOME_LABELS = ("homepage", "home", "source", "sourcecode", "repository")


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    """Parse a wheel or sdist; name, version and summary arguments are ignored (the metadata says them)."""
    del name, version, summary
    check_basename(basename)
    if "/" in basename:
        raise InvalidPackage(
            f"a Python distribution's file name must not contain a folder: {shown(basename)}"
        )
    if basename.endswith(".whl"):
        return _parse_wheel(path, basename)
    if basename.endswith((".tar.gz", ".zip")):
        return _parse_sdist(path, basename)
    raise InvalidPackage(f"{shown(basename)} is neither a wheel (.whl) nor an sdist (.tar.gz, .zip)")


def _parse_wheel(path: Path, basename: str) -> Artifact:
    try:
        fn_name, fn_version, build, _ = parse_wheel_filename(basename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise InvalidPackage(f"invalid wheel file name: {exc}") from None
    with path.open("rb") as raw, open_zip(raw, ".whl") as archive:
        dist_info = _dist_info_dir(archive.namelist(), fn_name, fn_version)
        metadata = read_zip_member(archive, f"{dist_info}/METADATA", ".whl")
        _check_wheel_file(read_zip_member(archive, f"{dist_info}/WHEEL", ".whl"))
    core = _core_metadata(metadata, "METADATA", fn_name, fn_version)
    python, abi, platform = basename[: -len(".whl")].split("-")[-3:]
    attrs = {"packagetype": "bdist_wheel", "python_version": python, "abi": abi, "platform": platform}
    if build:
        attrs["build_tag"] = f"{build[0]}{build[1]}"
    return _artifact(core, basename, attrs, metadata)


def _dist_info_dir(names: list[str], fn_name: NormalizedName, fn_version: Version) -> str:
    """The one top-level *.dist-info folder, which must belong to the project the file name names."""
    found = sorted(
        {n.split("/", 1)[0] for n in names if "/" in n and n.split("/", 1)[0].endswith(".dist-info")}
    )
    if not found:
        raise InvalidPackage("the wheel has no .dist-info folder")
    if len(found) > 1:
        raise InvalidPackage(f"the wheel has several .dist-info folders: {shown(', '.join(found))}")
    folder = found[0]
    if canonicalize_name(folder[: -len(".dist-info")].rpartition("-")[0]) != fn_name:
        raise InvalidPackage(f"the wheel's {shown(folder)} folder does not belong to {fn_name}")
    try:
        folder_version = Version(folder[: -len(".dist-info")].rpartition("-")[2])
    except InvalidVersion:
        folder_version = None
    if folder_version != fn_version:
        raise InvalidPackage(f"the wheel's {shown(folder)} folder is not for version {fn_version}")
    for required in ("METADATA", "WHEEL"):
        if f"{folder}/{required}" not in names:
            raise InvalidPackage(f"the wheel has no {folder}/{required}")
    return folder


def _check_wheel_file(data: bytes) -> None:
    match = _WHEEL_VERSION.search(data)
    if match is None:
        raise InvalidPackage("the wheel's WHEEL file has no Wheel-Version")
    if match.group(1) != b"1":
        raise InvalidPackage(
            f"Wheel-Version {match.group(1).decode()}.{match.group(2).decode()} is not supported"
        )


def _parse_sdist(path: Path, basename: str) -> Artifact:
    try:
        fn_name, fn_version = parse_sdist_filename(basename)
    except (InvalidSdistFilename, InvalidVersion) as exc:
        raise InvalidPackage(f"invalid sdist file name: {exc}") from None
    stem = basename.removesuffix(".tar.gz").removesuffix(".zip")
    found = _read_pkg_info(path, basename)
    if not found:
        raise InvalidPackage(f"the sdist has no {stem}/PKG-INFO")
    if len(found) > 1:
        raise InvalidPackage(
            f"the sdist has several top-level PKG-INFO files: {shown(', '.join(sorted(found)))}"
        )
    pkg_info = next(iter(found.values()))
    core = _core_metadata(pkg_info, "PKG-INFO", fn_name, fn_version)
    attrs = {"packagetype": "sdist", "python_version": "source"}
    static = Version(core["metadata_version"]) >= METADATA_FILE_SINCE
    return _artifact(core, basename, attrs, pkg_info if static else None)


def _read_pkg_info(path: Path, basename: str) -> dict[str, bytes]:
    """Every FOLDER/PKG-INFO at the top of the sdist (there should be exactly one)."""
    with path.open("rb") as raw:
        if basename.endswith(".tar.gz"):
            budget = expansion_budget(path.stat().st_size)
            layout = TarLayout(".tar.gz", "inside")
            found: dict[str, bytes] = {}
            for entry in iter_tar(raw, "gz", what=".tar.gz", budget=budget):
                if _is_top_pkg_info(entry.name):
                    if entry.name in found:
                        raise InvalidPackage(f"{entry.name} appears more than once in the archive")
                    found[entry.name] = entry.read()
                layout.add(entry)
            layout.finish()
            return found
        with open_zip(raw, ".zip") as archive:
            names = [n for n in archive.namelist() if _is_top_pkg_info(n)]
            return {n: read_zip_member(archive, n, ".zip") for n in names}


def _is_top_pkg_info(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _core_metadata(data: bytes, what: str, fn_name: NormalizedName, fn_version: Version) -> dict[str, Any]:
    """Parse METADATA/PKG-INFO leniently, but insist on one valid Name and Version matching the file name."""
    try:
        raw: dict[str, Any] = dict(parse_email(data)[0])
    except (ValueError, LookupError, TypeError, AssertionError, email.errors.MessageError) as exc:
        raise InvalidPackage(f"{what} cannot be parsed: {exc}") from None
    for key, label in _FIELD_LABELS.items():
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise InvalidPackage(f"{what} has no single valid {label} field")
    if raw["metadata_version"].strip() not in METADATA_VERSIONS:
        raise InvalidPackage(
            f"{what} has Metadata-Version {shown(raw['metadata_version'])}, which is not one of "
            f"{', '.join(METADATA_VERSIONS)}"
        )
    raw["metadata_version"] = raw["metadata_version"].strip()
    try:
        canonical = canonicalize_name(raw["name"].strip(), validate=True)
        raw["version"] = str(Version(raw["version"]))
    except (InvalidName, InvalidVersion) as exc:
        raise InvalidPackage(f"{what}: {exc}") from None
    _check_dependencies(raw, what)
    if canonical != fn_name:
        raise InvalidPackage(f"{what} says Name {shown(raw['name'])} but the file name says {fn_name}")
    if Version(raw["version"]) != fn_version:
        raise InvalidPackage(f"{what} says Version {raw['version']} but the file name says {fn_version}")
    return raw


def _check_dependencies(raw: dict[str, Any], what: str) -> None:
    """Requires-Python must be a PEP 440 specifier set, each Requires-Dist a PEP 508 requirement, each
    Provides-Extra a valid name: pip and uv would refuse anything else, and these are shown on pages."""
    requires_python = raw.get("requires_python")
    if requires_python is not None:
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier:
            raise InvalidPackage(
                f"{what} has Requires-Python {shown(requires_python)}, which is not a PEP 440 specifier set"
            ) from None
    for value in raw.get("requires_dist", []):
        try:
            requirement = Requirement(value)
        except InvalidRequirement:
            raise InvalidPackage(
                f"{what} has Requires-Dist {shown(value)}, which is not a PEP 508 requirement"
            ) from None
        quoted = next((q for q in _QUOTED.findall(value) if _UNSAFE_MARKER_TEXT.search(q[1])), None)
        if quoted is not None:
            raise InvalidPackage(
                f"{what} has Requires-Dist {shown(value)}, whose marker compares with {shown(quoted[1])}: "
                "marker values may not hold markup or control characters"
            )
        if requirement.url is not None and not _SAFE_URL.match(requirement.url):
            raise InvalidPackage(
                f"{what} has Requires-Dist {shown(value)}, whose URL is not an http(s), file or VCS URL"
            )
    for extra in raw.get("provides_extra", []):
        try:
            canonicalize_name(extra, validate=True)
        except InvalidName:
            raise InvalidPackage(
                f"{what} has Provides-Extra {shown(extra)}, which is not a valid name"
            ) from None


def _artifact(core: dict[str, Any], basename: str, attrs: dict[str, Any], metadata: bytes | None) -> Artifact:
    attrs |= {
        "metadata_version": core["metadata_version"],
        "summary": core.get("summary"),
        "requires_python": core.get("requires_python"),
        "requires_dist": list(core.get("requires_dist", [])),
        "provides_extra": list(core.get("provides_extra", [])),
        "yanked": False,
        # Every other core-metadata field (author, classifiers, keywords, project_urls...), for the JSON API
        # and XML-RPC's release_data; the long description is kept on the release instead.
        "core": {k: v for k, v in core.items() if k not in ("description", "name", "version")},
    }
    return checked(
        Artifact(
            package_type="pypi",
            name=core["name"].strip(),
            version=core["version"],
            basename=basename,
            summary=core.get("summary"),
            description=core.get("description"),
            license=core.get("license_expression") or core.get("license"),
            home=core.get("home_page") or _home_from_project_urls(core.get("project_urls", {})),
            attrs=attrs,
            dependencies={"depends": attrs["requires_dist"]},
            extra_files={"metadata": metadata} if metadata is not None else {},
        )
    )


def _home_from_project_urls(urls: dict[str, str]) -> str | None:
    """PEP 753: labels compare without case or punctuation; prefer Homepage, then the source repository."""
    by_label = {re.sub(r"[^a-z0-9]", "", label.lower()): url for label, url in urls.items()}
    return next((by_label[label] for label in _HOME_LABELS if label in by_label), None)


def sniff(path: Path, basename: str) -> bool:
    """Is this upload a wheel, or an sdist (a .tar.gz or .zip with a top-level FOLDER/PKG-INFO)?"""
    if basename.endswith(".whl"):
        return True
    kind: ArchiveKind | None = (
        "gz" if basename.endswith(".tar.gz") else "zip" if basename.endswith(".zip") else None
    )
    if kind is None:
        return False
    try:
        with closing(member_names(path, kind)) as names:
            return any(_is_top_pkg_info(name) for name in names)
    except InvalidPackage:
        return False
