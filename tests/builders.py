"""Build real package files for tests from the small trees in tests/sources/, so no binary is committed.

Every builder writes one file into the given folder and returns its path. The packages are genuine: conda
packages carry index.json, paths.json with correct hashes and about.json; wheels carry METADATA, WHEEL and a
hashed RECORD; R packages have the layout R CMD build and R CMD INSTALL produce. Options let tests break one
thing at a time (a hostile tar member, index.json disagreeing with the file name, a missing DESCRIPTION...).

The two bomb builders write files that decompress to gigabytes yet take under a second to make: they repeat a
compressed chunk instead of compressing gigabytes of zeros.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import json
import re
import string
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zstandard
from packaging.version import Version

SOURCES = Path(__file__).parent / "sources"
MTIME = 1_700_000_000
"""Fixed member mtime, so building twice gives identical bytes."""

GiB = 1 << 30


# --- archive members --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One archive member; kind "symlink"/"hardlink" use `target`, the others `data`."""

    name: str
    data: bytes = b""
    kind: Literal["file", "symlink", "hardlink", "dir", "fifo", "chardev", "blockdev"] = "file"
    target: str = ""
    mode: int = 0o644


MemberLike = Member | tuple[str, bytes]

_TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "dir": tarfile.DIRTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
}


def as_member(item: MemberLike) -> Member:
    return item if isinstance(item, Member) else Member(item[0], item[1])


