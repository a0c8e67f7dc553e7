"""Hypothesis over every format parser: mutated bytes of a valid package make it return an Artifact or raise the
typed InvalidPackage family, never anything else (a stray ValueError or UnicodeError would be a 500 on upload).

test_fuzz.py mutates the archive formats (conda, wheel, sdist, R) with a seeded random walk at three depths; this
file adds the formats it leaves out (notebook, environment, project, file) and runs hypothesis's own byte edits over
all of them, so a failure shrinks to a small reproducer. Bounded: EXAMPLES per parser.
"""

from __future__ import annotations

import contextlib
import gzip
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packyard.core import formats as registry
from packyard.core.artifacts import InvalidPackage
from tests import builders
from tests.unit.formats.named_support import env_yaml, notebook_bytes, project_tar_gz, project_zip

EXAMPLES = 40


def _samples() -> dict[str, tuple[str, str, bytes, dict[str, str]]]:
    """label -> (distribution type, basename, valid bytes, parser keywords)."""
    with tempfile.TemporaryDirectory(prefix="packyard-props-") as tmp:
        built = [
            builders.build_conda(Path(tmp)),
            builders.build_wheel(Path(tmp)),
            builders.build_sdist(Path(tmp)),
            builders.build_r_source(Path(tmp)),
        ]
        (conda, conda_data), (wheel, wheel_data), (sdist, sdist_data), (r_source, r_data) = [
            (path.name, path.read_bytes()) for path in built
        ]
    return {
        "notebook": ("ipynb", "analysis.ipynb", notebook_bytes(), {"name": "analysis", "version": "1"}),
        "env": ("env", "environment.yml", env_yaml(), {}),
        "project-tar.gz": ("project", "proj.tar.gz", project_tar_gz(), {"name": "proj", "version": "1"}),
        "project-zip": (
            "project",
            "proj.zip",
            project_zip([("proj/README.md", b"# A project\n"), ("proj/data/values.csv", b"a,b\n1,2\n")]),
            {"name": "proj", "version": "1"},
        ),
        "file": ("file", "data.csv", b"a,b\n1,2\n", {"name": "data", "version": "1"}),
        "conda": ("conda", f"noarch/{conda}", conda_data, {}),
        "wheel": ("pypi", wheel, wheel_data, {}),
        "sdist": ("pypi", sdist, sdist_data, {}),
        "r-source": ("r", r_source, r_data, {}),
    }


SAMPLES = _samples()

EDIT = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "truncate"]),
    st.floats(0, 1, exclude_max=True),
    st.binary(min_size=1, max_size=8),
)


def edit(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    """Apply hypothesis's edits at relative positions (so they shrink independently of the sample's length)."""
    for kind, where, chunk in edits:
        at = int(where * len(data)) if data else 0
        if kind == "replace":
            data = data[:at] + chunk + data[at + len(chunk) :]
        elif kind == "insert":
            data = data[:at] + chunk + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + len(chunk) :]
        else:
            data = data[:at]
    return data


def _parse_only_invalid_package(label: str, data: bytes, tmp: Path) -> None:
    distribution_type, basename, _valid, keywords = SAMPLES[label]
    path = tmp / "upload"
    path.write_bytes(data)
    with contextlib.suppress(
        InvalidPackage
    ):  # the typed refusal (and its subclasses): the only acceptable failure
        registry.parser_for(distribution_type)(path, basename, **keywords)


def test_valid_samples_parse(tmp_path: Path) -> None:
    for label, (distribution_type, basename, data, keywords) in SAMPLES.items():
        path = tmp_path / label
        path.write_bytes(data)
        artifact = registry.parser_for(distribution_type)(path, basename, **keywords)
        assert artifact.basename, label


@pytest.mark.parametrize("label", list(SAMPLES))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_bytes_only_raise_invalid_package(label: str, edits: list[tuple[str, float, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _parse_only_invalid_package(label, edit(SAMPLES[label][2], edits), Path(tmp))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_project_tar_under_its_compression(edits: list[tuple[str, float, bytes]]) -> None:
    """Edits of the gzip bytes mostly stop at the decompressor; these reach the tar reader."""
    tar = gzip.decompress(SAMPLES["project-tar.gz"][2])
    with tempfile.TemporaryDirectory() as tmp:
        _parse_only_invalid_package("project-tar.gz", gzip.compress(edit(tar, edits), mtime=0), Path(tmp))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=400))
@pytest.mark.parametrize("label", ["notebook", "env"])
def test_any_text_only_raises_invalid_package(label: str, text: str) -> None:
    """The text formats: any Unicode (surrogates excluded by UTF-8 itself) in place of the JSON or YAML."""
    with tempfile.TemporaryDirectory() as tmp:
        _parse_only_invalid_package(label, text.encode("utf-8", "surrogatepass"), Path(tmp))
