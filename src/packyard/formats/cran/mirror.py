"""CRAN's part of a mirror (core/mirrors): upstream's PACKAGES merged with what is cached, files fetched on first
request, and `packyard mirror sync` following Depends/Imports/LinkingTo.

The upstream is a CRAN-like repository URL (`https://cloud.r-project.org/`, `http://HOST/cran/OWNER/`); each
repository slice (src/contrib, bin/windows/contrib/X.Y, bin/macosx/.../contrib/X.Y) is proxied from the same
path under it.

/cran/NAME/src/contrib/PACKAGES[.gz]   upstream's PACKAGES for the slice (kept in `mirror_indexes` under the slice
        path, asked for again once older than the TTL) merged with the cached files: the newest version of each
        package either side has, so a cached package stays listed after upstream removes it; packages the rules
        refuse are left out. PACKAGES.rds is a 404, as on the live route: R then reads PACKAGES.gz.
/cran/NAME/src/contrib/PKG_VER.tar.gz   (and Archive/PKG/PKG_VER.tar.gz) a cached file is served as any file is;
        another is fetched from upstream when upstream's PACKAGES lists it, verified against its MD5sum (the only
        digest a CRAN index gives), stored through `add_file` and then served.
/cran/NAME/src/contrib/Archive/PKG/PKG_VER.tar.gz   a version upstream keeps only in its Archive is in no index,
        so there is no digest to check it against: its first GET fetches upstream's
        src/contrib/Archive/PKG/PKG_VER.tar.gz anyway and trusts it on first use (over the transport, https for
        CRAN). Its sha256 is recorded as every stored file's is (the files row, the event, the snapshot history),
        and from then on the cached bytes are served: a later change upstream is never picked up. The rules and
        offline mode apply as to any file (an unreachable upstream is a 502/504, not a guess).

Only the label main is proxied (CRAN repositories have no labels). Offline, the cached index is served with
`service.STALE`; a file never cached is a 502/504.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from fastapi import Request, Response
from sqlalchemy import select

from packyard.core import indexes
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import NotFound, PackyardError
from packyard.core.formats import SyncRequest
from packyard.core.mirrors import service, upstream
from packyard.core.mirrors.service import CachedIndex, MirrorInfo
from packyard.core.models import Account, FileLabel, IndexGeneration, Label
from packyard.core.storage import BlobStore
from packyard.formats import channels
from packyard.formats.cran import index, store
from packyard.formats.cran.models import CranFile
from packyard.web.deps import Svc
from packyard.web.serve import cache_control

FORMAT = "cran"
EXTENSIONS = {"source": "tar.gz", "win.binary": "zip", "mac.binary": "tgz"}
BASE_PACKAGES = frozenset(
    [
        "R",
        "base",
        "compiler",
        "datasets",
        "graphics",
        "grDevices",
        "grid",
        "methods",
        "parallel",
        "splines",
        "stats",
        "stats4",
        "tcltk",
        "tools",
        "utils",
    ]
)
"""What R itself provides: never in a repository, so never a dependency to fetch."""
_DEPENDENCY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9.]*)")


@dataclass(frozen=True)
class Slice:
    """One repository slice: its path (e.g. "src/contrib"), R's type and the R version of binaries."""

    path: str
    kind: str
    r_version: str

    @property
    def key(self) -> str:
        return store.slice_key(self.kind, self.r_version)


SOURCE = Slice("src/contrib", "source", "")


@dataclass(frozen=True)
class Proxy:
    """What routes._answer hands back for a mirror owner, answered by `respond` once its read session is closed."""

    owner_id: int
    mirror: MirrorInfo
    slice: Slice
    kind: str
    """"packages" or "file"."""
    gz: bool = False
    filename: str = ""
    archive: bool = False
    """A file asked for under src/contrib/Archive/PKG/: upstream may keep it there without listing it."""


# --- reading upstream's PACKAGES -------------------------------------------------------------------------------


