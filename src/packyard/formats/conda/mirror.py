"""conda's part of a mirror (core/mirrors): upstream's repodata merged with what is cached, files fetched on first
request, and `packyard mirror sync` solved with py-rattler.

The upstream is a channel URL (`http://HOST/conda/OWNER`, `https://conda.anaconda.org/conda-forge`); the mirror's
label L is upstream's `UPSTREAM/label/L` (main: the channel itself).

/conda/NAME[/label/L]/SUBDIR/repodata.json   (and .zst/.bz2, current_repodata.json, repodata_from_packages.json,
        run_exports.json, as the live channels serve them) upstream's records for SUBDIR merged with the records of
        the files cached here: a cached file stays listed after upstream removes it; a file upstream still lists
        is listed with upstream's record (which carries upstream's repodata patches). Records the rules refuse
        (by name, or "subdir:...") are left out. Sharded repodata (CEP 16) is not proxied: the shard index is a
        404, on which rattler reads repodata.json.
/conda/NAME[/label/L]/channeldata.json   built from the subdirs fetched so far and the cached packages.
/conda/NAME[/label/L]/SUBDIR/FILE   a cached file is served as any file is (routes._package_file); the first GET
        of another streams it from upstream, checks the sha256 (and md5) upstream's record gives, stores it through
        `add_file` under label L (as the mirror's fetcher, parsed as an upload is) and serves it like the rest.

Sized for conda-forge (hundreds of MB of repodata per subdir, up to a million records): nothing holds a subdir's
repodata in memory. Upstream's repodata.json is streamed into the blob store (`service.refresh_blob_index`, kept
as "L/SUBDIR" and asked for again once older than the TTL); what fetching a file needs of each record (name,
digests, URL) becomes a row of `mirror_records`, written as the difference from the previous answer (`ingest`).
The merged documents are rendered by streaming upstream's blob through ijson (`write_merged`) into a blob of their
own (core/mirrors/documents.py) once per change of their inputs, and served as stored files.

Offline, the cached records are served with `service.STALE`; a file never cached is a 502/504.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import ijson
import orjson
from fastapi import Request, Response
from sqlalchemy import delete, exists, select

from packyard.core import db as core_db
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, NotFound
from packyard.core.formats import SyncRequest
from packyard.core.mirrors import documents, service, upstream
from packyard.core.mirrors.models import MirrorRecord
from packyard.core.mirrors.rules import Rules
from packyard.core.mirrors.service import CachedIndex, MirrorInfo
from packyard.core.models import Account, IndexGeneration
from packyard.core.services.packages import validate_label
from packyard.core.storage import BlobStore
from packyard.formats import channels
from packyard.formats.conda import index, store
from packyard.formats.conda.models import CondaMember, CondaRecord
from packyard.web.deps import Svc
from packyard.web.serve import Blob, cache_control, serve_blob

FORMAT = "conda"
MAX_REPODATA_BYTES = 4 << 30
"""conda-forge's linux-64 repodata.json is a few hundred MB uncompressed; anything over this is refused."""
MEDIA = {"json": "application/json", "zst": "application/zstd", "bz2": "application/x-bzip2"}
DEFAULT_SUBDIRS = ("linux-64",)
"""What `mirror sync` solves for when the request names no subdir (noarch always comes along)."""
RECORD_BATCH = 5000
"""mirror_records rows written per transaction: a first fetch of a large subdir never holds the writer long."""


@dataclass(frozen=True)
class Proxy:
    """What routes._answer hands back for a mirror owner: answered by `respond` once its read session is closed,
    since the answer may wait on the upstream."""

    owner_id: int
    mirror: MirrorInfo
    label: str
    kind: str
    """"repodata", "run_exports", "channeldata" or "file"."""
    subdir: str = ""
    encoding: str = "json"
    filename: str = ""


def channel_url(mirror: MirrorInfo, label: str) -> str:
    """Upstream's channel for `label`: the upstream itself for main, else its /label/L/."""
    return mirror.upstream if label == "main" else f"{mirror.upstream}label/{label}/"


