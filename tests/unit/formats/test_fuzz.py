"""Seeded mutation fuzzing: whatever the bytes, a parser returns an Artifact or raises InvalidPackage, nothing else.

Each valid sample is mutated at three depths, because flipping bytes of a compressed file mostly exercises the
decompressor's error path and never reaches the tar, zip or metadata parsers:

* raw: the uploaded bytes themselves;
* inner: the decompressed tar (re-compressed), or the zip stored uncompressed, or a .conda's info tarball;
* member: only the metadata member (index.json, METADATA, PKG-INFO, DESCRIPTION), in a well-formed archive.

PACKYARD_FUZZ_SEED and PACKYARD_FUZZ_ITERATIONS change the run; a failure message names the seed and iteration
that reproduce it.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import os
import random
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import zstandard

from packyard.core import formats as registry
from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from tests import builders

SEED = int(os.environ.get("PACKYARD_FUZZ_SEED", "20240701"))
ITERATIONS = int(os.environ.get("PACKYARD_FUZZ_ITERATIONS", "360"))

Container = Literal["bz2", "gz", "zip", "conda"]

TOKENS = [
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\n    .\n",
    b":",
    b" ",
    b"\t",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\x85",
    b'"',
    b"{",
    b"[",
    b"]",
    b"}",
    b",",
    b"NaN",
    b"1e999",
    b"-1",
    b"99999999999999999999999",
    b"\\u0000",
    b"\\ud800",
    b"..",
    b"/",
    b"-",
    b"Encoding: latin2\n",
    b"Encoding: EBCDIC\n",
    b"Name: other\n",
    b"Version: 2.0\n",
    b"Built: R 4.4.1; ; x; windows\n",
    b"=?utf-8?q?x?=",
    b"x" * 300,
]
JSON_VALUES: list[object] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x",
    "../x",
    "a\x00b",
    [],
    [1],
    ["a"],
    {},
    {"a": [1]},
]


@dataclass(frozen=True)
class Sample:
    label: str
    distribution_type: str
    basename: str
    data: bytes
    container: Container
    member: str
    """The metadata member a parser reads; "member" mutations rewrite only this one."""


# --- building the corpus ----------------------------------------------------------------------------------------


LABELS = [
    "conda-tar.bz2",
    "conda-.conda",
    "wheel",
    "sdist-tar.gz",
    "sdist-zip",
    "r-source",
    "r-windows",
    "r-macos",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    folder = tmp_path_factory.mktemp("corpus")

    def sample(
        label: str, kind: str, path: Path, container: Container, member: str, basename: str = ""
    ) -> Sample:
        return Sample(label, kind, basename or path.name, path.read_bytes(), container, member)

    conda_bz2 = builders.build_conda(
        folder, subdir="linux-64", depends=["python >=3.9"], run_exports=["demo"]
    )
    conda_zst = builders.build_conda(folder, name="demo2", fmt="conda", run_exports={"weak": ["x"]})
    wheel = builders.build_wheel(folder, requires_python=">=3.9", requires_dist=["requests"])
    sdist = builders.build_sdist(folder, requires_dist=["rich"])
    (folder / "z").mkdir()
    sdist_zip = builders.build_sdist(folder / "z", fmt="zip")
    r_source = builders.build_r_source(folder, imports=["utils"], encoding="latin1", author="Zoë")
    r_win = builders.build_r_binary(folder, name="winR", arch="x86_64-w64-mingw32")
    r_mac = builders.build_r_binary(folder, name="macR", platform="macos", arch="aarch64-apple-darwin20")
    samples = [
        sample("conda-tar.bz2", "conda", conda_bz2, "bz2", "info/index.json", f"linux-64/{conda_bz2.name}"),
        sample("conda-.conda", "conda", conda_zst, "conda", "info/index.json"),
        sample("wheel", "pypi", wheel, "zip", "demo_pkg-1.0.dist-info/METADATA"),
        sample("sdist-tar.gz", "pypi", sdist, "gz", "demo_pkg-1.0/PKG-INFO"),
        sample("sdist-zip", "pypi", sdist_zip, "zip", "demo_pkg-1.0/PKG-INFO"),
        sample("r-source", "r", r_source, "gz", "demoR/DESCRIPTION"),
        sample("r-windows", "r", r_win, "zip", "winR/DESCRIPTION"),
        sample("r-macos", "r", r_mac, "gz", "macR/DESCRIPTION"),
    ]
    return {s.label: s for s in samples}


# --- unwrapping and rewrapping ----------------------------------------------------------------------------------


def inner(sample: Sample) -> bytes:
    """The layer under the compression: tar bytes, a stored zip, or a .conda's info tar."""
    if sample.container == "bz2":
        return bz2.decompress(sample.data)
    if sample.container == "gz":
        return gzip.decompress(sample.data)
    if sample.container == "zip":
        return _zip_bytes(_zip_members(sample.data), zipfile.ZIP_STORED)
    return zstandard.ZstdDecompressor().decompress(_zip_members(sample.data)[_info_name(sample)])


def wrap(sample: Sample, data: bytes) -> bytes:
    if sample.container == "bz2":
        return bz2.compress(data)
    if sample.container == "gz":
        return gzip.compress(data)
    if sample.container == "zip":
        return data
    members = _zip_members(sample.data)
    members[_info_name(sample)] = zstandard.ZstdCompressor().compress(data)
    return _zip_bytes(members, zipfile.ZIP_STORED)


