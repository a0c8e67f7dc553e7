"""PyPI mirror pages (formats/pypi/mirror.py): upstream pages read, and merged with the cached files."""

from __future__ import annotations

import datetime as dt
import json

from packyard.core.mirrors.service import MirrorInfo
from packyard.formats.pypi import mirror, simple

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def _mirror(include=(), exclude=()) -> MirrorInfo:
    return MirrorInfo(
        1,
        2,
        "pm",
        "pypi",
        "https://up/simple/",
        tuple(include),
        tuple(exclude),
        60,
        True,
        NOW,
        None,
        None,
        None,
    )


def test_json_page_entries_keep_hashes_requires_python_and_yanks():
    body = json.dumps(
        {
            "files": [
                {
                    "filename": "p-1.0-py3-none-any.whl",
                    "url": "../../files/p/p-1.0-py3-none-any.whl",
                    "hashes": {"sha256": SHA_A},
                    "requires-python": ">=3.8",
                    "yanked": "broken",
                    "size": 10,
                },
                {"filename": "p-1.0.tar.gz", "url": "https://files.example/p-1.0.tar.gz", "hashes": {}},
                {"filename": "p-1.0.egg", "url": "x", "hashes": {"sha256": SHA_B}},
            ]
        }
    ).encode()
    entries = mirror.parse_json("https://up/simple/p/", body)
    assert entries == [
        {
            "filename": "p-1.0-py3-none-any.whl",
            "url": "https://up/files/p/p-1.0-py3-none-any.whl",
            "sha256": SHA_A,
            "size": 10,
            "requires_python": ">=3.8",
            "yanked": "broken",
            "upload_time": None,
        }
    ]  # no hash: nothing to verify against; an egg: not installable


def test_html_page_entries_read_the_fragment_and_data_attributes():
    body = (
        f'<a href="/f/p-2.0.tar.gz#sha256={SHA_B}" data-requires-python="&gt;=3.9">p-2.0.tar.gz</a>'
        f'<a href="p-1.0-py3-none-any.whl#sha256={SHA_A}" data-yanked="">p-1.0-py3-none-any.whl</a>'
        '<a href="p-0.1.tar.gz#md5=00">p-0.1.tar.gz</a>'
    ).encode()
    entries = {e["filename"]: e for e in mirror.parse_html("https://up/simple/p/", body)}
    assert set(entries) == {"p-2.0.tar.gz", "p-1.0-py3-none-any.whl"}
    assert entries["p-2.0.tar.gz"]["url"] == "https://up/f/p-2.0.tar.gz"
    assert entries["p-2.0.tar.gz"]["requires_python"] == ">=3.9"
    assert entries["p-1.0-py3-none-any.whl"]["yanked"] == ""  # yanked without a reason
    assert entries["p-2.0.tar.gz"]["yanked"] is False


def _row(filename, sha, version="1.0", yanked=False):
    return simple.FileRow(filename, version, sha, 5, None, yanked, None, "m" * 64, NOW)


def test_merge_keeps_cached_files_upstream_deleted_and_marks_upstream_yanks():
    local = [_row("p-1.0-py3-none-any.whl", SHA_A), _row("p-0.9-py3-none-any.whl", SHA_C, "0.9")]
    entries = [
        {"filename": "p-1.0-py3-none-any.whl", "sha256": SHA_A, "yanked": "bad build", "url": "u"},
        {
            "filename": "p-2.0.tar.gz",
            "sha256": SHA_B,
            "yanked": False,
            "url": "u",
            "size": 7,
            "requires_python": ">=3.10",
            "upload_time": "2026-11-01T00:00:00Z",
        },
    ]
    rows = {r.filename: r for r in mirror.merge(local, entries, NOW, _mirror(), "p")}
    assert set(rows) == {"p-1.0-py3-none-any.whl", "p-0.9-py3-none-any.whl", "p-2.0.tar.gz"}
    assert (
        rows["p-1.0-py3-none-any.whl"].yanked and rows["p-1.0-py3-none-any.whl"].yanked_reason == "bad build"
    )
    assert rows["p-1.0-py3-none-any.whl"].metadata_sha256 == "m" * 64  # cached: its own metadata
    assert not rows["p-0.9-py3-none-any.whl"].yanked  # upstream deleted it; still listed
    new = rows["p-2.0.tar.gz"]
    assert (new.version, new.size, new.requires_python, new.metadata_sha256) == ("2.0", 7, ">=3.10", None)
    assert new.upload_time == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_merge_leaves_out_file_types_the_rules_refuse():
    entries = [
        {"filename": "p-2.0.tar.gz", "sha256": SHA_B, "yanked": False, "url": "u"},
        {"filename": "p-2.0-py3-none-any.whl", "sha256": SHA_A, "yanked": False, "url": "u"},
    ]
    rows = mirror.merge([], entries, NOW, _mirror(exclude=["type:sdist"]), "p")
    assert [r.filename for r in rows] == ["p-2.0-py3-none-any.whl"]