def index_key(label: str, subdir: str) -> str:
    return f"{label}/{subdir}"


def package_name(filename: str) -> str:
    """The conda name in NAME-VERSION-BUILD.EXT, which the rules match."""
    stem, _ = index.split_filename(filename)
    return stem.rsplit("-", 2)[0]


# --- reading upstream's repodata -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """One record of upstream's repodata that a file can be fetched and verified by."""

    filename: str
    name: str
    url: str
    record: dict[str, Any]


Opener = Callable[[], IO[bytes]]
"""Opens upstream's repodata.json afresh (it is read in more than one pass)."""


def _base_url(open_body: Opener, url: str) -> str:
    """Where upstream's files are: beside its repodata.json, unless `info.base_url` (CEP 15) says otherwise."""
    with open_body() as fh:
        info = next(ijson.items(fh, "info"), None)
    if isinstance(info, dict) and isinstance(info.get("base_url"), str) and info["base_url"]:
        return urljoin(url, str(info["base_url"]).rstrip("/") + "/")
    return urljoin(url, ".")


def read_upstream(open_body: Opener, url: str) -> Iterator[Upstream]:
    """Upstream's repodata.json (fetched from `url`), one record at a time (ijson: memory does not grow with the
    channel). Records without a sha256 or md5 (nothing to verify the file against), or whose file name is no conda
    file, are left out. ValueError: not a repodata document."""
    try:
        with open_body() as fh:
            first = next(ijson.parse(fh), None)
        if first is None or first[1] != "start_map":
            raise ValueError("repodata.json is not a JSON object")
        base = _base_url(open_body, url)
        for key in ("packages", "packages.conda"):
            with open_body() as fh:
                for filename, record in ijson.kvitems(fh, key, use_float=True):
                    if (
                        not isinstance(record, dict)
                        or "/" in filename
                        or not filename.endswith((".conda", ".tar.bz2"))
                        or (key == "packages.conda") != filename.endswith(".conda")
                    ):
                        continue
                    name = record.get("name")
                    if not isinstance(name, str) or not any(
                        isinstance(record.get(h), str) for h in ("sha256", "md5")
                    ):
                        continue
                    yield Upstream(filename, name, base + filename, record)  # no "/" in it: urljoin's answer
    except ijson.JSONError as exc:
        raise ValueError(f"repodata.json does not parse: {exc}") from None


def _digest(value: object) -> str | None:
    return value if isinstance(value, str) else None


def ingest(db: Database, mirror_id: int, key: str) -> Callable[[Path, str], None]:
    """What service.refresh_blob_index calls with upstream's new repodata: bring `mirror_records` of `key` to it,
    writing only the records that changed (a refresh of an unchanged conda-forge subdir writes almost nothing).

    Memory: two sorted arrays of 64-bit hashes, 16 bytes per record (16 MB for a million), never the records: one
    of each previous row (file name, digests and URL together: a record whose hash is there is unchanged), one of
    each upstream file name (a previous row whose name is not there is gone). A collision could only skip the write
    of a changed record whose hash equals another's: odds of about n^2 / 2^64, nil for any real channel."""

    def select_rows() -> Any:
        return (
            select(MirrorRecord.filename, MirrorRecord.sha256, MirrorRecord.md5, MirrorRecord.url)
            .where(MirrorRecord.mirror_id == mirror_id, MirrorRecord.index_key == key)
            .execution_options(yield_per=RECORD_BATCH)  # streamed: not every row in memory at once
        )

    def run(path: Path, url: str) -> None:
        with db.read() as session:
            before = _hashes(hash(tuple(row)) for row in session.execute(select_rows()))
        beside = urljoin(url, ".")
        listed = array("q")
        batch: dict[str, dict[str, Any]] = {}  # by name: a name twice in one upsert is an error on PostgreSQL
        for rec in read_upstream(lambda: open(path, "rb"), url):  # noqa: SIM115 - read_upstream closes it
            beside_it = rec.url.startswith(beside) and len(rec.url) == len(beside) + len(rec.filename)
            row = {
                "filename": rec.filename,
                "name": rec.name,
                "sha256": _digest(rec.record.get("sha256")),
                "md5": _digest(rec.record.get("md5")),
                "url": None if beside_it else rec.url,
            }
            listed.append(hash(rec.filename))
            if not _has(before, hash((rec.filename, row["sha256"], row["md5"], row["url"]))):
                batch[rec.filename] = row
                if len(batch) >= RECORD_BATCH:
                    _upsert(db, mirror_id, key, list(batch.values()))
                    batch = {}
        _upsert(db, mirror_id, key, list(batch.values()))
        if not before:
            return  # nothing was there before: nothing can be gone
        del before
        names = _hashes(listed)
        del listed
        with db.read() as session:  # what upstream no longer lists: by name, read once more
            gone = [f for f, *_ in session.execute(select_rows()) if not _has(names, hash(f))]
        for start in range(0, len(gone), RECORD_BATCH):
            with db.write() as session:
                session.execute(
                    delete(MirrorRecord).where(
                        MirrorRecord.mirror_id == mirror_id,
                        MirrorRecord.index_key == key,
                        MirrorRecord.filename.in_(gone[start : start + RECORD_BATCH]),
                    )
                )

    return run


