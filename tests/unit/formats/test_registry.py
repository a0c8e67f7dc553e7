"""The format registry: type names and aliases anaconda-client sends, and detection of untyped uploads."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from packyard.core import formats as registry
from packyard.core.artifacts import Artifact, InvalidPackage
from packyard.formats.conda import parse as conda
from packyard.formats.cran import parse as cran
from packyard.formats.file import parse as file
from packyard.formats.pypi import parse as pypi
from tests.builders import build_conda, build_r_binary, build_r_source, build_sdist, build_wheel, tar_bytes


@pytest.mark.parametrize(
    ("distribution_type", "parser"),
    [
        ("conda", conda.parse),
        ("pypi", pypi.parse),
        ("PyPI", pypi.parse),
        ("standard_python", pypi.parse),
        ("r", cran.parse),
        ("cran", cran.parse),
        ("standard_r", cran.parse),
        ("file", file.parse),
    ],
)
def test_parser_for_names_and_aliases(distribution_type: str, parser: object) -> None:
    assert registry.parser_for(distribution_type) is parser


def test_spec_for_gives_the_canonical_type() -> None:
    assert registry.spec_for("standard_python").distribution_type == "pypi"
    assert registry.spec_for("cran").distribution_type == "r"


@pytest.mark.parametrize("distribution_type", ["notebook", "Conda", "", "egg"])
def test_unknown_type(distribution_type: str) -> None:
    with pytest.raises(InvalidPackage) as excinfo:
        registry.parser_for(distribution_type)
    assert str(excinfo.value) == (
        f"unknown package type {distribution_type!r}; expected one of conda, pypi, r, ipynb, env, project, file"
    )


def test_detect(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    cases = {
        build_conda(tmp_path): "conda",
        build_conda(tmp_path / "a", fmt="conda"): "conda",
        build_wheel(tmp_path): "pypi",
        build_sdist(tmp_path): "pypi",
        build_sdist(tmp_path / "a", fmt="zip"): "pypi",
        build_r_source(tmp_path): "r",
        build_r_binary(tmp_path): "r",
        build_r_binary(tmp_path, platform="macos"): "r",
    }
    for path, expected in cases.items():
        assert registry.detect(path, path.name) == expected, path.name
    for basename, expected in (("analysis.ipynb", "ipynb"), ("environment.yml", "env"), ("e.yaml", "env")):
        (tmp_path / basename).write_text("{}")
        assert registry.detect(tmp_path / basename, basename) == expected, basename


def test_detect_falls_back_to_file(tmp_path: Path) -> None:
    tarball = tmp_path / "data.tar.gz"
    tarball.write_bytes(gzip.compress(tar_bytes([("data/values.csv", b"1,2\n")])))
    no_index = build_conda(tmp_path, omit=["info/index.json"])
    garbage_gz = tmp_path / "junk.tar.gz"
    garbage_gz.write_bytes(b"not gzip")
    for path in (tarball, no_index, garbage_gz):
        assert registry.detect(path, path.name) == "file", path.name


def test_unreadable_tar_bz2_is_taken_for_conda(tmp_path: Path) -> None:
    """So the uploader hears why the package is broken, not that a plain file needs a name and version."""
    broken = tmp_path / "demo-1.0-0.tar.bz2"
    broken.write_bytes(b"truncated")
    assert registry.detect(broken, broken.name) == "conda"


def test_sdist_wins_over_r_when_both_match(tmp_path: Path) -> None:
    """anaconda-client tries pypi before R; a tarball with PKG-INFO and DESCRIPTION+NAMESPACE is an sdist."""
    both = tmp_path / "both-1.0.tar.gz"
    members = [("both-1.0/PKG-INFO", b""), ("both-1.0/DESCRIPTION", b""), ("both-1.0/NAMESPACE", b"")]
    both.write_bytes(gzip.compress(tar_bytes(members)))
    assert registry.detect(both, both.name) == "pypi"


def test_register_a_new_format(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "FORMATS", dict(registry.FORMATS))
    monkeypatch.setattr(registry, "_BY_NAME", dict(registry._BY_NAME))

    def parse_installer(path: Path, basename: str, **_: object) -> Artifact:
        return Artifact("installer", basename.removesuffix(".sh"), "1", basename)

    def sniff_installer(path: Path, basename: str) -> bool:
        return basename.endswith(".sh")

    registry.register(
        registry.FormatSpec("installer", parse_installer, aliases=("conda_installer",), sniff=sniff_installer)
    )
    installer = tmp_path / "Miniforge.sh"
    installer.write_text("#!/bin/sh")
    assert registry.detect(installer, installer.name) == "installer"
    assert registry.parser_for("conda_installer")(installer, installer.name).name == "Miniforge"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.FormatSpec("other", parse_installer, aliases=("PyPI",)))
