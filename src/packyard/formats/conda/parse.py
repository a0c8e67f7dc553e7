"""Read a conda package (.tar.bz2 or .conda) into an `Artifact`, from its info/ metadata only.

conda and rattler key every repodata record by file name and parse name, version and build back out of it,
so the file name and info/index.json must agree; we refuse the upload when they don't rather than serve a
channel that clients would reject or, worse, resolve wrongly.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import (
    ARCHIVE_ERRORS,
    Compression,
    TarLayout,
    checked,
    expansion_budget,
    iter_tar,
    member_names,
    open_zip,
    open_zip_member,
    read_zip_member,
    shown,
)

EXTENSIONS = (".tar.bz2", ".conda")
INDEX = "info/index.json"
ABOUT = "info/about.json"
RUN_EXPORTS = "info/run_exports.json"
PATHS = "info/paths.json"
FILES = "info/files"
_WANTED = frozenset({INDEX, ABOUT, RUN_EXPORTS, PATHS, FILES})
METADATA = "metadata.json"
FORMAT_VERSION = 2
"""The .conda container (CEP 2, as conda-package-handling and conda-package-streaming write and read it): a zip
of exactly metadata.json ({"conda_pkg_format_version": 2}), info-STEM.tar.zst (the info/ folder) and
pkg-STEM.tar.zst (everything else), stored uncompressed, the two tarballs zstd-compressed."""
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_PATTERNS = {
    "name": re.compile(r"^[a-z0-9_][a-z0-9_.-]*$"),
    "version": re.compile(r"^[A-Za-z0-9_.+!]+$"),
    "build": re.compile(r"^[A-Za-z0-9_.+]+$"),
    "subdir": re.compile(r"^[a-z0-9]+(?:-[a-z0-9_]+)*$"),
}
"""What conda and rattler accept in these fields; anything else could not be installed or named in a spec."""
_INT_RANGE = range(-(2**63), 2**64)


@dataclass(frozen=True)
class _FileName:
    """What the uploader's file name claims; subdir is None for a bare name."""

    subdir: str | None
    stem: str
    ext: str
    name: str
    version: str
    build: str


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    """Parse a conda package; the name, version and summary arguments are ignored (the package has its own)."""
    del name, version, summary
    claimed = _split_basename(check_basename(basename))
    members = _read_info_members(path, claimed)
    index = _index(members)
    _compare(index, claimed)
    about = _about(members)
    attrs = dict(index)
    run_exports = _run_exports(members)
    if run_exports is not None:
        attrs["run_exports"] = run_exports
    return checked(
        Artifact(
            package_type="conda",
            name=index["name"],
            version=index["version"],
            basename=f"{index['subdir']}/{claimed.stem}{claimed.ext}",
            summary=_text(about.get("summary")),
            description=_text(about.get("description")),
            license=_text(about.get("license")) or _text(index.get("license")),
            home=_first_text(about, ("home", "dev_url", "doc_url")),
            attrs=attrs,
            dependencies={"depends": list(index.get("depends", []))},
        )
    )


def _split_basename(basename: str) -> _FileName:
    folder, _, filename = basename.rpartition("/")
    ext = next((e for e in EXTENSIONS if filename.endswith(e)), None)
    if ext is None:
        raise InvalidPackage(
            f"a conda package's file name must end in .tar.bz2 or .conda, not {shown(filename)}"
        )
    stem = filename[: -len(ext)]
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidPackage(f"the file name {shown(filename)} is not NAME-VERSION-BUILD{ext}")
    return _FileName(folder or None, stem, ext, *parts)


def _read_info_members(path: Path, claimed: _FileName) -> dict[str, bytes]:
    """Walk the whole package (both tarballs of a .conda), checking every member; return the info/ files we read.

    Both tarballs are streamed member by member (never held in memory) within the expansion budget, and what
    they would create once extracted into one folder is checked by `TarLayout`: no devices or FIFOs, symbolic
    links that resolve inside the package, hard links only to files in it. Then info/paths.json and info/files
    must list only paths the package contains.
    """
    layout = TarLayout(claimed.ext, "inside")
    with path.open("rb") as raw:
        if claimed.ext == ".tar.bz2":
            budget = expansion_budget(path.stat().st_size)
            found = _walk(raw, "bz2", ".tar.bz2", budget, layout, inside=None)
        else:
            with open_zip(raw, ".conda") as archive:
                info, pkg = _conda_members(archive, claimed.stem)
                found = _walk_member(archive, info, layout, inside=True)
                _walk_member(archive, pkg, layout, inside=False)
    layout.finish()
    _check_file_lists(found, layout)
    return found