def tar_bytes(members: Iterable[MemberLike]) -> bytes:
    """An uncompressed tar holding `members` in order; names are written as given, even hostile ones."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in map(as_member, members):
            info = tarfile.TarInfo(member.name)
            info.type = _TAR_TYPES[member.kind]
            info.mtime = MTIME
            info.mode = 0o755 if member.kind == "dir" else member.mode
            info.linkname = member.target
            info.size = len(member.data) if member.kind == "file" else 0
            tar.addfile(info, io.BytesIO(member.data) if member.kind == "file" else None)
    return out.getvalue()


def write_zip(path: Path, members: Iterable[MemberLike], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip of `members`; symlink members get the unix S_IFLNK mode bits, as Info-ZIP writes them."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for member in map(as_member, members):
            info = zipfile.ZipInfo(member.name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if member.kind == "symlink":
                info.external_attr = 0o120777 << 16
                archive.writestr(info, member.target)
            elif member.kind == "dir":
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")
            else:
                info.external_attr = (0o100000 | member.mode) << 16
                archive.writestr(info, member.data)
    return path


def rewrite_zip(path: Path, *, drop: Sequence[str] = (), add: Iterable[MemberLike] = ()) -> Path:
    """Rewrite a zip in place without the members in `drop` and with `add` appended (duplicates allowed)."""
    with zipfile.ZipFile(path) as source:
        kept = [(info, source.read(info)) for info in source.infolist() if info.filename not in drop]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in kept:
            archive.writestr(info, data)
        for member in map(as_member, add):
            archive.writestr(zipfile.ZipInfo(member.name, date_time=(2024, 1, 1, 0, 0, 0)), member.data)
    return path


def _merge(generated: Sequence[Member], extra: Iterable[MemberLike] | None) -> list[Member]:
    """Extra members first, replacing generated ones of the same name, so a hostile member is what gets read."""
    extras = [as_member(m) for m in extra or ()]
    names = {m.name for m in extras}
    return extras + [m for m in generated if m.name not in names]


# --- conda ------------------------------------------------------------------------------------------------------

_ARCH = {"linux-64": ("x86_64", "linux"), "osx-arm64": ("arm64", "osx"), "win-64": ("x86_64", "win")}


def build_conda(
    tmpdir: Path,
    name: str = "demo",
    version: str = "1.0",
    build: str = "0",
    subdir: str = "noarch",
    fmt: Literal["tar.bz2", "conda"] = "tar.bz2",
    depends: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    index_overrides: Mapping[str, object] | None = None,
    run_exports: list[str] | dict[str, list[str]] | None = None,
    noarch: str | None = None,
    extra_members: Iterable[MemberLike] | None = None,
    about: Mapping[str, object] | None = None,
    omit: Sequence[str] = (),
) -> Path:
    """Write NAME-VERSION-BUILD.FMT into tmpdir (no subdir folder) and return its path.

    `files` defaults to the tree in tests/sources/conda/demo. `index_overrides` values replace index.json keys
    (None deletes the key); `omit` drops generated members by name, e.g. "info/index.json".
    """
    files = dict(files) if files is not None else _source_files(SOURCES / "conda" / "demo")
    index = _conda_index(name, version, build, subdir, depends, noarch)
    for key, value in (index_overrides or {}).items():
        if value is None:
            index.pop(key, None)
        else:
            index[key] = value
    info = _conda_info_members(index, files, name, run_exports, about)
    pkg = [
        Member(path, data, mode=0o755 if path.startswith("bin/") else 0o644) for path, data in files.items()
    ]
    members = [m for m in _merge(info + pkg, extra_members) if m.name not in omit]
    stem = f"{name}-{version}-{build}"
    target = Path(tmpdir) / f"{stem}.{fmt}"
    if fmt == "tar.bz2":
        target.write_bytes(bz2.compress(tar_bytes(members)))
    else:
        _write_dot_conda(target, stem, members)
    return target


def _conda_index(
    name: str, version: str, build: str, subdir: str, depends: Sequence[str], noarch: str | None
) -> dict[str, object]:
    arch, platform = _ARCH.get(subdir, (None, None))
    number = re.search(r"(\d+)$", build)
    index: dict[str, object] = {
        "arch": arch,
        "build": build,
        "build_number": int(number.group(1)) if number else 0,
        "depends": list(depends),
        "license": "BSD-3-Clause",
        "name": name,
        "platform": platform,
        "subdir": subdir,
        "timestamp": MTIME * 1000,
        "version": version,
    }
    if noarch:
        index["noarch"] = noarch
    return index


def _conda_info_members(
    index: Mapping[str, object],
    files: Mapping[str, bytes],
    name: str,
    run_exports: list[str] | dict[str, list[str]] | None,
    about: Mapping[str, object] | None,
) -> list[Member]:
    paths = [
        {
            "_path": p,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(d).hexdigest(),
            "size_in_bytes": len(d),
        }
        for p, d in files.items()
    ]
    about = (
        dict(about)
        if about is not None
        else {
            "summary": f"The {name} demonstration package",
            "description": f"{name} is built by tests/builders.py for Packyard's tests.",
            "home": f"https://example.org/{name}",
            "license": "BSD-3-Clause",
        }
    )
    members = [
        Member("info/index.json", _json(index)),
        Member("info/about.json", _json(about)),
        Member("info/paths.json", _json({"paths": paths, "paths_version": 1})),
        Member("info/files", "".join(f"{p}\n" for p in files).encode()),
    ]
    if run_exports is not None:
        members.append(Member("info/run_exports.json", _json(run_exports)))
    return members


def _write_dot_conda(target: Path, stem: str, members: Sequence[Member]) -> None:
    """CEP 34 .conda: a stored zip of metadata.json and two zstd tarballs, info/ and everything else."""
    info = [m for m in members if m.name.startswith("info/")]
    pkg = [m for m in members if not m.name.startswith("info/")]
    compressor = zstandard.ZstdCompressor(level=3)
    write_zip(
        target,
        [
            Member("metadata.json", _json({"conda_pkg_format_version": 2})),
            Member(f"pkg-{stem}.tar.zst", compressor.compress(tar_bytes(pkg))),
            Member(f"info-{stem}.tar.zst", compressor.compress(tar_bytes(info))),
        ],
        zipfile.ZIP_STORED,
    )


# --- Python -----------------------------------------------------------------------------------------------------


def distribution_name(name: str) -> str:
    """The escaped project name used in wheel and sdist file names (PEP 427, PEP 625)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def build_wheel(
    tmpdir: Path,
    name: str = "demo-pkg",
    version: str = "1.0",
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    metadata_overrides: Mapping[str, str | list[str] | None] | None = None,
    modules: Mapping[str, bytes] | None = None,
    metadata_version: str = "2.1",
    tag: str = "py3-none-any",
    omit: Sequence[str] = (),
) -> Path:
    """Write a pure-Python wheel by hand (METADATA, WHEEL, top_level.txt, hashed RECORD); pip installs it."""
    dist, norm_version = distribution_name(name), str(Version(version))
    info_dir = f"{dist}-{norm_version}.dist-info"
    modules = dict(modules) if modules is not None else _demo_module(name)
    metadata = core_metadata(
        name, version, metadata_version, requires_python, requires_dist, metadata_overrides
    )
    contents = {
        **modules,
        f"{info_dir}/METADATA": metadata,
        f"{info_dir}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: packyard-tests (1.0)\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ).encode(),
        f"{info_dir}/top_level.txt": "".join(f"{t}\n" for t in _top_levels(modules)).encode(),
    }
    contents = {path: data for path, data in contents.items() if path.rsplit("/", 1)[-1] not in omit}
    contents[f"{info_dir}/RECORD"] = _record(contents, f"{info_dir}/RECORD")
    target = Path(tmpdir) / f"{dist}-{norm_version}-{tag}.whl"
    return write_zip(target, list(contents.items()))