def _hashes(values: Iterable[int]) -> array[int]:
    return array("q", sorted(values))


def _has(hashes: array[int], value: int) -> bool:
    at = bisect_left(hashes, value)
    return at < len(hashes) and hashes[at] == value


def _upsert(db: Database, mirror_id: int, key: str, batch: list[dict[str, Any]]) -> None:
    if not batch:
        return
    with db.write() as session:
        stmt = core_db.insert(
            session, MirrorRecord.__table__
        )  # Core, not the ORM's bulk path: a third of the time
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["mirror_id", "index_key", "filename"],
                set_={c: stmt.excluded[c] for c in ("name", "sha256", "md5", "url")},
            ),
            [{"mirror_id": mirror_id, "index_key": key, **row} for row in batch],
        )


def fetch_repodata(
    db: Database, store_: BlobStore, mirror: MirrorInfo, label: str, subdir: str, *, ttl: int | None = None
) -> tuple[CachedIndex | None, str | None]:
    """Upstream's repodata for label/subdir as a blob (service.refresh_blob_index), and why upstream could not be
    asked, if so."""
    key = index_key(label, subdir)
    return service.refresh_blob_index(
        db,
        store_,
        mirror,
        key,
        f"{channel_url(mirror, label)}{subdir}/repodata.json",
        ingest(db, mirror.id, key),
        accept="application/json",
        max_bytes=MAX_REPODATA_BYTES,
        ttl=ttl,
    )


def upstream_record(
    db: Database, mirror: MirrorInfo, label: str, subdir: str, filename: str
) -> Upstream | None:
    """What upstream's last repodata says of one file (digests and URL), from `mirror_records`."""
    with db.read() as session:
        row = session.get(MirrorRecord, (mirror.id, index_key(label, subdir), filename))
    if row is None:
        return None
    record = {k: v for k, v in (("sha256", row.sha256), ("md5", row.md5)) if v}
    url = row.url or f"{channel_url(mirror, label)}{subdir}/{filename}"
    return Upstream(filename, row.name, url, record)


# --- the merged documents --------------------------------------------------------------------------------------


def _dumps(record: Any) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits, which orjson refuses and JSON allows
        return index.dumps(record).encode()


def _projection(kind: str) -> Callable[[dict[str, Any]], bytes]:
    """What a document says of one record: repodata.json the record, run_exports.json its run_exports."""
    if kind == "run_exports":
        return lambda record: orjson.dumps({"run_exports": record.get("run_exports") or {}})
    return _dumps