def with_member(sample: Sample, content: bytes) -> bytes:
    """The sample with its metadata member replaced, the archive otherwise well-formed."""
    if sample.container == "zip":
        members = _zip_members(sample.data)
        members[sample.member] = content
        return _zip_bytes(members, zipfile.ZIP_DEFLATED)
    with tarfile.open(fileobj=io.BytesIO(inner(sample))) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    rebuilt = builders.tar_bytes(
        [(name, content if name == sample.member else data) for name, data in members]
    )
    return wrap(sample, rebuilt)


def member_content(sample: Sample) -> bytes:
    if sample.container == "zip":
        return _zip_members(sample.data)[sample.member]
    with tarfile.open(fileobj=io.BytesIO(inner(sample))) as tar:
        return tar.extractfile(sample.member).read()


def _info_name(sample: Sample) -> str:
    return f"info-{sample.basename.removesuffix('.conda')}.tar.zst"


def _zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip_bytes(members: dict[str, bytes], compression: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- mutations --------------------------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(buf) + 1)
        op = rng.randrange(7)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 2 and rng.random() < 0.5:
            del buf[pos:]
        elif op == 3:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 4:
            del buf[pos : pos + rng.randint(1, 64)]
        elif op == 5 and buf:
            start = rng.randrange(len(buf))
            buf[pos:pos] = buf[start : start + rng.randint(1, 512)]
        elif op == 6:
            buf[pos:pos] = rng.choice(TOKENS)
    return bytes(buf)


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    """Token-level edits of a metadata file, plus type changes when it is JSON."""
    if data.lstrip().startswith(b"{") and rng.random() < 0.5:
        return _mutate_json(data, rng)
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.randrange(4)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            cut = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + rng.choice(TOKENS) + lines[i][cut:]
        else:
            lines[i] = mutate_bytes(lines[i], rng)
    return b"\n".join(lines)


def _mutate_json(data: bytes, rng: random.Random) -> bytes:
    document = json.loads(data)
    if not isinstance(document, dict) or not document:
        return data
    key = rng.choice(sorted(document))
    if rng.random() < 0.2:
        del document[key]
    else:
        document[key] = rng.choice(JSON_VALUES)
    return json.dumps(document).encode()


Strategy = Callable[[Sample, random.Random], bytes]

STRATEGIES: dict[str, Strategy] = {
    "raw": lambda sample, rng: mutate_bytes(sample.data, rng),
    "inner": lambda sample, rng: wrap(sample, mutate_bytes(inner(sample), rng)),
    "member": lambda sample, rng: with_member(sample, mutate_text(member_content(sample), rng)),
}


# --- the properties ---------------------------------------------------------------------------------------------


def outcome(sample: Sample, path: Path, basename: str) -> Artifact | InvalidPackage:
    try:
        return registry.parser_for(sample.distribution_type)(path, basename)
    except InvalidPackage as exc:
        return exc


@pytest.mark.parametrize("label", LABELS)
def test_mutated_archives_only_raise_invalid_package(
    corpus: dict[str, Sample], tmp_path: Path, label: str
) -> None:
    sample = corpus[label]
    rng = random.Random(f"{SEED}-{sample.label}")
    path = tmp_path / Path(sample.basename).name
    results = {"accepted": 0, "refused": 0}
    for iteration in range(ITERATIONS):
        strategy = rng.choice(sorted(STRATEGIES))
        path.write_bytes(STRATEGIES[strategy](sample, rng))
        context = f"{sample.label} seed={SEED} iteration={iteration} strategy={strategy}"
        try:
            result = outcome(sample, path, sample.basename)
            registry.detect(path, path.name)
        except Exception as exc:
            pytest.fail(f"{context}: {type(exc).__name__}: {exc}")
        if isinstance(result, Artifact):
            check_basename(result.basename)
            assert result.name and result.version, context
        results["accepted" if isinstance(result, Artifact) else "refused"] += 1
    assert results["refused"] > ITERATIONS // 4, results  # the mutations must actually break things


def test_untouched_samples_parse(corpus: dict[str, Sample], tmp_path: Path) -> None:
    assert sorted(corpus) == sorted(LABELS)
    for sample in corpus.values():
        path = tmp_path / Path(sample.basename).name
        path.write_bytes(sample.data)
        assert isinstance(outcome(sample, path, sample.basename), Artifact), sample.label
        path.write_bytes(wrap(sample, inner(sample)))
        assert isinstance(outcome(sample, path, sample.basename), Artifact), f"{sample.label} rewrapped"


@pytest.mark.parametrize("distribution_type", ["conda", "pypi", "r", "file"])
def test_random_basenames_only_raise_invalid_package(tmp_path: Path, distribution_type: str) -> None:
    rng = random.Random(f"{SEED}-basenames-{distribution_type}")
    path = tmp_path / "upload"
    path.write_bytes(b"")
    alphabet = "aZ09-_.+/\\:\x00\n ~é李"
    parse = registry.parser_for(distribution_type)
    for _ in range(300):
        basename = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        basename += rng.choice(["", ".tar.bz2", ".conda", ".whl", ".tar.gz", ".zip", ".tgz"])
        with contextlib.suppress(InvalidPackage):
            parse(path, basename, name="n", version="1")
