"""PyPI parser: wheels and sdists, the metadata we keep for a PEP 503/691 index, and what we refuse."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from packyard.core.artifacts import InvalidPackage
from packyard.formats import base
from packyard.formats.pypi.parse import parse, sniff
from tests import builders
from tests.builders import Member, build_sdist, build_wheel, core_metadata, rewrite_zip, write_zip

INFO = "demo_pkg-1.0.dist-info"


@pytest.fixture(scope="module")
def wheel_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return builders.build_wheel_bomb(tmp_path_factory.mktemp("bomb"))


def refused(path: Path, basename: str | None = None) -> str:
    with pytest.raises(InvalidPackage) as excinfo:
        parse(path, path.name if basename is None else basename)
    return str(excinfo.value)


def replace_member(path: Path, name: str, data: bytes) -> Path:
    return rewrite_zip(path, drop=[name], add=[(name, data)])


# --- wheels -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metadata_version", ["2.1", "2.2", "2.4"])
def test_wheel(tmp_path: Path, metadata_version: str) -> None:
    path = build_wheel(
        tmp_path,
        requires_python=">=3.9",
        requires_dist=["requests>=2", "rich; extra == 'cli'"],
        metadata_version=metadata_version,
        metadata_overrides={"Provides-Extra": "cli"},
    )
    artifact = parse(path, path.name)
    assert (artifact.package_type, artifact.name, artifact.version) == ("pypi", "demo-pkg", "1.0")
    assert artifact.basename == "demo_pkg-1.0-py3-none-any.whl"
    assert artifact.summary == "The demo-pkg demonstration package"
    assert artifact.description == "demo-pkg is built by tests/builders.py.\n"
    assert (artifact.license, artifact.home) == ("MIT", "https://example.org/demo-pkg")
    core = artifact.attrs.pop("core")
    assert core["home_page"] == "https://example.org/demo-pkg"
    assert core["license"] == "MIT"
    assert core["metadata_version"] == metadata_version
    assert not {"name", "version", "description"} & set(core)
    assert artifact.attrs == {
        "packagetype": "bdist_wheel",
        "python_version": "py3",
        "abi": "none",
        "platform": "any",
        "metadata_version": metadata_version,
        "summary": "The demo-pkg demonstration package",
        "requires_python": ">=3.9",
        "requires_dist": ["requests>=2", "rich; extra == 'cli'"],
        "provides_extra": ["cli"],
        "yanked": False,
    }
    assert artifact.dependencies == {"depends": ["requests>=2", "rich; extra == 'cli'"]}
    with zipfile.ZipFile(path) as archive:
        assert artifact.extra_files == {"metadata": archive.read(f"{INFO}/METADATA")}


def test_wheel_name_as_written_and_version_normalised(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, name="Demo.Pkg", version="1.0.0-RC1")
    assert path.name == "demo_pkg-1.0.0rc1-py3-none-any.whl"
    artifact = parse(path, path.name)
    assert (artifact.name, artifact.version) == ("Demo.Pkg", "1.0.0rc1")


def test_wheel_tags_and_build_tag(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, tag="cp311-cp311-manylinux_2_17_x86_64")
    renamed = path.rename(tmp_path / "demo_pkg-1.0-2b-cp311-cp311-manylinux_2_17_x86_64.whl")
    attrs = parse(renamed, renamed.name).attrs
    assert (attrs["python_version"], attrs["abi"], attrs["platform"]) == (
        "cp311",
        "cp311",
        "manylinux_2_17_x86_64",
    )
    assert attrs["build_tag"] == "2b"


def test_home_from_project_urls(tmp_path: Path) -> None:
    overrides = {"Home-page": None, "Project-URL": ["Documentation, https://docs", "Home-Page, https://home"]}
    path = build_wheel(tmp_path, metadata_overrides=overrides)
    assert parse(path, path.name).home == "https://home"


def test_license_expression_wins(tmp_path: Path) -> None:
    path = build_wheel(
        tmp_path, metadata_version="2.4", metadata_overrides={"License-Expression": "Apache-2.0"}
    )
    assert parse(path, path.name).license == "Apache-2.0"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Name": "other"}, "METADATA says Name other but the file name says demo-pkg"),
        ({"Version": "1.1"}, "METADATA says Version 1.1 but the file name says 1.0"),
        ({"Version": None}, "METADATA has no single valid Version field"),
        ({"Name": None}, "METADATA has no single valid Name field"),
        ({"Name": ["demo-pkg", "demo-pkg"]}, "METADATA has no single valid Name field"),
        ({"Metadata-Version": None}, "METADATA has no single valid Metadata-Version field"),
        ({"Version": "not a version"}, "Invalid version"),
        ({"Metadata-Version": "two"}, "Metadata-Version two, which is not one of"),
        ({"Name": "-bad-"}, "METADATA"),
    ],
)
def test_wheel_metadata_disagreeing_or_broken(tmp_path: Path, overrides: dict, message: str) -> None:
    assert message in refused(build_wheel(tmp_path, metadata_overrides=overrides))


def test_wheel_metadata_not_utf8_is_tolerated_but_names_must_hold(tmp_path: Path) -> None:
    path = build_wheel(tmp_path)
    metadata = core_metadata("demo-pkg", "1.0", overrides={"Summary": "caf\xe9"}).replace(
        b"caf\xc3\xa9", b"caf\xe9"
    )
    replace_member(path, f"{INFO}/METADATA", metadata)
    assert parse(path, path.name).name == "demo-pkg"


@pytest.mark.parametrize("member", ["METADATA", "WHEEL"])
def test_wheel_missing_required_file(tmp_path: Path, member: str) -> None:
    assert refused(build_wheel(tmp_path, omit=[member])) == f"the wheel has no {INFO}/{member}"


@pytest.mark.parametrize(
    ("wheel_file", "message"),
    [
        (b"Generator: x\n", "has no Wheel-Version"),
        (b"Wheel-Version: 2.0\n", "Wheel-Version 2.0 is not supported"),
    ],
)
def test_wheel_file_checked(tmp_path: Path, wheel_file: bytes, message: str) -> None:
    path = replace_member(build_wheel(tmp_path), f"{INFO}/WHEEL", wheel_file)
    assert message in refused(path)


def test_wheel_without_dist_info(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "demo_pkg-1.0-py3-none-any.whl", [("demo_pkg/__init__.py", b"")])
    assert refused(path) == "the wheel has no .dist-info folder"


def test_wheel_with_two_dist_infos(tmp_path: Path) -> None:
    path = rewrite_zip(build_wheel(tmp_path), add=[("other-1.0.dist-info/METADATA", b"")])
    assert "several .dist-info folders" in refused(path)


def test_wheel_with_someone_elses_dist_info(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, name="other")
    renamed = path.rename(tmp_path / "demo_pkg-1.0-py3-none-any.whl")
    assert refused(renamed) == "the wheel's other-1.0.dist-info folder does not belong to demo-pkg"


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (Member("../evil.py", b"x"), "member name with '..'"),
        (Member("/etc/evil", b"x"), "absolute member name"),
        (Member("C:\\evil", b"x"), "absolute member name"),
    ],
)
def test_wheel_hostile_member_names(tmp_path: Path, member: Member, message: str) -> None:
    assert message in refused(rewrite_zip(build_wheel(tmp_path), add=[member]))


def test_wheel_symlinked_metadata(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, omit=["METADATA"])
    with zipfile.ZipFile(path) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    members.append(Member(f"{INFO}/METADATA", kind="symlink", target="/etc/passwd"))
    write_zip(path, members)
    assert refused(path) == f"{INFO}/METADATA is a symbolic link"


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_wheel_duplicate_member(tmp_path: Path) -> None:
    path = rewrite_zip(build_wheel(tmp_path), add=[(f"{INFO}/METADATA", b"Name: evil\n")])
    assert refused(path) == f"{INFO}/METADATA appears more than once in the archive"


def test_wheel_bomb_is_refused_fast(wheel_bomb: Path) -> None:
    start = time.monotonic()
    message = refused(wheel_bomb)
    assert (
        message
        == f"bomb-1.0.dist-info/METADATA is larger than {base.MAX_METADATA_BYTES} bytes once decompressed"
    )
    assert time.monotonic() - start < 5


def test_zip_headers_claiming_a_small_size_are_not_trusted(wheel_bomb: Path, tmp_path: Path) -> None:
    """The bomb's local and central headers lie (claim 100 bytes): reading stops, the CRC check fails."""
    data = bytearray(wheel_bomb.read_bytes())
    size = (2 << 30).to_bytes(4, "little")
    data = data.replace(size, (100).to_bytes(4, "little"))
    liar = tmp_path / wheel_bomb.name
    liar.write_bytes(bytes(data))
    assert "not a valid .whl archive" in refused(liar)