def write_merged(
    write: documents.Write,
    kind: str,
    subdir: str,
    upstream_records: Iterable[Upstream],
    local: Sequence[index.Row],
    rules: Rules,
) -> None:
    """repodata.json (or run_exports.json) of upstream's records merged with the cached ones, written as it is
    read: upstream's record for a file it still lists (its repodata patches apply), the cached record for one it
    removed; what the rules refuse left out. Upstream's records come in its order, "packages" before
    "packages.conda" (read_upstream's order); files live beside the document (no base_url: the mirror serves them)."""
    project = _projection(kind)
    cached = {row.filename: row for row in local}
    info = {"subdir": subdir, "version": 1} if kind == "run_exports" else {"subdir": subdir}
    write(b'{"info":' + orjson.dumps(info) + b',"packages":{')
    section = "packages"
    first = True
    for rec in upstream_records:
        if rec.filename.endswith(".conda") and section == "packages":
            first = _flush_cached(write, cached, ".tar.bz2", project, rules, subdir, first)
            write(b'},"packages.conda":{')
            section, first = "packages.conda", True
        cached.pop(rec.filename, None)
        if rules.file(rec.name, {"subdir": subdir}) is not None:
            continue
        write((b"" if first else b",") + orjson.dumps(rec.filename) + b":" + project(rec.record))
        first = False
    if section == "packages":
        _flush_cached(write, cached, ".tar.bz2", project, rules, subdir, first)
        write(b'},"packages.conda":{')
        first = True
    _flush_cached(write, cached, ".conda", project, rules, subdir, first)
    tail = b"}}" if kind == "run_exports" else b'},"removed":[],"repodata_version":1}'
    write(tail)


def _flush_cached(
    write: documents.Write,
    cached: dict[str, index.Row],
    suffix: str,
    project: Callable[[dict[str, Any]], bytes],
    rules: Rules,
    subdir: str,
    first: bool,
) -> bool:
    """Write the cached records with `suffix` that upstream no longer lists; returns whether none was written
    (and none before)."""
    for filename in sorted(f for f in cached if f.endswith(suffix)):
        row = cached.pop(filename)
        if rules.file(row.name, {"subdir": subdir}) is not None:
            continue
        write((b"" if first else b",") + orjson.dumps(filename) + b":" + project(orjson.loads(row.record)))
        first = False
    return first


def _slice_state(db: Database, identity: Identity, owner_id: int, label: str, subdir: str) -> tuple[str, int]:
    """The audience's key and the slice's generation: what decides whether a rendered document is still right,
    without reading the cached records."""
    with db.read() as session:
        aud = channels.audience(session, identity, owner_id, CondaRecord, "conda")
        generation = session.scalar(
            select(IndexGeneration.generation).where(
                IndexGeneration.format == FORMAT,
                IndexGeneration.owner_id == owner_id,
                IndexGeneration.label == label,
                IndexGeneration.key == subdir,
            )
        )
        return aud.key, generation or 0


def _any_cached(db: Database, owner_id: int, label: str, subdir: str) -> bool:
    with db.read() as session:
        return bool(
            session.scalar(
                select(
                    exists().where(
                        CondaMember.owner_id == owner_id,
                        CondaMember.label == label,
                        CondaMember.subdir == subdir,
                    )
                )
            )
        )


def _local_rows(db: Database, identity: Identity, owner_id: int, label: str, subdir: str) -> list[index.Row]:
    """The cached records of the slice the caller may see."""
    with db.read() as session:
        aud = channels.audience(session, identity, owner_id, CondaRecord, "conda")
        return store.slice_rows(session, owner_id, label, subdir, None if not aud.hidden else aud.visible)


def _upstream_of(store_: BlobStore, cached: CachedIndex | None, url: str) -> Iterable[Upstream]:
    if cached is None or cached.blob is None:
        return ()
    blob = cached.blob
    return read_upstream(lambda: store_.open(blob), url)