def _walk_member(
    archive: zipfile.ZipFile, member: str, layout: TarLayout, *, inside: bool
) -> dict[str, bytes]:
    budget = expansion_budget(archive.getinfo(member).compress_size)
    try:
        with open_zip_member(archive, member, ".conda") as tarball:
            magic = tarball.read(4)
            if magic != _ZSTD_MAGIC:
                kind = "a zip archive" if magic == b"PK\x03\x04" else "not zstd-compressed"
                raise InvalidPackage(f"{member} in the .conda archive is {kind}; it must be a zstd tarball")
        with open_zip_member(archive, member, ".conda") as tarball:
            return _walk(tarball, "zst", member, budget, layout, inside=inside)
    except InvalidPackage:
        raise
    except ARCHIVE_ERRORS as exc:
        raise InvalidPackage(f"not a valid .conda archive: {shown(str(exc), 200)}") from exc


def _walk(
    fileobj: IO[bytes],
    compression: Compression,
    what: str,
    budget: int,
    layout: TarLayout,
    *,
    inside: bool | None,
) -> dict[str, bytes]:
    """One tarball: the wanted info/ members' bytes; `inside` says whether every member must (True), must not
    (False) or may (None) be under info/."""
    found: dict[str, bytes] = {}
    for entry in iter_tar(fileobj, compression, what=what, budget=budget):
        under_info = entry.name.startswith("info/") or entry.name == "info"
        root = entry.name.rstrip("/") in ("", ".") and entry.info.isdir()  # some tools write a "./" entry
        if inside is not None and under_info != inside and not root:
            where = "only info/" if inside else "nothing under info/"
            raise InvalidPackage(f"{shown(entry.name)} is in {what}, which must hold {where}")
        if entry.name in _WANTED:
            if entry.name in found:
                raise InvalidPackage(f"{entry.name} appears more than once in the archive")
            found[entry.name] = entry.read()
        layout.add(entry)
    return found


def _conda_members(archive: zipfile.ZipFile, stem: str) -> tuple[str, str]:
    """Check the .conda container; return the names of its info and pkg tarballs."""
    names = archive.namelist()
    info, pkg = _info_member_name(names, stem), f"pkg-{stem}.tar.zst"
    if METADATA not in names:
        raise InvalidPackage(f"the .conda archive has no {METADATA}")
    extra = sorted(set(names) - {METADATA, info, pkg})
    if extra:
        raise InvalidPackage(
            f"the .conda archive holds {shown(extra[0])}; a .conda holds only {METADATA}, {info} and {pkg}"
        )
    for name in names:
        if archive.getinfo(name).compress_type != zipfile.ZIP_STORED:
            raise InvalidPackage(f"{shown(name)} is compressed inside the .conda zip; it must be stored")
    metadata = _load_json(read_zip_member(archive, METADATA, ".conda", limit=64 * 1024), METADATA)
    version = metadata.get("conda_pkg_format_version") if isinstance(metadata, dict) else None
    if type(version) is not int or version != FORMAT_VERSION:
        raise InvalidPackage(
            f"the .conda archive's {METADATA} must say conda_pkg_format_version {FORMAT_VERSION}, "
            f"not {shown(version)}"
        )
    return info, pkg


def _info_member_name(names: list[str], stem: str) -> str:
    """The info tarball's name; conda finds it by the file's own stem, so it must be exactly that."""
    expected = f"info-{stem}.tar.zst"
    infos = [n for n in names if n.startswith("info-") and n.endswith(".tar.zst")]
    if not infos:
        raise InvalidPackage("the .conda archive has no info-*.tar.zst member")
    if expected not in infos:
        raise InvalidPackage(
            f"the .conda archive's info member is {shown(infos[0])} but the file name needs {shown(expected)}"
        )
    if f"pkg-{stem}.tar.zst" not in names:
        raise InvalidPackage(f"the .conda archive has no pkg-{stem}.tar.zst member")
    return expected


