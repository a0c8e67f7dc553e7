"""Pure builders of conda channel documents: records, repodata.json, shards (CEP 16) and channeldata.json.

No database, no HTTP: rows in, bytes out. Records are serialised once, at upload, and spliced as text here, so
rendering a subdir of n records costs one string join rather than n JSON encodings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
import zstandard

from packyard.core.client_attrs import CLIENT_KEY
from packyard.core.queries import version_key

if TYPE_CHECKING:
    from packyard.core.models import Package

# Keys of info/index.json that are not repodata (conda-index drops the same ones), and the uploader's own attrs.
_DROPPED = frozenset(
    {
        CLIENT_KEY,
        "arch",
        "has_prefix",
        "mtime",
        "platform",
        "ucs",
        "requires_features",
        "binstar",
        "target-triplet",
        "machine",
        "operatingsystem",
    }
)
_EXTENSIONS = (".tar.bz2", ".conda")


def split_filename(filename: str) -> tuple[str, str]:
    """`foo-1.0-0.conda` -> ("foo-1.0-0", ".conda")."""
    for ext in _EXTENSIONS:
        if filename.endswith(ext):
            return filename[: -len(ext)], ext
    raise ValueError(f"not a conda file name: {filename}")


def record(
    attrs: Mapping[str, Any], *, md5: str, sha256: str, size: int, uploaded: dt.datetime
) -> dict[str, Any]:
    """The repodata record of a file, from its own info/index.json plus what the server computed."""
    rec = {k: v for k, v in attrs.items() if k not in _DROPPED}
    rec.setdefault("depends", [])
    rec["md5"] = md5
    rec["sha256"] = sha256
    rec["size"] = size
    ms = int(uploaded.timestamp() * 1000)
    rec.setdefault("timestamp", ms)
    if isinstance(rec["timestamp"], int | float) and rec["timestamp"] <= 253402300799:
        rec["timestamp"] = int(rec["timestamp"] * 1000)  # seconds -> milliseconds (CEP 34)
    rec["indexed_timestamp"] = ms
    return rec


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Row:
    """One record as stored: the conda name, file name and record JSON text."""

    name: str
    filename: str
    record: str


def repodata(subdir: str, rows: Iterable[Row]) -> bytes:
    """repodata.json (v1) for the given records; `.conda` files go under "packages.conda" (CEP 36)."""
    tar: list[str] = []
    conda: list[str] = []
    for row in sorted(rows, key=lambda r: r.filename):
        (conda if row.filename.endswith(".conda") else tar).append(f"{json.dumps(row.filename)}:{row.record}")
    head = dumps({"subdir": subdir})
    text = (
        f'{{"info":{head},"packages":{{{",".join(tar)}}},"packages.conda":{{{",".join(conda)}}},'
        f'"removed":[],"repodata_version":1}}'
    )
    return text.encode()


def run_exports(subdir: str, rows: Iterable[Row]) -> bytes:
    """run_exports.json (CEP 12): every package, with {} when it has none."""
    doc: dict[str, Any] = {"info": {"subdir": subdir, "version": 1}, "packages": {}, "packages.conda": {}}
    for row in rows:
        rec = json.loads(row.record)
        key = "packages.conda" if row.filename.endswith(".conda") else "packages"
        doc[key][row.filename] = {"run_exports": rec.get("run_exports") or {}}
    return dumps(doc).encode()


def _shard_record(record_text: str) -> dict[str, Any]:
    rec: dict[str, Any] = json.loads(record_text)
    for key in ("md5", "sha256"):
        if isinstance(rec.get(key), str):
            rec[key] = bytes.fromhex(rec[key])  # CEP 16: raw bytes inside shards
    return rec


def shard(rows: Iterable[Row]) -> bytes:
    """One package name's shard: zstd(msgpack({"packages", "packages.conda", "removed"}))."""
    doc: dict[str, Any] = {"packages": {}, "packages.conda": {}, "removed": []}
    for row in sorted(rows, key=lambda r: r.filename):
        key = "packages.conda" if row.filename.endswith(".conda") else "packages"
        doc[key][row.filename] = _shard_record(row.record)
    return zstandard.ZstdCompressor(level=19).compress(msgpack.packb(doc, use_bin_type=True))


def _utc(when: dt.datetime | None) -> dt.datetime:
    """Stored times are UTC (SQLite hands them back naive); no change recorded yet: the epoch."""
    if when is None:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def shard_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shard_index(subdir: str, heads: Mapping[str, str], as_of: dt.datetime | None) -> bytes:
    """repodata_shards.msgpack.zst: package name -> raw sha256 of its shard, with the keys rattler requires.

    `created_at` is `as_of`, the time of the data (the owner's latest change), never the time of rendering: every
    node, and every rebuild on one node, must give the same bytes for the same rows, or the ETag would change
    with each node behind a load balancer and clients would fetch the index again for nothing."""
    doc = {
        "version": 1,
        "info": {
            "subdir": subdir,
            "base_url": "",
            "shards_base_url": "./shards/",
            "created_at": _utc(as_of).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "shards": {name: bytes.fromhex(sha) for name, sha in sorted(heads.items())},
    }
    return zstandard.ZstdCompressor(level=3).compress(msgpack.packb(doc, use_bin_type=True))


@dataclass(frozen=True)
class PackageInfo:
    summary: str = ""
    description: str = ""
    license: str | None = None
    home: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None
    source_url: str | None = None

    @classmethod
    def of(cls, package: Package) -> PackageInfo:
        """A package row's descriptive fields, as channeldata.json carries them."""
        return cls(
            summary=package.summary,
            description=package.description,
            license=package.license,
            home=package.home,
            dev_url=package.dev_url,
            doc_url=package.doc_url,
            source_url=package.source_git_url,
        )


def channeldata(subdir_rows: Mapping[str, Iterable[Row]], info: Mapping[str, PackageInfo]) -> bytes:
    """channeldata.json (CEP 38): per package name its newest version, subdirs and descriptive fields."""
    packages: dict[str, dict[str, Any]] = {}
    for subdir, rows in sorted(subdir_rows.items()):
        for row in rows:
            rec = json.loads(row.record)
            entry = packages.setdefault(
                row.name, {"subdirs": [], "version": rec.get("version"), "timestamp": 0, "run_exports": {}}
            )
            if subdir not in entry["subdirs"]:
                entry["subdirs"].append(subdir)
            if version_key(str(rec.get("version"))) > version_key(str(entry["version"])):
                entry["version"] = rec.get("version")
            entry["timestamp"] = max(entry["timestamp"], int(rec.get("timestamp", 0)) // 1000)
            if rec.get("run_exports"):
                entry["run_exports"][str(rec.get("version"))] = rec["run_exports"]
    for name, entry in packages.items():
        meta = info.get(name, PackageInfo())
        entry.update(
            summary=meta.summary,
            description=meta.description,
            license=meta.license,
            home=meta.home,
            dev_url=meta.dev_url,
            doc_url=meta.doc_url,
            source_url=meta.source_url,
        )
        for flag in (
            "binary_prefix",
            "text_prefix",
            "activate.d",
            "deactivate.d",
            "pre_link",
            "post_link",
            "pre_unlink",
        ):
            entry.setdefault(flag, False)
    subdirs = sorted(subdir_rows)
    return dumps({"channeldata_version": 1, "subdirs": subdirs, "packages": packages}).encode()
