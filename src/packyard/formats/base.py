"""Helpers every format parser shares: bounded reads, safe archive walking, storable values.

What a parser returns (`Artifact`) and raises (`InvalidPackage`) live in `packyard.core.artifacts`, because
the services take them too. Parsers are pure: a path to a local file and the basename the uploader claims go in, an `Artifact` comes out
or `InvalidPackage` is raised. They never touch the database or HTTP, never trust client-side metadata, never
follow links or write to disk, and read archive members through `bounded_read` so a decompression bomb costs at
most `MAX_METADATA_BYTES`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Self, cast

import zstandard

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename

MAX_METADATA_BYTES = 16 * 1024 * 1024
"""Upper bound on the decompressed size of any one metadata member (index.json, METADATA, DESCRIPTION...)."""


def bounded_read(fileobj: IO[bytes], what: str, limit: int = MAX_METADATA_BYTES) -> bytes:
    """Read a (possibly decompressing) stream, refusing to go past `limit` bytes."""
    data = fileobj.read(limit + 1)
    if len(data) > limit:
        raise InvalidPackage(f"{what} is larger than {limit} bytes once decompressed")
    return data


# --- safe archive reading ---------------------------------------------------------------------------------------
#
# Every parser reads archives through the helpers below so that the same rules hold everywhere: nothing is
# extracted to disk, links are never followed, member names that could escape a folder are refused, every
# decompressed read is bounded, and any low-level error (tarfile, zipfile, bz2, gzip, zstd...) surfaces as
# `InvalidPackage`.

MAX_TAR_HEADER_BYTES = 64 * 1024
"""Upper bound on a pax or GNU long-name header; tarfile reads these whole into memory, and can nest them."""

MIN_EXPANSION_BYTES = 1 << 30
MAX_EXPANSION_RATIO = 100
"""A tarball may expand to max(MIN_EXPANSION_BYTES, MAX_EXPANSION_RATIO x its compressed size) before we call
it a bomb: walking member headers means decompressing everything, and bz2 or zstd can expand a million-fold."""

ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zstandard.ZstdError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    struct.error,
    ValueError,
    OverflowError,
    NotImplementedError,
    RuntimeError,  # zipfile's "password required", and RecursionError from nested tar headers
    IndexError,
    KeyError,
)
"""What the standard library and zstandard raise on damaged input (`InvalidPackage` is re-raised first)."""

Compression = Literal["bz2", "gz", "zst"]


def expansion_budget(compressed_size: int) -> int:
    """How many decompressed bytes an archive of `compressed_size` bytes may expand to."""
    return max(MIN_EXPANSION_BYTES, MAX_EXPANSION_RATIO * compressed_size)


def check_member_name(name: str, what: str) -> str:
    """Refuse member names that would escape the extraction folder; return the name without leading "./"."""
    while name.startswith("./"):
        name = name[2:]
    if "\x00" in name:
        raise InvalidPackage(f"the {what} archive has a member name containing NUL")
    if _CONTROL.search(name):
        raise InvalidPackage(f"the {what} archive has a member name with a control character: {shown(name)}")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise InvalidPackage(f"the {what} archive has an absolute member name {shown(name)}")
    if ".." in name.replace("\\", "/").split("/"):
        raise InvalidPackage(f"the {what} archive has a member name with '..': {shown(name)}")
    return name


_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x01-\x1f\x7f]")
"""Control characters in a member name: file lists (conda's info/files, RECORD) are line-based, and a name
with a newline or an escape sequence would mean something else there or on an operator's terminal."""


class _GuardedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses oversized extension headers and damaged headers instead of silently stopping."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENSION_TYPES and self.size > MAX_TAR_HEADER_BYTES:
            raise InvalidPackage(f"a tar extension header is larger than {MAX_TAR_HEADER_BYTES} bytes")
        return cast(tarfile.TarInfo, super()._proc_member(tar))  # type: ignore[misc]

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
        # tarfile treats a damaged header after the first as the end of the archive; we want an error.
        try:
            return super().fromtarfile(tar)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as exc:  # type: ignore[attr-defined]
            raise _DamagedHeaderError(str(exc)) from None


class _DamagedHeaderError(Exception):
    """Raised past tarfile's own handler, which would otherwise read a damaged header as a clean end."""


_EXTENSION_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)