def test_truncated_wheel(tmp_path: Path) -> None:
    path = build_wheel(tmp_path)
    path.write_bytes(path.read_bytes()[:-30])
    assert refused(path).startswith("not a valid .whl archive: ")


def test_corrupted_member_data(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, metadata_overrides={"Description": "x" * 5000})
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{INFO}/METADATA")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    data[start : start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    assert refused(path).startswith("not a valid .whl archive: ")


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    path.write_bytes(b"this is not a zip file" * 10)
    assert refused(path).startswith("not a valid .whl archive: ")


# --- sdists -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
@pytest.mark.parametrize(("metadata_version", "has_metadata"), [("2.1", False), ("2.2", True), ("2.4", True)])
def test_sdist(tmp_path: Path, fmt: str, metadata_version: str, has_metadata: bool) -> None:
    path = build_sdist(tmp_path, metadata_version=metadata_version, requires_python=">=3.10", fmt=fmt)
    artifact = parse(path, path.name)
    assert (artifact.name, artifact.version, artifact.basename) == ("demo-pkg", "1.0", f"demo_pkg-1.0.{fmt}")
    assert artifact.attrs["packagetype"] == "sdist"
    assert artifact.attrs["python_version"] == "source"
    assert artifact.attrs["requires_python"] == ">=3.10"
    assert artifact.attrs["metadata_version"] == metadata_version
    assert ("metadata" in artifact.extra_files) is has_metadata
    if has_metadata:
        assert artifact.extra_files["metadata"].startswith(f"Metadata-Version: {metadata_version}\n".encode())