def build_sdist(
    tmpdir: Path,
    name: str = "demo-pkg",
    version: str = "1.0",
    metadata_version: str = "2.2",
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    metadata_overrides: Mapping[str, str | list[str] | None] | None = None,
    fmt: Literal["tar.gz", "zip"] = "tar.gz",
    omit_pkg_info: bool = False,
) -> Path:
    """Write a PEP 625 sdist: NAME-VERSION/ with PKG-INFO, pyproject.toml and the module."""
    stem = f"{distribution_name(name)}-{Version(version)}"
    summary = f"The {name} demonstration package"
    pyproject = _template(
        SOURCES / "python" / "pyproject.toml.in", name=name, version=version, summary=summary
    )
    contents = {f"{stem}/{path}": data for path, data in _demo_module(name).items()}
    contents[f"{stem}/pyproject.toml"] = pyproject
    if not omit_pkg_info:
        contents[f"{stem}/PKG-INFO"] = core_metadata(
            name, version, metadata_version, requires_python, requires_dist, metadata_overrides
        )
    target = Path(tmpdir) / f"{stem}.{fmt}"
    if fmt == "zip":
        return write_zip(target, list(contents.items()))
    target.write_bytes(gzip.compress(tar_bytes(contents.items()), mtime=0))
    return target


def core_metadata(
    name: str,
    version: str,
    metadata_version: str = "2.1",
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    overrides: Mapping[str, str | list[str] | None] | None = None,
) -> bytes:
    """METADATA / PKG-INFO text; `overrides` replaces headers by name (None drops one, a list repeats it)."""
    headers: dict[str, str | list[str]] = {
        "Metadata-Version": metadata_version,
        "Name": name,
        "Version": version,
        "Summary": f"The {name} demonstration package",
        "Home-page": f"https://example.org/{name}",
        "License": "MIT",
        "Requires-Python": requires_python or "",
        "Requires-Dist": list(requires_dist),
    }
    for key, value in (overrides or {}).items():
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    lines = [
        f"{key}: {value}"
        for key, values in headers.items()
        for value in (values if isinstance(values, list) else [values])
        if value != ""
    ]
    return ("\n".join(lines) + f"\n\n{name} is built by tests/builders.py.\n").encode()


def _demo_module(name: str) -> dict[str, bytes]:
    source = (SOURCES / "python" / "demo_pkg" / "__init__.py").read_bytes()
    return {f"{distribution_name(name)}/__init__.py": source}


