"""conda's part of a mirror (core/mirrors): upstream's repodata merged with what is cached, files fetched on first
request, and `packyard mirror sync` solved with py-rattler.

The upstream is a channel URL (`http://HOST/conda/OWNER`, `https://conda.anaconda.org/conda-forge`); the mirror's
label L is upstream's `UPSTREAM/label/L` (main: the channel itself).

/conda/NAME[/label/L]/SUBDIR/repodata.json   (and .zst/.bz2, current_repodata.json, repodata_from_packages.json,
        run_exports.json, as the live channels serve them) upstream's records for SUBDIR (its repodata.json, kept
        in `mirror_indexes` as "L/SUBDIR" and asked for again once older than the TTL) merged with the records of
        the files cached here: a cached file stays listed after upstream removes it; a file upstream still lists
        is listed with upstream's record (which carries upstream's repodata patches). Records the rules refuse
        (by name, or "subdir:...") are left out. Sharded repodata (CEP 16) is not proxied: the shard index is a
        404, on which rattler reads repodata.json.
/conda/NAME[/label/L]/channeldata.json   built from the subdirs fetched so far and the cached packages.
/conda/NAME[/label/L]/SUBDIR/FILE   a cached file is served as any file is (routes._package_file); the first GET
        of another streams it from upstream, checks the sha256 (and md5) upstream's record gives, stores it through
        `add_file` under label L (as the mirror's fetcher, parsed as an upload is) and serves it like the rest.

Offline, the cached records are served with `service.STALE`; a file never cached is a 502/504.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from fastapi import Request, Response
from sqlalchemy import select

from packyard.core import indexes
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, NotFound
from packyard.core.formats import SyncRequest
from packyard.core.mirrors import service, upstream
from packyard.core.mirrors.service import CachedIndex, MirrorInfo
from packyard.core.models import Account, IndexGeneration
from packyard.core.services.packages import validate_label
from packyard.core.storage import BlobStore
from packyard.formats import channels
from packyard.formats.conda import index, store
from packyard.formats.conda.models import CondaRecord
from packyard.web.deps import Svc
from packyard.web.serve import cache_control

FORMAT = "conda"
MAX_REPODATA_BYTES = 1 << 30
"""conda-forge's linux-64 repodata.json is a few hundred MB uncompressed; anything over this is refused."""
MEDIA = {"json": "application/json", "zst": "application/zstd", "bz2": "application/x-bzip2"}
DEFAULT_SUBDIRS = ("linux-64",)
"""What `mirror sync` solves for when the request names no subdir (noarch always comes along)."""


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


def parse_repodata(url: str, body: bytes) -> list[dict[str, Any]]:
    """Upstream's repodata.json (fetched from `url`) -> entries {filename, name, url, record}. Records without a
    sha256 or md5 (nothing to verify the file against) or with a file name that is no conda file are left out.
    Files live beside the repodata unless `info.base_url` (CEP 15) says where."""
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("repodata.json is not a JSON object")
    info: dict[str, Any] = doc["info"] if isinstance(doc.get("info"), dict) else {}
    base = url  # files beside repodata.json
    if isinstance(info.get("base_url"), str) and info["base_url"]:
        base = urljoin(url, info["base_url"].rstrip("/") + "/")
    out = []
    for key in ("packages", "packages.conda"):
        records = doc.get(key)
        for filename, record in (records if isinstance(records, dict) else {}).items():
            if (
                not isinstance(record, dict)
                or "/" in filename
                or not filename.endswith((".conda", ".tar.bz2"))
            ):
                continue
            name = record.get("name")
            if not isinstance(name, str) or not any(
                isinstance(record.get(h), str) for h in ("sha256", "md5")
            ):
                continue
            out.append({"filename": filename, "name": name, "url": urljoin(base, filename), "record": record})
    return out


