"""conda and CRAN mirror indexes (formats/conda/mirror.py, formats/cran/mirror.py): upstream's documents read,
and merged with the cached files under the mirror's rules."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from packyard.core.mirrors.service import Expected, MirrorInfo
from packyard.core.storage import BlobRef
from packyard.formats.conda import index as conda_index
from packyard.formats.conda import mirror as conda_mirror
from packyard.formats.cran import index as cran_index
from packyard.formats.cran import mirror as cran_mirror

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _mirror(fmt: str, include=(), exclude=()) -> MirrorInfo:
    return MirrorInfo(
        1, 2, "m", fmt, "http://up/c/", tuple(include), tuple(exclude), 60, True, NOW, None, None, None
    )


def _repodata(**more) -> bytes:
    return json.dumps(
        {
            "info": {"subdir": "noarch", **more},
            "packages": {"a-1.0-0.tar.bz2": {"name": "a", "version": "1.0", "md5": "0" * 32, "depends": []}},
            "packages.conda": {
                "b-2.0-0.conda": {"name": "b", "version": "2.0", "sha256": "b" * 64, "depends": ["a"]},
                "nohash-1-0.conda": {"name": "nohash", "version": "1"},
                "../evil-1-0.conda": {"name": "evil", "sha256": "e" * 64},
            },
        }
    ).encode()


def _read(body: bytes, url: str = "http://up/c/noarch/repodata.json") -> list[conda_mirror.Upstream]:
    return list(conda_mirror.read_upstream(lambda: io.BytesIO(body), url))


def test_repodata_entries_keep_records_with_a_digest_and_resolve_urls_beside_the_repodata():
    entries = _read(_repodata())
    assert {e.filename: e.url for e in entries} == {
        "a-1.0-0.tar.bz2": "http://up/c/noarch/a-1.0-0.tar.bz2",
        "b-2.0-0.conda": "http://up/c/noarch/b-2.0-0.conda",
    }
    assert entries[1].record["depends"] == ["a"]


def test_repodata_base_url_says_where_the_files_are():
    entries = _read(_repodata(base_url="https://files.example/noarch"))
    assert entries[0].url == "https://files.example/noarch/a-1.0-0.tar.bz2"


def test_repodata_floats_stay_floats_and_a_conda_file_under_packages_is_left_out():
    body = json.dumps(
        {
            "packages": {
                "x-1-0.conda": {"name": "x", "sha256": "1" * 64},
                "y-1-0.tar.bz2": {"name": "y", "md5": "2" * 32, "size": 10, "weight": 0.5},
            }
        }
    ).encode()
    entries = _read(body)
    assert [e.filename for e in entries] == ["y-1-0.tar.bz2"]
    assert entries[0].record["weight"] == 0.5 and isinstance(entries[0].record["weight"], float)


@pytest.mark.parametrize("body", [b"[]", b"", b'{"packages": {"a-1-0.conda": '])
def test_repodata_that_is_no_object_is_a_value_error(body):
    with pytest.raises(ValueError, match=r"not a JSON object|does not parse"):
        _read(body)


def _merged(local, entries, mirror, kind="repodata") -> dict:
    out = io.BytesIO()
    conda_mirror.write_merged(out.write, kind, "noarch", entries, local, mirror.rules)
    return json.loads(out.getvalue())


def test_conda_merge_keeps_cached_records_prefers_upstreams_and_applies_rules():
    entries = _read(_repodata())
    local = [
        conda_index.Row("b", "b-2.0-0.conda", '{"name":"b","patched":false}'),
        conda_index.Row("gone", "gone-1-0.conda", '{"name":"gone"}'),
        conda_index.Row("old", "old-1-0.tar.bz2", '{"name":"old"}'),
    ]
    doc = _merged(local, entries, _mirror("conda", exclude=["a"]))
    assert doc["info"] == {"subdir": "noarch"} and doc["repodata_version"] == 1
    assert set(doc["packages"]) == {"old-1-0.tar.bz2"}  # a excluded; old kept although upstream lost it
    assert set(doc["packages.conda"]) == {"b-2.0-0.conda", "gone-1-0.conda"}
    assert doc["packages.conda"]["b-2.0-0.conda"]["depends"] == ["a"]  # upstream's (patched) record
    refused = _merged(local, entries, _mirror("conda", exclude=["subdir:noarch"]))
    assert refused["packages"] == {} and refused["packages.conda"] == {}


def test_conda_merge_without_upstream_or_cache_is_an_empty_valid_document():
    assert _merged([], [], _mirror("conda")) == {
        "info": {"subdir": "noarch"},
        "packages": {},
        "packages.conda": {},
        "removed": [],
        "repodata_version": 1,
    }
    only_cached = _merged([conda_index.Row("c", "c-1-0.conda", '{"name":"c"}')], [], _mirror("conda"))
    assert list(only_cached["packages.conda"]) == ["c-1-0.conda"]


def test_conda_merged_run_exports_lists_every_package():
    body = json.dumps(
        {
            "packages.conda": {
                "r-1-0.conda": {"name": "r", "sha256": "1" * 64, "run_exports": {"weak": ["r >=1"]}},
                "s-1-0.conda": {"name": "s", "sha256": "2" * 64},
            }
        }
    ).encode()
    doc = _merged([], _read(body), _mirror("conda"), kind="run_exports")
    assert doc["info"] == {"subdir": "noarch", "version": 1}
    assert doc["packages.conda"] == {
        "r-1-0.conda": {"run_exports": {"weak": ["r >=1"]}},
        "s-1-0.conda": {"run_exports": {}},
    }


def test_package_name_of_a_conda_file():
    assert conda_mirror.package_name("python-dateutil-2.9.0-pyhd8ed1ab_0.conda") == "python-dateutil"


PACKAGES = b"""Package: depR
Version: 1.0
Imports: utils,
    stats (>= 3.0), Rcpp