def _top_levels(modules: Mapping[str, bytes]) -> list[str]:
    return sorted({path.split("/", 1)[0].removesuffix(".py") for path in modules})


def _record(contents: Mapping[str, bytes], record_path: str) -> bytes:
    rows = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{record_path},,")
    return ("\n".join(rows) + "\n").encode()


# --- R ----------------------------------------------------------------------------------------------------------

R_CODECS = {"UTF-8": "utf-8", "latin1": "latin-1", "latin2": "iso8859-2"}


def build_r_source(
    tmpdir: Path,
    name: str = "demoR",
    version: str = "1.0",
    depends: Sequence[str] = (),
    imports: Sequence[str] = (),
    encoding: str | None = None,
    description_overrides: Mapping[str, str | None] | None = None,
    omit_description: bool = False,
    author: str = "Ada Lovelace",
    with_src: bool = False,
) -> Path:
    """Write NAME_VERSION.tar.gz as R CMD build does: NAME/DESCRIPTION, NAMESPACE, R/NAME.R."""
    fields = _r_fields(name, version, author, depends, imports, encoding, description_overrides)
    fields["Packaged"] = "2024-07-01 12:00:00 UTC; packyard"
    members = _r_common_members(name, fields, encoding, omit_description)
    members.append(Member(f"{name}/R/{name}.R", (SOURCES / "r" / "R" / "hello.R").read_bytes()))
    if with_src:
        members.append(Member(f"{name}/src/hello.c", b"int packyard_demo(void) { return 42; }\n"))
    target = Path(tmpdir) / f"{name}_{version}.tar.gz"
    target.write_bytes(gzip.compress(tar_bytes(members), mtime=0))
    return target


def build_r_binary(
    tmpdir: Path,
    name: str = "demoR",
    version: str = "1.0",
    r_version: str = "4.4",
    platform: Literal["windows", "macos"] = "windows",
    arch: str = "",
    description_overrides: Mapping[str, str | None] | None = None,
) -> Path:
    """Write an installed-package archive: NAME_VERSION.zip (Windows) or .tgz (macOS), with a Built field.

    `arch` is the Built platform triplet; the default "" is what R writes for packages without compiled code.
    The .rds/.rdb files are placeholders: parsers never open them.
    """
    os_type = "windows" if platform == "windows" else "unix"
    fields = _r_fields(name, version, "Ada Lovelace", (), (), None, None)
    fields["Packaged"] = "2024-07-01 12:00:00 UTC; packyard"
    fields["Built"] = f"R {r_version}.1; {arch}; 2024-07-01 12:30:00 UTC; {os_type}"
    _apply_overrides(fields, description_overrides)
    members = _r_common_members(name, fields, None, False)
    for path in ("Meta/package.rds", "Meta/Rd.rds", f"R/{name}.rdb", f"R/{name}.rdx", "help/aliases.rds"):
        members.append(Member(f"{name}/{path}", b"placeholder\n"))
    members.append(Member(f"{name}/R/{name}", b"# lazy-load stub\n"))
    members.append(Member(f"{name}/MD5", b""))
    ext = "zip" if platform == "windows" else "tgz"
    target = Path(tmpdir) / f"{name}_{version}.{ext}"
    if ext == "zip":
        return write_zip(target, members)
    target.write_bytes(gzip.compress(tar_bytes(members), mtime=0))
    return target


def _r_fields(
    name: str,
    version: str,
    author: str,
    depends: Sequence[str],
    imports: Sequence[str],
    encoding: str | None,
    overrides: Mapping[str, str | None] | None,
) -> dict[str, str]:
    text = _template(SOURCES / "r" / "DESCRIPTION.in", name=name, version=version, author=author).decode()
    fields = dcf_fields(text)
    if encoding:
        fields["Encoding"] = encoding
    if depends:
        fields["Depends"] = ",\n    ".join(depends)
    if imports:
        fields["Imports"] = ",\n    ".join(imports)
    fields["NeedsCompilation"] = "no"
    _apply_overrides(fields, overrides)
    return fields


