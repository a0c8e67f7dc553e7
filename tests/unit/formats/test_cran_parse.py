"""CRAN parser: R's DCF rules and encodings, source and binary packages, and what we refuse."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from packyard.core.artifacts import InvalidPackage
from packyard.formats.cran.parse import parse, parse_description, sniff, split_dependencies
from tests.builders import Member, build_r_binary, build_r_source, rewrite_zip, tar_bytes, write_zip


def refused(path: Path, basename: str | None = None) -> str:
    with pytest.raises(InvalidPackage) as excinfo:
        parse(path, path.name if basename is None else basename)
    return str(excinfo.value)


def write_tarball(path: Path, members: list) -> Path:
    path.write_bytes(gzip.compress(tar_bytes(members)))
    return path


# --- source packages ----------------------------------------------------------------------------------------


def test_source_package(tmp_path: Path) -> None:
    path = build_r_source(tmp_path, depends=["R (>= 4.1)", "methods"], imports=["utils", "stats (>= 4.0)"])
    artifact = parse(path, path.name)
    assert (artifact.package_type, artifact.name, artifact.version) == ("r", "demoR", "1.0")
    assert artifact.basename == "demoR_1.0.tar.gz"
    assert artifact.summary == "A Demonstration Package for the Packyard Test Suite"
    assert artifact.description == (
        "A tiny package packed by tests/builders.py. Its description\n    runs over two lines,\n\n"
        "    and has a paragraph break written the DCF way."
    )
    assert (artifact.license, artifact.home) == ("GPL-3", "https://example.org/demoR")
    assert artifact.dependencies == {
        "depends": ["R (>= 4.1)", "methods"],
        "imports": ["utils", "stats (>= 4.0)"],
        "linkingto": [],
        "suggests": [],
    }
    assert artifact.attrs["type"] == "source"
    assert artifact.attrs["Package"] == "demoR"
    assert artifact.attrs["Imports"] == "utils,\nstats (>= 4.0)"
    assert list(artifact.attrs)[:4] == ["Package", "Type", "Title", "Version"]
    assert "r_version" not in artifact.attrs


@pytest.mark.parametrize(("with_src", "expected"), [(False, "no"), (True, "yes")])
def test_needs_compilation_filled_in_as_write_packages_does(
    tmp_path: Path, with_src: bool, expected: str
) -> None:
    path = build_r_source(tmp_path, with_src=with_src, description_overrides={"NeedsCompilation": None})
    assert parse(path, path.name).attrs["NeedsCompilation"] == expected


def test_needs_compilation_as_written_is_kept(tmp_path: Path) -> None:
    path = build_r_source(tmp_path, with_src=True)
    assert parse(path, path.name).attrs["NeedsCompilation"] == "no"


@pytest.mark.parametrize(
    ("encoding", "declared", "author"),
    [
        ("latin1", "latin1", "Zoë Ångström"),
        ("latin1", "ISO-8859-1", "Zoë Ångström"),
        ("latin1", "LATIN1", "Zoë Ångström"),
        ("latin2", "latin2", "Zoë Dvořák"),
        ("latin2", "iso-8859-2", "Łukasz Dvořák"),
        ("UTF-8", "UTF-8", "Zoë 李"),
        ("UTF-8", "utf8", "Zoë 李"),
    ],
)
def test_declared_encodings(tmp_path: Path, encoding: str, declared: str, author: str) -> None:
    path = build_r_source(
        tmp_path, encoding=encoding, author=author, description_overrides={"Encoding": declared}
    )
    assert parse(path, path.name).attrs["Author"] == author


@pytest.mark.parametrize(("encoding", "author"), [("UTF-8", "Zoë 李"), ("latin1", "Zoë Ångström")])
def test_no_encoding_field_tries_utf8_then_latin1(tmp_path: Path, encoding: str, author: str) -> None:
    path = build_r_source(
        tmp_path, encoding=encoding, author=author, description_overrides={"Encoding": None}
    )
    assert parse(path, path.name).attrs["Author"] == author


def test_unknown_encoding(tmp_path: Path) -> None:
    path = build_r_source(tmp_path, description_overrides={"Encoding": "KOI8-R"})
    assert refused(path) == "DESCRIPTION declares an unknown encoding 'KOI8-R'"


def test_bytes_not_in_the_declared_encoding(tmp_path: Path) -> None:
    path = build_r_source(
        tmp_path, encoding="latin1", author="Zoë", description_overrides={"Encoding": "UTF-8"}
    )
    assert refused(path) == "DESCRIPTION is not valid UTF-8 text, as its Encoding field says"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Package": "otherR"}, "DESCRIPTION says Package otherR but the file name says demoR"),
        ({"Version": "1.0-1"}, "DESCRIPTION says Version 1.0-1 but the file name says 1.0"),
        ({"Version": None}, "DESCRIPTION has no Version field"),
        ({"Built": "R 4.4.1; ; 2024-07-01; unix"}, "is an installed (binary) package"),
    ],
)
def test_description_disagreeing_with_file_name(tmp_path: Path, overrides: dict, message: str) -> None:
    assert message in refused(build_r_source(tmp_path, description_overrides=overrides))


def test_missing_description(tmp_path: Path) -> None:
    assert refused(build_r_source(tmp_path, omit_description=True)) == "no demoR/DESCRIPTION in the archive"


def test_missing_namespace(tmp_path: Path) -> None:
    path = write_tarball(
        tmp_path / "demoR_1.0.tar.gz", [("demoR/DESCRIPTION", b"Package: demoR\nVersion: 1.0\n")]
    )
    assert refused(path) == "no demoR/NAMESPACE in the archive"


def test_description_of_another_folder_does_not_count(tmp_path: Path) -> None:
    members = [("other/DESCRIPTION", b"Package: demoR\nVersion: 1.0\n"), ("other/NAMESPACE", b"")]
    assert (
        refused(write_tarball(tmp_path / "demoR_1.0.tar.gz", members))
        == "no demoR/DESCRIPTION in the archive"
    )


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (Member("../x", b"x"), "member name with '..'"),
        (Member("/abs", b"x"), "absolute member name"),
        (
            Member("demoR/DESCRIPTION", kind="symlink", target="/etc/passwd"),
            "demoR/DESCRIPTION is a symbolic link",
        ),
        (
            Member("demoR/DESCRIPTION", kind="hardlink", target="demoR/NAMESPACE"),
            "demoR/DESCRIPTION is a hard link",
        ),
    ],
)
def test_hostile_members(tmp_path: Path, member: Member, message: str) -> None:
    members = [member, ("demoR/DESCRIPTION", b"Package: demoR\nVersion: 1.0\n"), ("demoR/NAMESPACE", b"")]
    assert message in refused(write_tarball(tmp_path / "demoR_1.0.tar.gz", members))


def test_duplicate_description(tmp_path: Path) -> None:
    description = ("demoR/DESCRIPTION", b"Package: demoR\nVersion: 1.0\n")
    path = write_tarball(tmp_path / "demoR_1.0.tar.gz", [description, description, ("demoR/NAMESPACE", b"")])
    assert refused(path) == "demoR/DESCRIPTION appears more than once in the archive"


def test_truncated_tarball(tmp_path: Path) -> None:
    path = build_r_source(tmp_path)
    path.write_bytes(path.read_bytes()[:-20])
    assert refused(path).startswith("not a valid .tar.gz archive: ")


@pytest.mark.parametrize(
    "content",
    [b"", b"plain text, not gzip", gzip.compress(b"gzip, but not a tar" * 50, mtime=0)],
    ids=["empty", "text", "gzip-not-tar"],
)
def test_not_a_tarball(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "demoR_1.0.tar.gz"
    path.write_bytes(content)
    assert refused(path).startswith("not a valid .tar.gz archive: ")


@pytest.mark.parametrize(
    ("basename", "message"),
    [
        ("demoR-1.0.tar.gz", "NAME_VERSION.tar.gz"),
        ("demoR_1.0.tar.bz2", "NAME_VERSION.tar.gz"),
        ("demoR_v1.tar.gz", "NAME_VERSION.tar.gz"),
        ("d_1.0.tar.gz", "NAME_VERSION.tar.gz"),
        ("src/contrib/demoR_1.0.tar.gz", "at most one folder"),
        ("contrib/demoR_1.0.tar.gz", "NAME_VERSION.tar.gz"),
        ("..", "'.' or '..'"),
    ],
)
def test_bad_basenames(tmp_path: Path, basename: str, message: str) -> None:
    assert message in refused(build_r_source(tmp_path), basename)


# --- binary packages ----------------------------------------------------------------------------------------


def test_windows_binary(tmp_path: Path) -> None:
    path = build_r_binary(tmp_path, r_version="4.4", platform="windows", arch="x86_64-w64-mingw32")
    artifact = parse(path, path.name)
    assert (artifact.name, artifact.version, artifact.basename) == ("demoR", "1.0", "demoR_1.0.zip")
    assert artifact.attrs["type"] == "win.binary"
    assert (artifact.attrs["r_version"], artifact.attrs["platform"]) == ("4.4", "x86_64-w64-mingw32")
    assert artifact.attrs["Built"].startswith("R 4.4.1;")


@pytest.mark.parametrize("arch", ["aarch64-apple-darwin20", "x86_64-apple-darwin20", ""])
def test_macos_binary(tmp_path: Path, arch: str) -> None:
    path = build_r_binary(tmp_path, r_version="4.5", platform="macos", arch=arch)
    attrs = parse(path, path.name).attrs
    assert (attrs["type"], attrs["r_version"], attrs["platform"]) == ("mac.binary", "4.5", arch)


@pytest.mark.parametrize(
    ("platform", "built", "message"),
    [
        ("windows", None, "must be an installed (binary) package with a Built field"),
        ("windows", "R 4.4.1; x86_64-pc-linux-gnu; 2024-07-01; unix", "must be built for Windows"),
        ("macos", "R 4.4.1; x86_64-w64-mingw32; 2024-07-01; windows", "must be built for macOS"),
        ("macos", "R 4.4.1; x86_64-pc-linux-gnu; 2024-07-01; unix", "must be built for macOS"),
        ("macos", "built yesterday", "malformed Built field"),
    ],
)
def test_binary_built_field_checked(tmp_path: Path, platform: str, built: str | None, message: str) -> None:
    path = build_r_binary(tmp_path, platform=platform, description_overrides={"Built": built})
    assert message in refused(path)


def test_windows_binary_missing_description(tmp_path: Path) -> None:
    path = build_r_binary(tmp_path)
    rewrite_zip(path, drop=["demoR/DESCRIPTION"])
    assert refused(path) == "no demoR/DESCRIPTION in the archive"


def test_windows_binary_symlinked_description(tmp_path: Path) -> None:
    members = [Member("demoR/DESCRIPTION", kind="symlink", target="/etc/passwd"), ("demoR/NAMESPACE", b"")]
    assert (
        refused(write_zip(tmp_path / "demoR_1.0.zip", members))
        == "demoR/DESCRIPTION in the .zip R package archive is a symbolic link; none are allowed"
    )


# --- DCF rules ----------------------------------------------------------------------------------------------


def test_dcf_continuations_dots_and_kept_whitespace() -> None:
    fields = parse_description(
        b"Package: demoR\r\n"
        b"Title:   Spaces   Around   \r\n"
        b"Depends: R (>= 4.0),\n"
        b"    utils\n"
        b"Description: First line.\n"
        b"      Indented more.\n"
        b"    .\n"
        b"    After a blank line.\n"
        b"Version: 1.0\n"
        b"Version: 1.1\n"
        b"\n\n"
    )
    assert fields == {
        "Package": "demoR",
        "Title": "Spaces   Around",
        "Depends": "R (>= 4.0),\nutils",
        "Description": "First line.\n      Indented more.\n\n    After a blank line.",
        "Version": "1.1",
    }


def test_dcf_field_order_is_file_order() -> None:
    assert list(parse_description(b"B: 1\nA: 2\nC: 3\n")) == ["B", "A", "C"]


def test_dcf_utf8_bom_is_ignored() -> None:
    assert parse_description("\ufeffPackage: demoR\n".encode()) == {"Package": "demoR"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"Package: demoR\nno colon here\n", "malformed line"),
        (b"  leading continuation\nPackage: demoR\n", "continuation line outside a field"),
        (b"Package: demoR\n\nVersion: 1.0\n", "must be a single record"),
        (b"Package: demoR\n\n  continued after blank\n", "continuation line outside a field"),
        (b"# comment\nPackage: demoR\n", "malformed line"),
    ],
)
def test_dcf_malformed(text: bytes, message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        parse_description(text)


def test_latin1_text_with_a_next_line_byte_is_not_split() -> None:
    """0x85 is U+0085 in latin-1, which str.splitlines() would treat as a line break."""
    assert parse_description(b"Encoding: latin1\nAuthor: a\x85b\n")["Author"] == "a\x85b"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("R (>= 4.1), utils", ["R (>= 4.1)", "utils"]),
        ("a,\n  b (>=\n 2.0),", ["a", "b (>= 2.0)"]),
    ],
)
def test_split_dependencies(value: str | None, expected: list[str]) -> None:
    assert split_dependencies(value) == expected


def test_sniff(tmp_path: Path) -> None:
    source, win, mac = (
        build_r_source(tmp_path),
        build_r_binary(tmp_path),
        build_r_binary(tmp_path, platform="macos"),
    )
    assert all(sniff(p, p.name) for p in (source, win, mac))
    no_namespace = write_tarball(tmp_path / "x_1.0.tar.gz", [("x/DESCRIPTION", b"Package: x\n")])
    assert not sniff(no_namespace, no_namespace.name)
    assert not sniff(source, "demoR_1.0.tar.bz2")