def render(
    db: Database,
    store_: BlobStore,
    identity: Identity,
    mirror: MirrorInfo,
    label: str,
    subdir: str,
    kind: str,
    cached: CachedIndex | None,
) -> documents.Rendered:
    """The merged repodata.json (or run_exports.json) of label/subdir for the caller, rendered into a blob unless
    a rendering from the same inputs exists (core/mirrors/documents.py)."""
    audience, generation = _slice_state(db, identity, mirror.owner_id, label, subdir)
    blob = cached.blob if cached is not None else None
    source = documents.source_key(kind, subdir, blob, generation, audience, mirror.include, mirror.exclude)
    url = f"{channel_url(mirror, label)}{subdir}/repodata.json"

    def write_document(write: documents.Write) -> None:
        local = _local_rows(db, identity, mirror.owner_id, label, subdir)
        write_merged(write, kind, subdir, _upstream_of(store_, cached, url), local, mirror.rules)

    name = "run_exports.json" if kind == "run_exports" else "repodata.json"
    return documents.render(
        db, store_, mirror.id, f"{label}/{subdir}/{name}", audience, source, write_document
    )


# --- answering the routes --------------------------------------------------------------------------------------


def respond(proxy: Proxy, request: Request, svc: Svc, identity: Identity) -> Response | None:
    """The answer to a mirror's document, or None once a file is stored (the route then serves it as any file)."""
    owner = service.owner_of(svc.db, proxy.owner_id)
    mirror = proxy.mirror
    validate_label(proxy.label)
    where = owner.login if proxy.label == "main" else f"{owner.login}/label/{proxy.label}"
    if proxy.kind == "file":
        what = f"{where}/{proxy.subdir}/{proxy.filename}"
        service.require_use(identity, owner, mirror, what, "conda")
        _fetch_file(svc, owner, mirror, proxy, what)
        return None
    service.require_use(identity, owner, mirror, f"the channel {where}", "conda")
    if proxy.kind == "channeldata":
        return _channeldata(request, svc, identity, mirror, proxy.label)
    return _document(request, svc, identity, mirror, proxy, where)


def _serve(
    request: Request, svc: Svc, mirror: MirrorInfo, doc: documents.Rendered, encoding: str, offline: bool
) -> Response:
    blob = Blob(
        sha256=doc.sha256,
        etag=doc.sha256[:32],
        public=mirror.public,
        media_type=MEDIA[encoding],
        size=doc.size,
        immutable=False,
    )
    headers = {
        "Cache-Control": cache_control(mirror.public, max_age=30),
        "Vary": "Authorization",
        **(service.STALE if offline else {}),
    }
    return serve_blob(svc, request, blob, headers=headers)


def _document(
    request: Request, svc: Svc, identity: Identity, mirror: MirrorInfo, proxy: Proxy, where: str
) -> Response:
    cached, offline = fetch_repodata(svc.db, svc.store, mirror, proxy.label, proxy.subdir)
    if (
        (cached is None or cached.blob is None)
        and offline is not None
        and not _any_cached(svc.db, mirror.owner_id, proxy.label, proxy.subdir)
    ):
        raise service.unreachable_error(mirror, upstream.Unreachable(offline), f"{where}/{proxy.subdir}")
    doc = render(svc.db, svc.store, identity, mirror, proxy.label, proxy.subdir, proxy.kind, cached)
    if proxy.encoding != "json":
        doc = documents.variant(svc.db, svc.store, doc, proxy.encoding)
    return _serve(request, svc, mirror, doc, proxy.encoding, offline is not None)


def _channeldata(request: Request, svc: Svc, identity: Identity, mirror: MirrorInfo, label: str) -> Response:
    """channeldata.json of the subdirs seen so far (fetched from upstream, or cached): not upstream's whole
    channel, whose subdirs the mirror only learns when a client asks for them. Rendered once per change of any of
    them, as the repodata is; per package it keeps only the newest version's fields, so memory follows the number
    of package names, not of records."""
    prefix = f"{label}/"
    subdirs = {key[len(prefix) :] for key in service.index_keys(svc.db, mirror.id, prefix)}
    with svc.db.read() as session:
        subdirs |= set(
            session.scalars(
                select(CondaRecord.subdir).where(CondaRecord.owner_id == mirror.owner_id).distinct()
            )
        )
    inputs = []
    for subdir in sorted(subdirs):
        cached = service.cached_index(svc.db, mirror.id, f"{prefix}{subdir}")
        audience, generation = _slice_state(svc.db, identity, mirror.owner_id, label, subdir)
        inputs.append((subdir, cached, cached.blob if cached is not None else None, generation, audience))
    audience = inputs[0][4] if inputs else "all"
    source = documents.source_key(
        "channeldata", [i[0] for i in inputs], [i[2:] for i in inputs], mirror.include, mirror.exclude
    )

    def write_document(write: documents.Write) -> None:
        per_subdir: dict[str, Iterable[index.Row]] = {}
        for subdir, cached, _, _, _ in inputs:
            per_subdir[subdir] = _merged_rows(svc, identity, mirror, label, subdir, cached)
        write(index.channeldata(per_subdir, {}))

    doc = documents.render(
        svc.db, svc.store, mirror.id, f"{label}/channeldata.json", audience, source, write_document
    )
    return _serve(request, svc, mirror, doc, "json", False)