def _apply_overrides(fields: dict[str, str], overrides: Mapping[str, str | None] | None) -> None:
    for key, value in (overrides or {}).items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value


def _r_common_members(
    name: str, fields: Mapping[str, str], encoding: str | None, omit_description: bool
) -> list[Member]:
    members = [Member(f"{name}/NAMESPACE", (SOURCES / "r" / "NAMESPACE").read_bytes())]
    if not omit_description:
        text = "".join(f"{key}: {value}\n" for key, value in fields.items())
        members.insert(0, Member(f"{name}/DESCRIPTION", text.encode(R_CODECS.get(encoding or "", "utf-8"))))
    return members


def dcf_fields(text: str) -> dict[str, str]:
    """Just enough DCF for our own template: "Tag: value" lines plus indented continuation lines, kept raw."""
    fields: dict[str, str] = {}
    tag = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            fields[tag] += "\n" + line
        elif line.strip():
            tag, _, value = line.partition(":")
            fields[tag] = value.strip()
    return fields


# --- bombs ------------------------------------------------------------------------------------------------------


def build_conda_bomb(tmpdir: Path, size: int = 2 * GiB) -> Path:
    """bomb-1.0-0.tar.bz2 whose first member, info/index.json, is `size` bytes of zeros (~3 KB on disk).

    bzip2 needs ~13 s to compress 2 GiB of zeros, so we compress a 64 MiB run once and repeat the stream:
    concatenated bzip2 streams are one valid .bz2 (bzip2, Python's bz2 module and conda all read them).
    """
    chunk = 64 << 20
    if size % chunk:
        raise ValueError(f"size must be a multiple of {chunk}")
    header = tarfile.TarInfo("info/index.json")
    header.size, header.mtime = size, MTIME
    zeros = bz2.compress(bytes(chunk))
    body = bz2.compress(header.tobuf(format=tarfile.GNU_FORMAT)) + zeros * (size // chunk)
    target = Path(tmpdir) / "bomb-1.0-0.tar.bz2"
    target.write_bytes(body + bz2.compress(bytes(2 * tarfile.BLOCKSIZE)))
    return target


def build_wheel_bomb(tmpdir: Path, size: int = 2 * GiB) -> Path:
    """bomb-1.0-py3-none-any.whl whose METADATA inflates to `size` bytes of zeros (~2 MB on disk).

    The deflate stream repeats one fully flushed 1 MiB block of zeros, then ends with an empty final block;
    the zip is written by hand since zipfile can only compress what it is given.
    """
    chunk = 1 << 20
    if size % chunk:
        raise ValueError(f"size must be a multiple of {chunk}")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros, crc = bytes(chunk), 0
    for _ in range(size // chunk):
        crc = zlib.crc32(zeros, crc)
    wheel = b"Wheel-Version: 1.0\nGenerator: packyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries = [
        ("bomb-1.0.dist-info/WHEEL", _deflate(wheel), zlib.crc32(wheel), len(wheel)),
        ("bomb-1.0.dist-info/METADATA", piece * (size // chunk) + b"\x03\x00", crc, size),
    ]
    return _raw_zip(Path(tmpdir) / "bomb-1.0-py3-none-any.whl", entries)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _raw_zip(path: Path, entries: Sequence[tuple[str, bytes, int, int]]) -> Path:
    """A zip of already deflated (name, data, crc32, size) entries; sizes must stay below 4 GiB (no zip64)."""
    local, central = io.BytesIO(), io.BytesIO()
    for name, data, crc, size in entries:
        encoded, offset = name.encode(), local.tell()
        local.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        )
        local.write(encoded + data)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
        )
        central.write(encoded)
    directory = central.getvalue()
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), local.tell(), 0
    )
    path.write_bytes(local.getvalue() + directory + end)
    return path


# --- helpers ----------------------------------------------------------------------------------------------------


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _template(path: Path, **values: str) -> bytes:
    return string.Template(path.read_text()).substitute(values).encode()


def _source_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
