"""conda parser: both archive formats, what it keeps from info/, and every way an upload can be refused."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from packyard.core.artifacts import InvalidPackage
from packyard.formats import base
from packyard.formats.conda.parse import parse, sniff
from tests import builders
from tests.builders import Member, build_conda, rewrite_zip

FORMATS = ["tar.bz2", "conda"]


@pytest.fixture(scope="module")
def conda_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return builders.build_conda_bomb(tmp_path_factory.mktemp("bomb"))


def refused(path: Path, basename: str | None = None) -> str:
    with pytest.raises(InvalidPackage) as excinfo:
        parse(path, path.name if basename is None else basename)
    return str(excinfo.value)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("subdir", ["noarch", "linux-64"])
def test_parses_both_formats_and_subdirs(tmp_path: Path, fmt: str, subdir: str) -> None:
    path = build_conda(tmp_path, subdir=subdir, fmt=fmt, depends=["python >=3.9", "zlib"])
    artifact = parse(path, f"{subdir}/{path.name}")
    assert (artifact.package_type, artifact.name, artifact.version) == ("conda", "demo", "1.0")
    assert artifact.basename == f"{subdir}/demo-1.0-0.{fmt}"
    assert artifact.summary == "The demo demonstration package"
    assert artifact.description.startswith("demo is built")
    assert artifact.license == "BSD-3-Clause"
    assert artifact.home == "https://example.org/demo"
    assert artifact.dependencies == {"depends": ["python >=3.9", "zlib"]}
    assert artifact.attrs["subdir"] == subdir
    assert artifact.attrs["build_number"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_bare_basename_gets_subdir_from_index(tmp_path: Path, fmt: str) -> None:
    path = build_conda(tmp_path, subdir="osx-arm64", fmt=fmt)
    assert parse(path, path.name).basename == f"osx-arm64/{path.name}"


def test_attrs_keep_every_index_key(tmp_path: Path) -> None:
    extra = {"track_features": "debug", "constrains": ["foo <2"], "purls": ["pkg:pypi/demo"], "timestamp": 12}
    path = build_conda(tmp_path, noarch="python", index_overrides=extra)
    attrs = parse(path, path.name).attrs
    assert {k: attrs[k] for k in extra} == extra
    assert attrs["noarch"] == "python"
    assert {"arch", "platform", "license", "depends", "build"} <= attrs.keys()
    assert "run_exports" not in attrs


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("run_exports", "expected"),
    [
        (["demo >=1.0,<2"], {"weak": ["demo >=1.0,<2"]}),
        (
            {"strong": ["libdemo >=1"], "weak_constrains": ["x"]},
            {"strong": ["libdemo >=1"], "weak_constrains": ["x"]},
        ),
    ],
)
def test_run_exports_list_and_dict_forms(
    tmp_path: Path, fmt: str, run_exports: object, expected: object
) -> None:
    path = build_conda(tmp_path, fmt=fmt, run_exports=run_exports)
    assert parse(path, path.name).attrs["run_exports"] == expected


def test_run_exports_of_the_wrong_shape(tmp_path: Path) -> None:
    path = build_conda(tmp_path, extra_members=[("info/run_exports.json", b'{"weak": "not-a-list"}')])
    assert "run_exports.json must hold" in refused(path)


def test_without_about_json_license_comes_from_index(tmp_path: Path) -> None:
    path = build_conda(tmp_path, omit=["info/about.json"])
    artifact = parse(path, path.name)
    assert (artifact.summary, artifact.description, artifact.home) == (None, None, None)
    assert artifact.license == "BSD-3-Clause"


def test_home_falls_back_to_dev_url(tmp_path: Path) -> None:
    path = build_conda(tmp_path, about={"summary": "s", "dev_url": "https://dev.example.org", "home": ""})
    assert parse(path, path.name).home == "https://dev.example.org"


def test_about_json_must_be_an_object(tmp_path: Path) -> None:
    path = build_conda(tmp_path, extra_members=[("info/about.json", b"[1, 2]")])
    assert "about.json must hold a JSON object" in refused(path)


def test_name_version_summary_arguments_are_ignored(tmp_path: Path) -> None:
    path = build_conda(tmp_path)
    artifact = parse(path, path.name, name="evil", version="6.6", summary="lies")
    assert (artifact.name, artifact.version, artifact.summary) == (
        "demo",
        "1.0",
        "The demo demonstration package",
    )


# --- index.json against the file name -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"name": "other"}, "info/index.json says name other but the file name says demo"),
        ({"version": "1.1"}, "info/index.json says version 1.1 but the file name says 1.0"),
        ({"build": "py_1"}, "info/index.json says build py_1 but the file name says 0"),
    ],
)
def test_index_disagreeing_with_file_name(tmp_path: Path, fmt: str, override: dict, message: str) -> None:
    path = build_conda(tmp_path, fmt=fmt, index_overrides=override)
    assert refused(path) == message


def test_index_subdir_disagreeing_with_folder(tmp_path: Path) -> None:
    path = build_conda(tmp_path, subdir="noarch")
    assert refused(path, f"linux-64/{path.name}") == (
        "info/index.json says subdir noarch but the file name says linux-64"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"name": None}, "must give name as a non-empty string"),
        ({"subdir": None}, "must give subdir as a non-empty string"),
        ({"version": 1.0}, "must give version as a non-empty string"),
        ({"build_number": None}, "build_number as a non-negative integer"),
        ({"build_number": "3"}, "build_number as a non-negative integer"),
        ({"build_number": True}, "build_number as a non-negative integer"),
        ({"depends": "python"}, "depends as a list of strings"),
        ({"constrains": [1]}, "constrains as a list of strings"),
        ({"subdir": "../etc"}, "invalid subdir"),
        ({"name": "de mo"}, "invalid name 'de mo'"),
        ({"version": "1.0 || 2"}, "invalid version"),
        ({"build": "py#1"}, "invalid build"),
    ],
)
def test_index_fields_are_validated(tmp_path: Path, override: dict, message: str) -> None:
    assert message in refused(build_conda(tmp_path, index_overrides=override))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[]", "must hold a JSON object"),
        (b'{"name": ', "is not valid JSON"),
        (b'{"build_number": NaN}', "is not valid JSON"),
        (b'{"build_number": 0, "x": 1e999}', "out of range"),
        (b'{"build_number": 1' + b"0" * 30 + b"}", "out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
    ],
    ids=["array", "cut-short", "nan", "infinite-float", "huge-int", "deeply-nested", "not-text"],
)
def test_index_json_that_is_not_a_json_object(tmp_path: Path, content: bytes, message: str) -> None:
    assert message in refused(build_conda(tmp_path, extra_members=[("info/index.json", content)]))


def test_missing_index_json(tmp_path: Path) -> None:
    assert refused(build_conda(tmp_path, omit=["info/index.json"])) == "the package has no info/index.json"


@pytest.mark.parametrize(
    ("about", "message"),
    [({"summary": "nul\x00here"}, "contains a NUL character"), ({"summary": "\ud800"}, "not valid Unicode")],
)
def test_text_the_database_cannot_store(tmp_path: Path, about: dict, message: str) -> None:
    assert message in refused(build_conda(tmp_path, about=about))


# --- file names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basename", "message"),
    [
        ("demo-1.0-0.tar.gz", "must end in .tar.bz2 or .conda"),
        ("demo-1.0.tar.bz2", "is not NAME-VERSION-BUILD.tar.bz2"),
        ("-1.0-0.conda", "is not NAME-VERSION-BUILD.conda"),
        ("../demo-1.0-0.tar.bz2", "'.' or '..'"),
        ("linux-64/../demo-1.0-0.tar.bz2", "normalised"),
        ("demo-1.0-0\x00.tar.bz2", "NUL"),
        ("/linux-64/demo-1.0-0.tar.bz2", "normalised"),
        ("a/linux-64/demo-1.0-0.tar.bz2", "at most one folder"),
        ("", "1 to 512"),
    ],
)
def test_bad_basenames(tmp_path: Path, basename: str, message: str) -> None:
    assert message in refused(build_conda(tmp_path), basename)


# --- .conda structure ---------------------------------------------------------------------------------------


def test_dot_conda_without_info_tarball(tmp_path: Path) -> None:
    path = build_conda(tmp_path, fmt="conda")
    rewrite_zip(path, drop=["info-demo-1.0-0.tar.zst"])
    assert refused(path) == "the .conda archive has no info-*.tar.zst member"


def test_dot_conda_without_pkg_tarball(tmp_path: Path) -> None:
    path = build_conda(tmp_path, fmt="conda")
    rewrite_zip(path, drop=["pkg-demo-1.0-0.tar.zst"])
    assert refused(path) == "the .conda archive has no pkg-demo-1.0-0.tar.zst member"


def test_renamed_dot_conda_is_refused(tmp_path: Path) -> None:
    """conda looks the info member up by the file's stem, so a renamed .conda would not install."""
    path = build_conda(tmp_path, fmt="conda", index_overrides={"version": "2.0"})
    renamed = path.rename(tmp_path / "demo-2.0-0.conda")
    assert "needs info-demo-2.0-0.tar.zst" in refused(renamed)