def parse_dcf(text: str) -> list[dict[str, str]]:
    """Debian control format, as PACKAGES is written: records separated by blank lines, "Field: value" lines and
    indented continuation lines (joined with a space)."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += " " + line.strip()
        else:
            field, sep, value = line.partition(":")
            if not sep or not field.strip():
                raise ValueError(f"not a PACKAGES line: {line[:80]!r}")
            last = field.strip()
            current[last] = value.strip()
    if current:
        records.append(current)
    return records


def parse_packages(url: str, body: bytes, slice_: Slice) -> list[dict[str, Any]]:
    """Upstream's PACKAGES (fetched from `url`) -> entries {package, version, filename, url, md5, fields}. Records
    without an MD5sum (nothing to verify the file against) are left out."""
    out = []
    for rec in parse_dcf(body.decode("utf-8", "replace")):
        package, version, md5 = rec.get("Package", ""), rec.get("Version", ""), rec.get("MD5sum", "")
        if not _DEPENDENCY.fullmatch(package) or not re.fullmatch(r"[0-9][0-9.-]*", version):
            continue
        if not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            continue
        filename = f"{package}_{version}.{EXTENSIONS[slice_.kind]}"
        folder = rec["Path"].strip("/") + "/" if rec.get("Path") else ""
        fields = {
            k: v for k, v in rec.items() if k in index.PACKAGES_FIELDS and k not in ("Package", "Version")
        }
        fields.pop("Path", None)
        out.append(
            {
                "package": package,
                "version": version,
                "filename": filename,
                "url": urljoin(url, folder + filename),
                "md5": md5.lower(),
                "fields": fields,
            }
        )
    return out


def fetch_packages(
    db: Database, mirror: MirrorInfo, slice_: Slice, *, ttl: int | None = None
) -> tuple[CachedIndex | None, str | None]:
    """Upstream's entries for the slice (service.refresh_index), and why upstream could not be asked, if so."""
    if ttl is not None:
        mirror = dataclasses.replace(mirror, ttl=ttl)
    url = f"{mirror.upstream}{slice_.path}/PACKAGES"
    return service.refresh_index(
        db,
        mirror,
        slice_.path,
        url,
        lambda page: parse_packages(page.url, page.body, slice_),
        accept="text/plain",
    )


# --- the merged PACKAGES ---------------------------------------------------------------------------------------


def merge(
    local: Sequence[index.Row], entries: Sequence[Mapping[str, Any]], mirror: MirrorInfo
) -> list[index.Row]:
    """The cached files with upstream's entries (index.packages then lists the newest version of each); what
    the rules refuse left out."""
    rows = {(row.package, row.version): row for row in local}
    for e in entries:
        rows.setdefault(
            (str(e["package"]), str(e["version"])), index.Row(e["package"], e["version"], e["fields"])
        )
    return [row for row in rows.values() if mirror.rules.project(row.package) is None]


def _local_rows(
    db: Database, identity: Identity, owner_id: int, slice_: Slice
) -> tuple[list[index.Row], str, int]:
    with db.read() as session:
        aud = channels.audience(session, identity, owner_id, CranFile, "cran")
        rows = session.execute(
            select(CranFile.package, CranFile.version, CranFile.fields, CranFile.package_id)
            .join(FileLabel, FileLabel.file_id == CranFile.file_id)
            .join(Label, Label.id == FileLabel.label_id)
            .where(
                Label.name == "main",
                CranFile.owner_id == owner_id,
                CranFile.kind == slice_.kind,
                CranFile.r_version == slice_.r_version,
            )
        ).all()
        generation = session.scalar(
            select(IndexGeneration.generation).where(
                IndexGeneration.format == store.FORMAT,
                IndexGeneration.owner_id == owner_id,
                IndexGeneration.label == "main",
                IndexGeneration.key == slice_.key,
            )
        )
        visible = [index.Row(p, v, fields) for p, v, fields, pid in rows if aud.sees(pid)]
        return visible, aud.key, generation or 0


# --- answering the routes --------------------------------------------------------------------------------------


def respond(proxy: Proxy, request: Request, svc: Svc, identity: Identity) -> Response | None:
    """The answer to a mirror's PACKAGES, or None once a file is stored (the route then serves it as any file)."""
    owner = service.owner_of(svc.db, proxy.owner_id)
    mirror = proxy.mirror
    if proxy.kind == "file":
        what = f"{owner.login}/{proxy.slice.path}/{proxy.filename}"
        service.require_use(identity, owner, mirror, what, "cran")
        _fetch_file(svc, owner, mirror, proxy.slice, proxy.filename, what, archive=proxy.archive)
        return None
    service.require_use(identity, owner, mirror, f"the R repository of {owner.login}", "cran")
    cached, offline = fetch_packages(svc.db, mirror, proxy.slice)
    local, audience, generation = _local_rows(svc.db, identity, mirror.owner_id, proxy.slice)
    if cached is None and offline is not None and not local:
        raise service.unreachable_error(
            mirror, upstream.Unreachable(offline), f"{owner.login}/{proxy.slice.path}"
        )
    fetched = cached.fetched_at.isoformat() if cached is not None else ""
    key = ("cran-mirror", mirror.id, proxy.slice.key, fetched, generation, audience)

    def build() -> indexes.Document:
        rows = merge(local, cached.entries if cached is not None else [], mirror)
        return indexes.Document(index.packages(rows), media_type="text/plain; charset=utf-8")

    cache: indexes.IndexCache = request.app.state.index_cache
    doc = cache.get_or_build(key, build)
    encoding = "gz" if proxy.gz else "json"
    etag = doc.variant_etag(encoding)
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control(mirror.public, max_age=30),
        "Vary": "Authorization",
        **(service.STALE if offline is not None else {}),
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media = "application/x-gzip" if proxy.gz else "text/plain; charset=utf-8"
    return Response(doc.variant(encoding), media_type=media, headers=headers)