def _merged_rows(
    svc: Svc, identity: Identity, mirror: MirrorInfo, label: str, subdir: str, cached: CachedIndex | None
) -> Iterator[index.Row]:
    """The merged records of a subdir as index rows, one at a time (for channeldata)."""
    local = _local_rows(svc.db, identity, mirror.owner_id, label, subdir)
    url = f"{channel_url(mirror, label)}{subdir}/repodata.json"
    cached_rows = {row.filename: row for row in local}
    for rec in _upstream_of(svc.store, cached, url):
        cached_rows.pop(rec.filename, None)
        if mirror.rules.file(rec.name, {"subdir": subdir}) is None:
            yield index.Row(rec.name, rec.filename, _dumps(rec.record).decode())
    for row in cached_rows.values():
        if mirror.rules.file(row.name, {"subdir": subdir}) is None:
            yield row


def _fetch_file(svc: Svc, owner: Account, mirror: MirrorInfo, proxy: Proxy, what: str) -> None:
    try:
        name = package_name(proxy.filename)
    except ValueError:
        raise NotFound(f"{what}: not a conda package file name") from None
    service.refuse(mirror, name, {"subdir": proxy.subdir}, proxy.filename)
    cached, offline = fetch_repodata(svc.db, svc.store, mirror, proxy.label, proxy.subdir)
    entry = upstream_record(svc.db, mirror, proxy.label, proxy.subdir, proxy.filename)
    if entry is None and offline is None and cached is not None and cached.fresh(mirror.ttl):
        # A fresh copy that lacks the file: upstream may have added it since; ask once more, ignoring the TTL.
        cached, offline = fetch_repodata(svc.db, svc.store, mirror, proxy.label, proxy.subdir, ttl=0)
        entry = upstream_record(svc.db, mirror, proxy.label, proxy.subdir, proxy.filename)
    if entry is None or cached is None or not cached.found:
        if offline is not None:
            raise service.unreachable_error(mirror, upstream.Unreachable(offline), what)
        raise NotFound(f"{what}: upstream {upstream.redacted(mirror.upstream)} has no such file")
    store_file(svc.db, svc.store, mirror, owner, proxy.label, proxy.subdir, entry)


def store_file(
    db: Database,
    store_: BlobStore,
    mirror: MirrorInfo,
    owner: Account,
    label: str,
    subdir: str,
    entry: Upstream,
) -> None:
    expected = service.Expected(
        sha256=_digest(entry.record.get("sha256")), md5=_digest(entry.record.get("md5"))
    )
    basename = f"{subdir}/{entry.filename}"
    try:
        service.store_fetched(db, store_, mirror, owner, entry.url, basename, expected, FORMAT, label=label)
    except upstream.Unreachable as exc:
        service.record_unreachable(db, mirror.id, exc.message)
        raise service.unreachable_error(mirror, exc, f"{owner.login}/{basename}") from None


# --- mirroring ahead of time -----------------------------------------------------------------------------------

_VIRTUAL = {
    "linux": (("__unix", "0"), ("__linux", "6.8"), ("__glibc", "2.39")),
    "osx": (("__unix", "0"), ("__osx", "15.0")),
    "win": (("__win", "0"),),
}
"""The virtual packages a current machine of each platform has: a sync fills the mirror for such machines, not
for the server's own (which may be any platform, or none of them)."""