@dataclass(frozen=True)
class TarEntry:
    """One member met while walking a tarball; `read` works only until the walk moves on."""

    name: str
    info: tarfile.TarInfo
    _tar: tarfile.TarFile
    _what: str

    def read(self, limit: int = MAX_METADATA_BYTES) -> bytes:
        """The member's bytes, refusing links and anything but a regular file."""
        _require_regular_tar(self.info, self.name)
        try:
            fileobj = self._tar.extractfile(self.info)
            if fileobj is None:
                raise InvalidPackage(f"{self.name} is not a regular file")
            return bounded_read(fileobj, self.name, limit)
        except InvalidPackage:
            raise
        except ARCHIVE_ERRORS as exc:
            raise InvalidPackage(f"not a valid {self._what} archive: {_describe(exc)}") from exc


def _require_regular_tar(info: tarfile.TarInfo, name: str) -> None:
    if info.issym():
        raise InvalidPackage(f"{name} is a symbolic link")
    if info.islnk():
        raise InvalidPackage(f"{name} is a hard link")
    if not info.isreg():
        raise InvalidPackage(f"{name} is not a regular file")


def iter_tar(fileobj: IO[bytes], compression: Compression, *, what: str, budget: int) -> Iterator[TarEntry]:
    """Walk a compressed tarball member by member, in one pass, without seeking.

    The walk refuses hostile member names, oversized headers and archives expanding past `budget` bytes. When
    it runs to the end it also drains the decompressor, so checksums after the tar end-marker are verified and
    a truncated file is noticed even when tarfile itself would have stopped quietly.
    """
    try:
        stream = _decompress(fileobj, compression)
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_GuardedTarInfo) as tar:
            while (info := tar.next()) is not None:
                tar.members.clear()  # type: ignore[attr-defined]  # stream mode keeps every TarInfo otherwise
                yield TarEntry(check_member_name(info.name, what), info, tar, what)
                # Checked after the caller had its (bounded) read, before tarfile decompresses past the data.
                if info.offset_data + info.size > budget:
                    raise InvalidPackage(f"the {what} archive expands to more than {budget} bytes")
            _drain(stream, budget - tar.offset, what)
    except InvalidPackage:
        raise
    except _DamagedHeaderError as exc:
        raise InvalidPackage(f"not a valid {what} archive: damaged tar header ({exc})") from None
    except ARCHIVE_ERRORS as exc:
        raise InvalidPackage(f"not a valid {what} archive: {_describe(exc)}") from exc


def read_tar_members(
    fileobj: IO[bytes], compression: Compression, want: Callable[[str], bool], *, what: str, budget: int
) -> dict[str, bytes]:
    """Walk a whole tarball and return the bytes of the members `want` picks; a picked name may occur once."""
    found: dict[str, bytes] = {}
    for entry in iter_tar(fileobj, compression, what=what, budget=budget):
        if not want(entry.name):
            continue
        if entry.name in found:
            raise InvalidPackage(f"{entry.name} appears more than once in the archive")
        found[entry.name] = entry.read()
    return found


MAX_SYMLINK_HOPS = 40
"""How many symbolic links one path may pass through before we call it a loop (Linux's own limit)."""
MAX_LINK_TARGET = 4096
"""Longest symbolic link target (Linux's PATH_MAX)."""
MAX_LINK_STEPS = 5_000_000
"""Path components resolved for all the links of one package together: a few seconds at most. Packages with
thousands of links need a few hundred thousand; chains of long targets could otherwise cost hours."""