def package_of(filename: str) -> str:
    return filename.split("_", 1)[0]


def _entry(cached: CachedIndex | None, filename: str) -> Mapping[str, Any] | None:
    return next((e for e in (cached.entries if cached else []) if e["filename"] == filename), None)


def _fetch_file(
    svc: Svc, owner: Account, mirror: MirrorInfo, slice_: Slice, filename: str, what: str, *, archive: bool
) -> None:
    service.refuse(mirror, package_of(filename), what=filename)
    cached, offline = fetch_packages(svc.db, mirror, slice_)
    entry = _entry(cached, filename)
    if entry is None and offline is None and cached is not None and cached.fresh(mirror.ttl):
        cached, offline = fetch_packages(svc.db, mirror, slice_, ttl=0)  # upstream may have added it since
        entry = _entry(cached, filename)
    if entry is None:
        if offline is not None:
            raise service.unreachable_error(mirror, upstream.Unreachable(offline), what)
        if archive and slice_ == SOURCE:
            entry = archived_entry(mirror, filename)
        else:
            hint = (
                f" (an older version is fetched from upstream's Archive at src/contrib/Archive/"
                f"{package_of(filename)}/{filename})"
                if slice_ == SOURCE
                else ""
            )
            raise NotFound(
                f"{what}: upstream {upstream.redacted(mirror.upstream)}'s PACKAGES does not list it, and it is "
                f"not cached{hint}"
            )
    store_file(svc.db, svc.store, mirror, owner, entry)


def archived_entry(mirror: MirrorInfo, filename: str) -> dict[str, Any]:
    """The entry of a source version upstream keeps only in src/contrib/Archive/PKG/ (as CRAN lays it out, and
    as a Packyard upstream serves it), with no digest: `store_file` fetches it trusting it on first use."""
    package = package_of(filename)
    return {
        "package": package,
        "filename": filename,
        "url": f"{mirror.upstream}{SOURCE.path}/Archive/{package}/{filename}",
        "md5": None,
    }


def store_file(
    db: Database, store_: BlobStore, mirror: MirrorInfo, owner: Account, entry: Mapping[str, Any]
) -> None:
    filename = str(entry["filename"])
    try:
        service.store_fetched(
            db,
            store_,
            mirror,
            owner,
            str(entry["url"]),
            filename,
            service.Expected(md5=str(entry["md5"])) if entry["md5"] else service.Expected(first_use=True),
            "r",
        )
    except upstream.Unreachable as exc:
        service.record_unreachable(db, mirror.id, exc.message)
        raise service.unreachable_error(mirror, exc, f"{owner.login}/{filename}") from None


# --- mirroring ahead of time -----------------------------------------------------------------------------------


def dependencies(fields: Mapping[str, Any]) -> list[str]:
    """The packages a package needs installed: Depends, Imports and LinkingTo (not Suggests, as
    install.packages' default), without R itself and its base packages."""
    out = []
    for field in ("Depends", "Imports", "LinkingTo"):
        for part in str(fields.get(field) or "").split(","):
            match = _DEPENDENCY.match(part)
            if match and match.group(1) not in BASE_PACKAGES:
                out.append(match.group(1))
    return out


def sync(db: Database, store_: BlobStore, mirror_id: int, request: SyncRequest) -> list[str]:
    """`packyard mirror sync` for CRAN: each named source package's current version upstream (with `deps`,
    then its Depends/Imports/LinkingTo, recursively). A named package that is missing or refused fails the call;
    a dependency that is (a recommended package the upstream lacks, say) is skipped. Returns the files fetched."""
    mirror, owner = service.by_id(db, mirror_id)
    cached, offline = fetch_packages(db, mirror, SOURCE)
    if cached is None and offline is not None:
        raise service.unreachable_error(mirror, upstream.Unreachable(offline), f"{mirror.name}/{SOURCE.path}")
    by_name = {str(e["package"]): e for e in (cached.entries if cached is not None else [])}
    queue = [(name, True) for name in request.packages]
    seen: set[str] = set()
    fetched: list[str] = []
    while queue:
        name, named = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        entry = by_name.get(name)
        try:
            service.refuse(mirror, name)
            if entry is None:
                raise NotFound(f"{name}: upstream {upstream.redacted(mirror.upstream)} has no such package")
        except PackyardError:
            if named:
                raise
            continue
        store_file(db, store_, mirror, owner, entry)
        fetched.append(str(entry["filename"]))
        if request.deps:
            queue.extend((dep, False) for dep in dependencies(entry["fields"]))
    return fetched