MD5sum: 0123456789abcdef0123456789abcdef
NeedsCompilation: no

Package: nomd5
Version: 1.0

Package: subR
Version: 2.1-3
Path: Older
MD5sum: FEDCBA9876543210FEDCBA9876543210
"""


def test_packages_entries_with_md5_path_and_continuation_lines():
    entries = cran_mirror.parse_packages("http://up/r/src/contrib/PACKAGES", PACKAGES, cran_mirror.SOURCE)
    assert [(e["filename"], e["url"], e["md5"]) for e in entries] == [
        ("depR_1.0.tar.gz", "http://up/r/src/contrib/depR_1.0.tar.gz", "0123456789abcdef0123456789abcdef"),
        (
            "subR_2.1-3.tar.gz",
            "http://up/r/src/contrib/Older/subR_2.1-3.tar.gz",
            "fedcba9876543210fedcba9876543210",
        ),
    ]
    assert entries[0]["fields"]["Imports"] == "utils, stats (>= 3.0), Rcpp"
    assert cran_mirror.dependencies(entries[0]["fields"]) == ["Rcpp"]  # base packages are R's own


def test_a_packages_line_without_a_field_is_a_value_error():
    with pytest.raises(ValueError, match="not a PACKAGES line"):
        cran_mirror.parse_dcf("Package: a\nnonsense\n")


def test_cran_merge_lists_the_newest_of_cache_and_upstream_under_the_rules():
    entries = cran_mirror.parse_packages("http://up/r/src/contrib/PACKAGES", PACKAGES, cran_mirror.SOURCE)
    local = [
        cran_index.Row("depR", "1.1", {"MD5sum": "1" * 32}),
        cran_index.Row("goneR", "1.0", {"MD5sum": "2" * 32}),
    ]
    text = cran_index.packages(cran_mirror.merge(local, entries, _mirror("cran", exclude=["subr"]))).decode()
    assert "Package: depR\nVersion: 1.1\n" in text  # the cached newer version wins
    assert "Package: goneR" in text and "subR" not in text


def test_expected_digests_name_what_differs():
    ref = BlobRef(sha256="a" * 64, md5="b" * 32, size=1)
    assert Expected(md5="B" * 32).mismatch(ref) is None
    assert "sha256 is" in (Expected(sha256="c" * 64, md5="b" * 32).mismatch(ref) or "")
    with pytest.raises(ValueError, match="sha256 or an md5"):
        Expected()