def _virtual_packages(subdir: str) -> list[Any]:
    import rattler

    system, _, arch = subdir.partition("-")
    found = [
        rattler.GenericVirtualPackage(rattler.PackageName(n), rattler.Version(v), rattler.BuildString("0"))
        for n, v in _VIRTUAL.get(system, ())
    ]
    archspec = {"64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "ppc64le": "ppc64le"}.get(arch)
    if archspec:
        found.append(
            rattler.GenericVirtualPackage(
                rattler.PackageName("__archspec"), rattler.Version("1"), rattler.BuildString(archspec)
            )
        )
    return found


def _local_copy(store_: BlobStore, sha256: str, folder: Path, subdir: str) -> Path:
    """A path py-rattler can read the rendered repodata from: the blob itself on a local store, else a copy."""
    found = store_.local_path(sha256)
    if found is not None:
        return found
    path = folder / subdir / "repodata.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with store_.open(sha256) as source, open(path, "wb") as target:
        shutil.copyfileobj(source, target, documents.CHUNK)
    return path


def sync(db: Database, store_: BlobStore, mirror_id: int, request: SyncRequest) -> list[str]:
    """`packyard mirror sync` for conda: solve the requested match specs with py-rattler's solver, for each
    requested subdir (with noarch), against the mirror's own merged view (upstream's records the rules allow, plus
    what is cached, label main), with the virtual packages of a current machine of that platform; then fetch every
    file of the solution (with `deps` false, only the files of the packages named). Returns the files fetched."""
    try:
        import rattler
        from rattler.exceptions import InvalidMatchSpecError, SolverError
    except ImportError:
        raise BadRequest(
            "syncing a conda mirror needs py-rattler on the server: pip install 'packyard[env]'"
        ) from None
    mirror, owner = service.by_id(db, mirror_id)
    subdirs = [s for s in (request.subdirs or DEFAULT_SUBDIRS) if s != "noarch"] or ["noarch"]
    for subdir in subdirs:
        if not store.SUBDIR.fullmatch(subdir):
            raise BadRequest(f"{subdir!r} is not a conda subdir (e.g. linux-64, osx-arm64, noarch)")
    try:
        specs = [rattler.MatchSpec(p) for p in request.packages]
    except InvalidMatchSpecError as exc:
        raise BadRequest(f"not a conda match spec: {exc}") from None
    for spec in specs:
        if spec.name is not None:
            service.refuse(mirror, spec.name.normalized)
    identity = service.fetcher(owner)
    fetched: list[str] = []
    channel = rattler.Channel(mirror.name)
    for subdir in subdirs:
        with tempfile.TemporaryDirectory(prefix="packyard-sync-") as tmp:
            sparse = []
            for sd in dict.fromkeys((subdir, "noarch")):
                cached, offline = fetch_repodata(db, store_, mirror, "main", sd)
                if (cached is None or cached.blob is None) and offline is not None:
                    raise service.unreachable_error(
                        mirror, upstream.Unreachable(offline), f"{mirror.name}/{sd}"
                    )
                doc = render(db, store_, identity, mirror, "main", sd, "repodata", cached)
                path = _local_copy(store_, doc.sha256, Path(tmp), sd)
                sparse.append(rattler.SparseRepoData(channel, sd, path))
            try:
                records = asyncio.run(  # a worker thread of the sync route: no loop runs here
                    rattler.solve_with_sparse_repodata(
                        specs, sparse, virtual_packages=_virtual_packages(subdir)
                    )
                )
            except SolverError as exc:
                raise BadRequest(f"the packages cannot be installed together on {subdir}: {exc}") from None
        wanted = {spec.name.normalized for spec in specs if spec.name is not None}
        for record in records:
            if not request.deps and record.name.normalized not in wanted:
                continue
            found = upstream_record(db, mirror, "main", record.subdir, record.file_name)
            if found is None:
                continue  # cached already, and gone from upstream
            store_file(db, store_, mirror, owner, "main", record.subdir, found)
            if record.file_name not in fetched:
                fetched.append(record.file_name)
    return fetched