def test_legacy_sdist_name(tmp_path: Path) -> None:
    path = build_sdist(tmp_path, name="Demo.Pkg", version="2.0")
    legacy = path.rename(tmp_path / "Demo.Pkg-2.0.tar.gz")
    assert parse(legacy, legacy.name).name == "Demo.Pkg"


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_sdist_without_pkg_info(tmp_path: Path, fmt: str) -> None:
    path = build_sdist(tmp_path, fmt=fmt, omit_pkg_info=True)
    assert refused(path) == "the sdist has no demo_pkg-1.0/PKG-INFO"


def test_sdist_metadata_disagreeing(tmp_path: Path) -> None:
    path = build_sdist(tmp_path, metadata_overrides={"Version": "9.9"})
    assert refused(path) == "PKG-INFO says Version 9.9 but the file name says 1.0"


def test_sdist_hostile_member(tmp_path: Path) -> None:
    path = build_sdist(tmp_path)
    path.write_bytes(builders.gzip.compress(builders.tar_bytes([("../../etc/cron.d/x", b"x")])))
    assert "member name with '..'" in refused(path)


def test_sdist_not_gzip(tmp_path: Path) -> None:
    path = tmp_path / "demo_pkg-1.0.tar.gz"
    path.write_bytes(b"\x1f\x8b garbage")
    assert refused(path).startswith("not a valid .tar.gz archive: ")


# --- file names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basename", "message"),
    [
        ("demo_pkg-1.0.tar.bz2", "neither a wheel"),
        ("demo.whl", "invalid wheel file name"),
        ("demo_pkg-1.0-py3-none.whl", "invalid wheel file name"),
        ("demo_pkg.tar.gz", "invalid sdist file name"),
        ("linux-64/demo_pkg-1.0-py3-none-any.whl", "must not contain a folder"),
        ("../demo_pkg-1.0-py3-none-any.whl", "'.' or '..'"),
        ("demo\x00.whl", "NUL"),
    ],
)
def test_bad_basenames(tmp_path: Path, basename: str, message: str) -> None:
    assert message in refused(build_wheel(tmp_path), basename)


def test_sniff(tmp_path: Path) -> None:
    wheel, sdist, sdist_zip = build_wheel(tmp_path), build_sdist(tmp_path), build_sdist(tmp_path, fmt="zip")
    assert all(sniff(p, p.name) for p in (wheel, sdist, sdist_zip))
    no_pkg_info = build_sdist(tmp_path / "..", name="bare", omit_pkg_info=True)
    assert not sniff(no_pkg_info, no_pkg_info.name)
    assert not sniff(sdist, "demo.txt")