class TarLayout:
    """What the members of one or more tarballs extracted into the same folder would make there.

    Fed every `TarEntry` of a walk (`add`), it refuses device nodes and FIFOs at once, and links the way `links`
    says: "none" refuses every symbolic and hard link; "inside" lets a symbolic link through when, once the walk
    is over (`finish`), it resolves inside the folder, following chains through other links in the archive, and a
    hard link when it names a regular file met earlier (as tar requires). A link target may dangle inside the
    folder (another package can provide it), never point outside it. `what` names the archive in messages.
    """

    def __init__(self, what: str, links: Literal["none", "inside"]) -> None:
        self.what = what
        self.links = links
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.symlinks: dict[str, str] = {}
        self.steps = 0

    @property
    def names(self) -> set[str]:
        """Every path a member creates (files, folders, links), without trailing "/"."""
        return self.files | self.dirs | set(self.symlinks)

    def add(self, entry: TarEntry) -> None:
        info, name = entry.info, entry.name.rstrip("/")
        if info.ischr() or info.isblk():
            raise InvalidPackage(f"{shown(name)} in the {self.what} archive is a device node")
        if info.isfifo():
            raise InvalidPackage(f"{shown(name)} in the {self.what} archive is a FIFO")
        if info.issym() or info.islnk():
            self._add_link(name, info)
        elif info.isdir():
            self.dirs.add(name)
        elif info.isreg():
            self.files.add(name)
        else:
            raise InvalidPackage(f"{shown(name)} in the {self.what} archive is not a file, folder or link")

    def _add_link(self, name: str, info: tarfile.TarInfo) -> None:
        kind = "symbolic link" if info.issym() else "hard link"
        if self.links == "none":
            raise InvalidPackage(f"{shown(name)} in the {self.what} archive is a {kind}; none are allowed")
        target = info.linkname
        if not target or len(target) > MAX_LINK_TARGET or "\x00" in target or _CONTROL.search(target):
            raise InvalidPackage(
                f"{shown(name)} in the {self.what} archive is a {kind} with an invalid target"
            )
        if target.startswith(("/", "\\")) or _DRIVE.match(target):
            raise InvalidPackage(
                f"{shown(name)} in the {self.what} archive is a {kind} to an absolute path {shown(target)}"
            )
        if info.issym():
            self.symlinks[name] = target
            return
        # A hard link names another member by its path in the archive, which must be a file already extracted.
        linked = target.removeprefix("./").rstrip("/")
        if linked not in self.files:
            raise InvalidPackage(
                f"{shown(name)} in the {self.what} archive is a hard link to {shown(target)}, "
                "which is not a regular file earlier in the archive"
            )
        self.files.add(name)

    def finish(self) -> None:
        """Resolve every symbolic link; refuse one that leaves the folder or loops."""
        for name in self.symlinks:
            self._resolve(name)

    def _resolve(self, name: str) -> None:
        target = self.symlinks[name]
        pending = [*reversed(target.split("/")), *reversed(name.split("/")[:-1])]
        current: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            self.steps += 1
            if self.steps > MAX_LINK_STEPS:
                raise InvalidPackage(
                    f"the {self.what} archive's symbolic links take more than {MAX_LINK_STEPS} steps to resolve"
                )
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    raise InvalidPackage(
                        f"{shown(name)} in the {self.what} archive is a symbolic link to {shown(target)}, "
                        "which resolves outside the package"
                    )
                current.pop()
                continue
            current.append(part)
            link = self.symlinks.get("/".join(current))
            if link is not None:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise InvalidPackage(
                        f"{shown(name)} in the {self.what} archive is a symbolic link that loops "
                        f"(more than {MAX_SYMLINK_HOPS} links deep)"
                    )
                current.pop()
                pending.extend(reversed(link.split("/")))


def _decompress(fileobj: IO[bytes], compression: Compression) -> IO[bytes]:
    if compression == "bz2":
        return bz2.BZ2File(fileobj)
    if compression == "gz":
        return cast(IO[bytes], gzip.GzipFile(fileobj=fileobj, mode="rb"))
    reader = zstandard.ZstdDecompressor().stream_reader(fileobj, read_across_frames=True, closefd=False)
    return cast(IO[bytes], reader)


def _drain(stream: IO[bytes], budget: int, what: str) -> None:
    total = 0
    while chunk := stream.read(1 << 20):
        total += len(chunk)
        if total > budget:
            raise InvalidPackage(f"the {what} archive expands to more than {budget} bytes")


def _describe(exc: BaseException) -> str:
    return shown(str(exc) or type(exc).__name__, 200)