def fetch_repodata(
    db: Database, mirror: MirrorInfo, label: str, subdir: str, *, ttl: int | None = None
) -> tuple[CachedIndex | None, str | None]:
    """Upstream's entries for label/subdir (service.refresh_index), and why upstream could not be asked, if so."""
    if ttl is not None:
        mirror = dataclasses.replace(mirror, ttl=ttl)
    url = f"{channel_url(mirror, label)}{subdir}/repodata.json"
    return service.refresh_index(
        db,
        mirror,
        index_key(label, subdir),
        url,
        lambda page: parse_repodata(page.url, page.body),
        accept="application/json",
        max_bytes=MAX_REPODATA_BYTES,
    )


# --- the merged repodata ---------------------------------------------------------------------------------------


def merge(
    local: Sequence[index.Row], entries: Sequence[Mapping[str, Any]], mirror: MirrorInfo, subdir: str
) -> list[index.Row]:
    """The cached files' records with upstream's: upstream's record for a file it still lists (its repodata
    patches apply), the cached record for one it removed; what the rules refuse left out."""
    rules = mirror.rules
    rows = {row.filename: row for row in local}
    for entry in entries:
        rows[str(entry["filename"])] = index.Row(
            str(entry["name"]), str(entry["filename"]), index.dumps(entry["record"])
        )
    return [row for row in rows.values() if rules.file(row.name, {"subdir": subdir}) is None]


def _local_rows(
    db: Database, identity: Identity, owner_id: int, label: str, subdir: str
) -> tuple[list[index.Row], str, int]:
    """The cached records of the slice the caller may see, the audience's cache key, and the slice's generation."""
    with db.read() as session:
        aud = channels.audience(session, identity, owner_id, CondaRecord, "conda")
        rows = store.slice_rows(session, owner_id, label, subdir, None if not aud.hidden else aud.visible)
        generation = session.scalar(
            select(IndexGeneration.generation).where(
                IndexGeneration.format == FORMAT,
                IndexGeneration.owner_id == owner_id,
                IndexGeneration.label == label,
                IndexGeneration.key == subdir,
            )
        )
        return rows, aud.key, generation or 0


def merged_rows(
    db: Database, identity: Identity, mirror: MirrorInfo, label: str, subdir: str, cached: CachedIndex | None
) -> list[index.Row]:
    local, _, _ = _local_rows(db, identity, mirror.owner_id, label, subdir)
    return merge(local, cached.entries if cached is not None else [], mirror, subdir)


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


def _headers(mirror: MirrorInfo, offline: bool) -> dict[str, str]:
    return {
        "Cache-Control": cache_control(mirror.public, max_age=30),
        "Vary": "Authorization",
        **(service.STALE if offline else {}),
    }


def _document(
    request: Request, svc: Svc, identity: Identity, mirror: MirrorInfo, proxy: Proxy, where: str
) -> Response:
    cached, offline = fetch_repodata(svc.db, mirror, proxy.label, proxy.subdir)
    local, audience, generation = _local_rows(svc.db, identity, mirror.owner_id, proxy.label, proxy.subdir)
    if cached is None and offline is not None and not local:
        raise service.unreachable_error(mirror, upstream.Unreachable(offline), f"{where}/{proxy.subdir}")
    fetched = cached.fetched_at.isoformat() if cached is not None else ""
    key = ("conda-mirror", mirror.id, proxy.label, proxy.subdir, proxy.kind, fetched, generation, audience)

    def build() -> indexes.Document:
        rows = merge(local, cached.entries if cached is not None else [], mirror, proxy.subdir)
        if proxy.kind == "run_exports":
            return indexes.Document(index.run_exports(proxy.subdir, rows))
        return indexes.Document(index.repodata(proxy.subdir, rows))

    cache: indexes.IndexCache = request.app.state.index_cache
    doc = cache.get_or_build(key, build)
    etag = doc.variant_etag(proxy.encoding)
    headers = {"ETag": etag, **_headers(mirror, offline is not None)}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(doc.variant(proxy.encoding), media_type=MEDIA[proxy.encoding], headers=headers)


