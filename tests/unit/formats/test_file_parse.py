"""file parser: the uploader names and versions the file, and those names must be safe in URLs and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from packyard.core.artifacts import InvalidPackage
from packyard.formats.file.parse import parse


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01 any bytes at all")
    return path


def test_plain_file(blob: Path) -> None:
    artifact = parse(blob, "data.bin", name="my-data", version="2024.1", summary="  Some data  ")
    assert (artifact.package_type, artifact.name, artifact.version) == ("file", "my-data", "2024.1")
    assert (artifact.basename, artifact.summary) == ("data.bin", "Some data")
    assert (artifact.attrs, artifact.dependencies, artifact.extra_files) == ({}, None, {})


@pytest.mark.parametrize("summary", [None, "", "   "])
def test_summary_is_optional(blob: Path, summary: str | None) -> None:
    assert parse(blob, "data.bin", name="d", version="1", summary=summary).summary is None


def test_one_folder_is_allowed(blob: Path) -> None:
    assert parse(blob, "docs/data.bin", name="d", version="1").basename == "docs/data.bin"


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        (None, "1.0", "needs a package name"),
        ("", "1.0", "needs a package name"),
        ("data", None, "needs a version"),
        ("data", "", "needs a version"),
        (".hidden", "1.0", "invalid package name"),
        ("-flag", "1.0", "invalid package name"),
        ("a/b", "1.0", "invalid package name"),
        ("a b", "1.0", "invalid package name"),
        ("x" * 101, "1.0", "invalid package name"),
        ("dätä", "1.0", "invalid package name"),
        ("data", "1 0", "invalid version"),
        ("data", "1/0", "invalid version"),
        ("data", "1\\0", "invalid version"),
        ("data", "1\x00", "invalid version"),
        ("data", "..", "invalid version"),
        ("data", "1" * 101, "invalid version"),
    ],
)
def test_invalid_names_and_versions(blob: Path, name: str | None, version: str | None, message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        parse(blob, "data.bin", name=name, version=version)


@pytest.mark.parametrize(
    "basename",
    ["", "../data.bin", "/etc/passwd", "a/b/c.bin", "nul\x00.bin", "back\\slash.bin", "./data.bin"],
)
def test_bad_basenames(blob: Path, basename: str) -> None:
    with pytest.raises(InvalidPackage):
        parse(blob, basename, name="data", version="1.0")


def test_valid_names(blob: Path) -> None:
    for name in ("a", "A1", "9lives", "my_data.v2-final", "x" * 100):
        assert parse(blob, "data.bin", name=name, version="1.0+local.7").name == name