def open_zip(fileobj: IO[bytes], what: str) -> zipfile.ZipFile:
    """Open a zip archive, refusing hostile or duplicate member names up front."""
    try:
        archive = zipfile.ZipFile(fileobj)
        names = [info.filename for info in archive.infolist()]
    except ARCHIVE_ERRORS as exc:
        raise InvalidPackage(f"not a valid {what} archive: {_describe(exc)}") from exc
    seen: set[str] = set()
    for name in names:
        check_member_name(name, what)
        if name in seen:
            archive.close()
            raise InvalidPackage(f"{shown(name)} appears more than once in the archive")
        seen.add(name)
    return archive


def check_zip_modes(archive: zipfile.ZipFile, what: str) -> None:
    """Refuse zip members whose unix mode (Info-ZIP's external attributes) makes them links, devices or FIFOs:
    unzip and R's own unzip would create those as such."""
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            label = "a symbolic link" if stat.S_ISLNK(mode) else "a device, FIFO or socket"
            raise InvalidPackage(f"{shown(info.filename)} in the {what} archive is {label}; none are allowed")


def read_zip_member(archive: zipfile.ZipFile, name: str, what: str, limit: int = MAX_METADATA_BYTES) -> bytes:
    """Read one member without trusting the sizes its headers claim; links and folders are refused."""
    try:
        with open_zip_member(archive, name, what) as member:
            return bounded_read(member, name, limit)
    except InvalidPackage:
        raise
    except ARCHIVE_ERRORS as exc:
        raise InvalidPackage(f"not a valid {what} archive: {_describe(exc)}") from exc


def open_zip_member(archive: zipfile.ZipFile, name: str, what: str) -> IO[bytes]:
    """Open one member for streaming; errors while reading it are the caller's to convert."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InvalidPackage(f"no {name} in the archive") from None
    if stat.S_ISLNK(info.external_attr >> 16):
        raise InvalidPackage(f"{name} is a symbolic link")
    if info.is_dir():
        raise InvalidPackage(f"{name} is not a regular file")
    if info.flag_bits & 0x1:
        raise InvalidPackage(f"{name} is encrypted")
    try:
        return archive.open(info)
    except ARCHIVE_ERRORS as exc:
        raise InvalidPackage(f"not a valid {what} archive: {_describe(exc)}") from exc


# --- values we hand to the database -----------------------------------------------------------------------------


def check_storable(value: Any, what: str) -> None:
    """Refuse strings PostgreSQL and JSON encoders reject (NUL, lone surrogates), anywhere inside `value`.

    Iterative, since JSON from an upload can nest as deep as the parser's recursion limit allows.
    """
    pending: list[tuple[Any, str]] = [(value, what)]
    while pending:
        item, label = pending.pop()
        if isinstance(item, str):
            _check_text(item, label)
        elif isinstance(item, dict):
            pending.extend((key, label) for key in item)
            pending.extend((child, f"{label}[{shown(key)}]") for key, child in item.items())
        elif isinstance(item, list | tuple):
            pending.extend((child, label) for child in item)


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise InvalidPackage(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPackage(f"{what} is not valid Unicode text") from None


def shown(value: object, limit: int = 80) -> str:
    """An untrusted value made safe to echo in an error message: printable, valid UTF-8 and short."""
    text = value if isinstance(value, str) and value.isprintable() and value.isascii() else None
    if text is None:
        text = repr(value).encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checked(artifact: Artifact) -> Artifact:
    """Return `artifact` after making sure every text in it can be stored; parsers end with this."""
    check_basename(artifact.basename)
    for name in ("name", "version", "summary", "description", "license", "home", "attrs", "dependencies"):
        check_storable(getattr(artifact, name), name)
    return artifact


ArchiveKind = Literal["zip", "bz2", "gz"]


def member_names(path: Path, kind: ArchiveKind) -> Generator[str, None, None]:
    """Member names of a zip or compressed tarball, lazily, for sniffing a file's type; stop when you like."""
    with path.open("rb") as raw:
        if kind == "zip":
            with open_zip(raw, kind) as archive:
                yield from archive.namelist()
            return
        budget = expansion_budget(path.stat().st_size)
        yield from (entry.name for entry in iter_tar(raw, kind, what=kind, budget=budget))
