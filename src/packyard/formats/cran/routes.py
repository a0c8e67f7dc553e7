"""CRAN-like repositories for R's install.packages(): `/cran/OWNER[/label/LABEL]/` and
`/api/repo/[t/TOKEN/]OWNER/cran/` (Anaconda Server's form, seed 004).

    src/contrib/PACKAGES[.gz]                  the newest version of each source package
    src/contrib/PKG_VER.tar.gz                 a source package
    src/contrib/Archive/PKG/PKG_VER.tar.gz     an older one
    bin/windows/contrib/X.Y/...                Windows binaries for R X.Y (.zip)
    bin/macosx[/BUILD]/contrib/X.Y/...         macOS binaries (.tgz)
OWNER[/label/LABEL]/snapshot/N/...         the same as at event serial (or UTC time) N (snapshot.py)
PACKAGES.rds is not served: R falls back to PACKAGES.gz on a 404.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from packyard.core import indexes, permissions
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.mirrors import service as mirror_service
from packyard.core.mirrors.service import MirrorInfo
from packyard.core.models import File, FileLabel, Label, Package
from packyard.formats import channels, front, snapshot
from packyard.formats.cran import index, mirror, store
from packyard.formats.cran import snapshot as cran_snapshot
from packyard.formats.cran.models import CranFile
from packyard.web.deps import Svc, resolve_identity
from packyard.web.serve import Blob, cache_control, serve_blob

router = APIRouter()
_R_VERSION = re.compile(r"^\d+\.\d+$")
_FILE = re.compile(r"^([A-Za-z][A-Za-z0-9.]*)_([0-9][0-9.-]*)\.(tar\.gz|zip|tgz)$")


def _slice(rest: list[str]) -> tuple[str, str, list[str]] | None:
    """(kind, r_version, remaining path) for a src/ or bin/ path."""
    if rest[:2] == ["src", "contrib"]:
        return "source", "", rest[2:]
    if rest[:3] == ["bin", "windows", "contrib"] and len(rest) > 3 and _R_VERSION.match(rest[3]):
        return "win.binary", rest[3], rest[4:]
    if rest[:2] == ["bin", "macosx"]:
        tail = rest[2:] if rest[2:3] == ["contrib"] else rest[3:]  # bin/macosx/big-sur-arm64/contrib/4.4
        if tail[:1] == ["contrib"] and len(tail) > 1 and _R_VERSION.match(tail[1]):
            return "mac.binary", tail[1], tail[2:]
    return None


def serve(path: str, request: Request, svc: Svc) -> Response:
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        answer = _answer(path, request, session, identity)
    if isinstance(answer, mirror.Proxy):
        # A mirror's index or uncached file: answered with no session open, since it may wait on the upstream.
        response = mirror.respond(answer, request, svc, identity)
        if response is not None:
            return response
        with svc.db.read() as session:  # the file is stored now: served as any file is
            answer = _answer(path, request, session, identity)
        if isinstance(answer, mirror.Proxy):
            raise NotFound(f"{answer.filename} could not be stored")
    # A package file is served once the read session is closed: a route holds one connection at a time.
    return serve_blob(svc, request, answer) if isinstance(answer, Blob) else answer


def _answer(
    path: str, request: Request, session: Session, identity: Identity
) -> Response | Blob | mirror.Proxy:
    if (point := snapshot.split(path.strip("/"))) is not None:
        return cran_snapshot.answer(request, session, identity, point, _slice)
    channel = channels.parse(session, path, mirror_format=mirror.FORMAT)
    found = _slice(channel.rest)
    if found is None:
        raise NotFound(f"not a CRAN repository path: {path}")
    kind, r_version, rest = found
    if channel.mirror is not None:
        slice_path = "/".join(channel.rest[: len(channel.rest) - len(rest)])
        return _proxied(
            session, identity, channel, channel.mirror, mirror.Slice(slice_path, kind, r_version), rest
        )
    if rest in (["PACKAGES"], ["PACKAGES.gz"]):
        return _packages(request, session, identity, channel, kind, r_version, gz=rest[0].endswith(".gz"))
    if len(rest) == 1 or (len(rest) == 3 and rest[0] == "Archive"):
        return _file(session, identity, channel, kind, r_version, rest[-1])
    raise NotFound(f"not found: {path}")


def _proxied(
    session: Session,
    identity: Identity,
    channel: channels.Channel,
    proxied: MirrorInfo,
    slice_: mirror.Slice,
    rest: list[str],
) -> Blob | mirror.Proxy:
    """A mirror's repository (formats/cran/mirror.py): indexes and uncached files are proxied; a cached file is
    served as any file is, unless the rules (changed since) refuse it."""
    if channel.label != "main":
        raise NotFound(
            f"mirror {proxied.name} proxies its upstream at /cran/{proxied.name}/ only (no labels)"
        )
    if rest in (["PACKAGES"], ["PACKAGES.gz"]):
        return mirror.Proxy(channel.owner.id, proxied, slice_, "packages", gz=rest[0].endswith(".gz"))
    if not (len(rest) == 1 or (len(rest) == 3 and rest[0] == "Archive")) or not _FILE.match(rest[-1]):
        raise NotFound(f"not found: {'/'.join(channel.rest)}")
    filename = rest[-1]
    cached = session.scalar(
        select(CranFile.file_id).where(
            CranFile.owner_id == channel.owner.id,
            CranFile.filename == filename,
            CranFile.kind == slice_.kind,
            CranFile.r_version == slice_.r_version,
        )
    )
    if cached is None:
        return mirror.Proxy(
            channel.owner.id, proxied, slice_, "file", filename=filename, archive=len(rest) == 3
        )
    mirror_service.require_use(identity, channel.owner, proxied, f"/cran/{'/'.join(channel.rest)}", "cran")
    mirror_service.refuse(proxied, mirror.package_of(filename), what=filename)
    return _file(session, identity, channel, slice_.kind, slice_.r_version, filename)


def _packages(
    request: Request,
    session: Session,
    identity: Identity,
    channel: channels.Channel,
    kind: str,
    r_version: str,
    *,
    gz: bool,
) -> Response:
    owner = channel.owner
    aud = channels.audience(session, identity, owner.id, CranFile, "cran")
    aud.require_some(identity, f"the R repository of {owner.login}")
    key = store.slice_key(kind, r_version)
    facts = front.Facts.of_slice(_FACTS, owner, channel.label, key)
    values = facts.read(session)
    generation = values[0]

    def build() -> indexes.Document:
        rows = session.execute(
            select(CranFile.package, CranFile.version, CranFile.fields, CranFile.package_id)
            .join(FileLabel, FileLabel.file_id == CranFile.file_id)
            .join(Label, and_(Label.id == FileLabel.label_id, Label.name == channel.label))
            .where(CranFile.owner_id == owner.id, CranFile.kind == kind, CranFile.r_version == r_version)
        ).all()
        visible = [index.Row(p, v, fields) for p, v, fields, pid in rows if aud.sees(pid)]
        return indexes.Document(index.packages(visible), media_type="text/plain; charset=utf-8")

    doc = request.app.state.index_cache.get_or_build(
        ("cran", owner.id, channel.label, key, generation, aud.key), build
    )
    encoding = "gz" if gz else "json"
    return front.respond(
        request,
        identity,
        facts,
        values,
        doc.variant(encoding),
        media_type="application/x-gzip" if gz else "text/plain; charset=utf-8",
        etag=doc.variant_etag(encoding),
        headers={"Cache-Control": cache_control(aud.public_only, max_age=30), "Vary": "Authorization"},
    )


_FACTS = select(front.generation(store.FORMAT), front.OWNER)


def _file(
    session: Session, identity: Identity, channel: channels.Channel, kind: str, r_version: str, filename: str
) -> Blob:
    if not _FILE.match(filename):
        raise NotFound(f"not an R package file name: {filename}")
    row = session.execute(
        select(CranFile, File)
        .join(File, File.id == CranFile.file_id)
        .where(
            CranFile.owner_id == channel.owner.id,
            CranFile.filename == filename,
            CranFile.kind == kind,
            CranFile.r_version == r_version,
        )
    ).first()
    pkg = session.get(Package, row[1].package_id) if row is not None else None
    if (
        row is None
        or pkg is None
        or channel.label not in {label.name for label in row[1].labels}
        or not permissions.can(identity, permissions.Permission.READ, pkg, via="cran")
    ):  # missing and not visible answer alike (core.permissions.unseen)
        raise permissions.unseen(identity, f"{channel.owner.login}/{filename}", via="cran")
    return Blob.of_file(row[1], pkg)


@router.api_route("/cran/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def cran(path: str, request: Request, svc: Svc) -> Response:
    return serve(path, request, svc)


@router.api_route("/api/repo/{owner}/cran", methods=["GET", "HEAD"], include_in_schema=False)
@router.api_route("/api/repo/{owner}/cran/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def repo_cran(owner: str, request: Request, svc: Svc, path: str = "") -> Response:
    """The same repository where Anaconda Server puts it (seed 004)."""
    return serve(f"{owner}/{path}", request, svc)