def _channeldata(request: Request, svc: Svc, identity: Identity, mirror: MirrorInfo, label: str) -> Response:
    """channeldata.json of the subdirs seen so far (fetched from upstream, or cached): not upstream's whole
    channel, whose subdirs the mirror only learns when a client asks for them."""
    prefix = f"{label}/"
    subdirs = {key[len(prefix) :] for key in service.index_keys(svc.db, mirror.id, prefix)}
    with svc.db.read() as session:
        subdirs |= set(
            session.scalars(
                select(CondaRecord.subdir).where(CondaRecord.owner_id == mirror.owner_id).distinct()
            )
        )
    per_subdir = {}
    for subdir in sorted(subdirs):
        rows = merged_rows(
            svc.db,
            identity,
            mirror,
            label,
            subdir,
            service.cached_index(svc.db, mirror.id, f"{prefix}{subdir}"),
        )
        if rows:
            per_subdir[subdir] = rows
    body = index.channeldata(per_subdir, {})
    doc = indexes.Document(body)
    return Response(body, media_type=MEDIA["json"], headers={"ETag": doc.etag, **_headers(mirror, False)})


def _entry(cached: CachedIndex | None, filename: str) -> Mapping[str, Any] | None:
    return next((e for e in (cached.entries if cached else []) if e["filename"] == filename), None)


def _fetch_file(svc: Svc, owner: Account, mirror: MirrorInfo, proxy: Proxy, what: str) -> None:
    try:
        name = package_name(proxy.filename)
    except ValueError:
        raise NotFound(f"{what}: not a conda package file name") from None
    service.refuse(mirror, name, {"subdir": proxy.subdir}, proxy.filename)
    cached, offline = fetch_repodata(svc.db, mirror, proxy.label, proxy.subdir)
    entry = _entry(cached, proxy.filename)
    if entry is None and offline is None and cached is not None and cached.fresh(mirror.ttl):
        # A fresh copy that lacks the file: upstream may have added it since; ask once more, ignoring the TTL.
        cached, offline = fetch_repodata(svc.db, mirror, proxy.label, proxy.subdir, ttl=0)
        entry = _entry(cached, proxy.filename)
    if entry is None:
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
    entry: Mapping[str, Any],
) -> None:
    record = entry["record"]
    expected = service.Expected(
        sha256=record["sha256"] if isinstance(record.get("sha256"), str) else None,
        md5=record["md5"] if isinstance(record.get("md5"), str) else None,
    )
    basename = f"{subdir}/{entry['filename']}"
    try:
        service.store_fetched(
            db, store_, mirror, owner, str(entry["url"]), basename, expected, FORMAT, label=label
        )
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


def _write_repodata(folder: Path, subdir: str, rows: Sequence[index.Row]) -> Path:
    path = folder / subdir / "repodata.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(index.repodata(subdir, rows))
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
    entries: dict[tuple[str, str], Mapping[str, Any]] = {}
    fetched: list[str] = []
    channel = rattler.Channel(mirror.name)
    for subdir in subdirs:
        with tempfile.TemporaryDirectory(prefix="packyard-sync-") as tmp:
            sparse = []
            for sd in dict.fromkeys((subdir, "noarch")):
                cached, offline = fetch_repodata(db, mirror, "main", sd)
                if cached is None and offline is not None:
                    raise service.unreachable_error(
                        mirror, upstream.Unreachable(offline), f"{mirror.name}/{sd}"
                    )
                for entry in cached.entries if cached is not None else []:
                    entries[(sd, str(entry["filename"]))] = entry
                rows = merged_rows(db, identity, mirror, "main", sd, cached)
                sparse.append(rattler.SparseRepoData(channel, sd, _write_repodata(Path(tmp), sd, rows)))
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
            found = entries.get((record.subdir, record.file_name))
            if found is None:
                continue  # cached already, and gone from upstream
            store_file(db, store_, mirror, owner, "main", record.subdir, found)
            if record.file_name not in fetched:
                fetched.append(record.file_name)
    return fetched