def test_dot_conda_info_member_that_is_not_zstd(tmp_path: Path) -> None:
    path = build_conda(tmp_path, fmt="conda")
    rewrite_zip(path, drop=["info-demo-1.0-0.tar.zst"], add=[("info-demo-1.0-0.tar.zst", b"not zstd at all")])
    assert "info-demo-1.0-0.tar.zst in the .conda archive is not zstd-compressed" in refused(path)


# --- hostile and damaged archives ---------------------------------------------------------------------------


INFO_HOSTILE = [
    (Member("info/../../x", b"x"), "member name with '..'"),
    (Member("info/index.json", kind="symlink", target="/etc/passwd"), "info/index.json is a symbolic link"),
    (Member("info/index.json", kind="hardlink", target="info/paths.json"), "info/index.json is a hard link"),
    (Member("info/index.json", kind="dir"), "info/index.json is not a regular file"),
    (Member("info/index.json", kind="fifo"), "info/index.json is not a regular file"),
    (
        Member("info/about.json", kind="symlink", target="../../about.json"),
        "info/about.json is a symbolic link",
    ),
]
PKG_HOSTILE = [
    (Member("../x", b"x"), "member name with '..'"),
    (Member("/etc/passwd", b"x"), "absolute member name"),
    (Member("C:/Windows/evil.dll", b"x"), "absolute member name"),
    (Member("lib/..\\..\\evil", b"x"), "member name with '..'"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("member", "message"), INFO_HOSTILE)
def test_hostile_info_members(tmp_path: Path, fmt: str, member: Member, message: str) -> None:
    assert message in refused(build_conda(tmp_path, fmt=fmt, extra_members=[member]))


@pytest.mark.parametrize(("member", "message"), PKG_HOSTILE)
def test_hostile_members_anywhere_in_a_tar_bz2(tmp_path: Path, member: Member, message: str) -> None:
    """A .tar.bz2 is walked whole (index.json may come last), so every member name is checked."""
    assert message in refused(build_conda(tmp_path, extra_members=[member]))


def test_symlinks_outside_info_are_fine(tmp_path: Path) -> None:
    path = build_conda(
        tmp_path, extra_members=[Member("lib/libdemo.so", kind="symlink", target="libdemo.so.1")]
    )
    assert parse(path, path.name).name == "demo"


def test_duplicate_index_json(tmp_path: Path) -> None:
    index = json.dumps(
        {"name": "demo", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch"}
    )
    path = build_conda(tmp_path, extra_members=[("info/index.json", index.encode())] * 2)
    assert refused(path) == "info/index.json appears more than once in the archive"


def test_oversized_pax_header(tmp_path: Path) -> None:
    path = build_conda(tmp_path, extra_members=[("x" * 70_000, b"")])
    assert "extension header is larger than" in refused(path)


@pytest.mark.parametrize(("fmt", "cut", "message"), [("tar.bz2", 2, ".tar.bz2"), ("conda", 2, ".conda")])
def test_truncated_archive(tmp_path: Path, fmt: str, cut: int, message: str) -> None:
    path = build_conda(tmp_path, fmt=fmt, files={"big.bin": bytes(range(256)) * 4000})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // cut])
    assert refused(path).startswith(f"not a valid {message} archive: ")


def test_truncated_info_tarball_inside_a_dot_conda(tmp_path: Path) -> None:
    path = build_conda(tmp_path, fmt="conda")
    with zipfile.ZipFile(path) as archive:
        info = archive.read("info-demo-1.0-0.tar.zst")
    rewrite_zip(
        path, drop=["info-demo-1.0-0.tar.zst"], add=[("info-demo-1.0-0.tar.zst", info[: len(info) // 2])]
    )
    assert refused(path).startswith("not a valid info-demo-1.0-0.tar.zst archive: ")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "content", [b"", b"hello world\n" * 100, b"BZh91AY&SY garbage"], ids=["empty", "text", "bad-bzip2"]
)
def test_not_an_archive(tmp_path: Path, fmt: str, content: bytes) -> None:
    path = tmp_path / f"demo-1.0-0.{fmt}"
    path.write_bytes(content)
    assert refused(path).startswith(f"not a valid .{fmt} archive: ")


def test_two_gib_bomb_is_refused_fast(conda_bomb: Path) -> None:
    start = time.monotonic()
    message = refused(conda_bomb)
    assert message == f"info/index.json is larger than {base.MAX_METADATA_BYTES} bytes once decompressed"
    assert time.monotonic() - start < 5


def test_archive_expanding_past_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "MIN_EXPANSION_BYTES", 1 << 20)
    path = build_conda(tmp_path, files={"zeros.bin": bytes(4 << 20)})
    assert "archive expands to more than" in refused(path)


# --- sniffing -----------------------------------------------------------------------------------------------


def test_sniff(tmp_path: Path) -> None:
    tarball, dot_conda = build_conda(tmp_path), build_conda(tmp_path, fmt="conda")
    assert sniff(tarball, tarball.name) and sniff(dot_conda, dot_conda.name)
    no_index = build_conda(tmp_path / "..", name="other", omit=["info/index.json"])
    assert not sniff(no_index, no_index.name)
    broken = tmp_path / "broken-1.0-0.tar.bz2"
    broken.write_bytes(b"not bzip2")
    assert sniff(broken, broken.name)
    assert not sniff(tarball, "demo.tar.gz")