def _check_file_lists(found: dict[str, bytes], layout: TarLayout) -> None:
    """info/paths.json and info/files list what the package installs: every entry must be one of its members."""
    present = layout.names
    listed: list[tuple[str, str]] = []
    if PATHS in found:
        paths = _load_json(found[PATHS], PATHS)
        entries = paths.get("paths") if isinstance(paths, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("_path"), str) for e in entries
        ):
            raise InvalidPackage(f"{PATHS} must hold an object whose paths is a list of objects with a _path")
        listed += [(PATHS, e["_path"]) for e in entries]
    if FILES in found:
        try:
            text = found[FILES].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPackage(f"{FILES} is not UTF-8 text") from None
        listed += [(FILES, line.removesuffix("\r")) for line in text.split("\n") if line.strip()]
    for where, entry in listed:
        name = entry.removeprefix("./").rstrip("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise InvalidPackage(f"{where} lists the absolute path {shown(entry)}; paths must be relative")
        if ".." in name.replace("\\", "/").split("/"):
            raise InvalidPackage(
                f"{where} lists {shown(entry)}, with '..'; paths must stay inside the package"
            )
        if name not in present:
            raise InvalidPackage(f"{where} lists {shown(entry)}, which is not in the package")


def _index(members: dict[str, bytes]) -> dict[str, Any]:
    if INDEX not in members:
        raise InvalidPackage(f"the package has no {INDEX}")
    index = _load_json(members[INDEX], INDEX)
    if not isinstance(index, dict):
        raise InvalidPackage(f"{INDEX} must hold a JSON object")
    for key, pattern in _PATTERNS.items():
        if not isinstance(index.get(key), str) or not index[key].strip():
            raise InvalidPackage(f"{INDEX} must give {key} as a non-empty string")
        if key == "name" and index[key] != index[key].lower() and pattern.match(index[key].lower()):
            raise InvalidPackage(
                f"{INDEX} gives the name {shown(index[key])!r}, but conda package names are lower-case"
            )
        if not pattern.match(index[key]):
            raise InvalidPackage(f"{INDEX} gives an invalid {key} {shown(index[key])!r}")
    if type(index.get("build_number")) is not int or index["build_number"] < 0:
        raise InvalidPackage(f"{INDEX} must give build_number as a non-negative integer")
    for key in ("depends", "constrains"):
        if key in index and not _is_str_list(index[key]):
            raise InvalidPackage(f"{INDEX} must give {key} as a list of strings")
    return index


def _compare(index: dict[str, Any], claimed: _FileName) -> None:
    pairs = [("name", claimed.name), ("version", claimed.version), ("build", claimed.build)]
    if claimed.subdir is not None:
        pairs.append(("subdir", claimed.subdir))
    for key, value in pairs:
        if index[key] != value:
            raise InvalidPackage(
                f"{INDEX} says {key} {shown(index[key])} but the file name says {shown(value)}"
            )


def _about(members: dict[str, bytes]) -> dict[str, Any]:
    if ABOUT not in members:
        return {}
    about = _load_json(members[ABOUT], ABOUT)
    if not isinstance(about, dict):
        raise InvalidPackage(f"{ABOUT} must hold a JSON object")
    return about


def _run_exports(members: dict[str, bytes]) -> dict[str, list[str]] | None:
    """run_exports in the dict form; the legacy list form means "weak", as conda-build reads it."""
    if RUN_EXPORTS not in members:
        return None
    value = _load_json(members[RUN_EXPORTS], RUN_EXPORTS)
    if _is_str_list(value):
        return {"weak": value}
    if isinstance(value, dict) and all(_is_str_list(specs) for specs in value.values()):
        return value
    raise InvalidPackage(f"{RUN_EXPORTS} must hold a list of specs or an object of spec lists")


def _load_json(data: bytes, what: str) -> Any:
    """json.loads, refusing NaN, infinities and integers no JSON column or encoder downstream can hold."""
    try:
        return json.loads(
            data, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidPackage(f"{what} is not valid JSON: {exc}") from None


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"number {token[:20]} is out of range")
    return value


def _bounded_int(token: str) -> int:
    value = int(token)
    if value not in _INT_RANGE:
        raise ValueError(f"integer {token[:20]}... is out of range")
    return value


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _first_text(mapping: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((text for key in keys if (text := _text(mapping.get(key)))), None)


def sniff(path: Path, basename: str) -> bool:
    """Is this upload meant as a conda package? (As anaconda-client: .conda, or .tar.bz2 with info/index.json.)

    A .tar.bz2 we cannot even read counts as one, so the uploader hears what is wrong with it instead of being
    asked for a file name and version.
    """
    if basename.endswith(".conda"):
        return True
    if not basename.endswith(".tar.bz2"):
        return False
    try:
        with closing(member_names(path, "bz2")) as names:
            return any(name == INDEX for name in names)
    except InvalidPackage:
        return True
