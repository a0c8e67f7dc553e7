"""conda channels: `/conda/OWNER[/label/LABEL]/SUBDIR/...` for conda, mamba, pixi and rattler.

A request resolves the caller's visible packages in the owner's namespace (core.permissions, via "conda"),
then serves the slice's document from the index cache, rebuilt only when the slice's generation moved.
`/conda/OWNER[/label/LABEL]/snapshot/N/...` is the channel as at event serial (or UTC time) N (snapshot.py).

The same channels answer at the site root, as on anaconda.org (`http://HOST/OWNER`, `/OWNER/label/LABEL`,
`/t/TOKEN/OWNER`): `root_router` sends `/OWNER[/label/LABEL][/snapshot/N]/SUBDIR/DOCUMENT` (and
`channeldata.json`) to the same handler. There `/OWNER/...` is also the web UI's, so a root path is a channel's
only when its shape says so: a known subdir followed by a document conda fetches, a shard or a
`.conda`/`.tar.bz2` file (`ROOT_CHANNEL_PATH`), and never under a reserved first segment (`api`, `static`, a
format's prefix). `/alice/noarch` or `/alice/linux-64/files` stay pages (of a package named `noarch` or
`linux-64`), and so do `/alice/snapshot/...` paths whose N is not a point (`ROOT_CHANNEL_PATH`'s docstring).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Match
from starlette.types import Scope

from packyard.core import auth, indexes, permissions
from packyard.core.auth import Identity
from packyard.core.errors import NotFound
from packyard.core.mirrors import service as mirror_service
from packyard.core.mirrors.service import MirrorInfo
from packyard.core.models import Access, Event, File, FileLabel, Label, Package
from packyard.formats import channels, front, snapshot
from packyard.formats.conda import index, mirror, store
from packyard.formats.conda import snapshot as conda_snapshot
from packyard.formats.conda.models import CondaRecord, CondaShard, CondaShardHead
from packyard.web.deps import Svc, resolve_identity
from packyard.web.serve import Blob, cache_control, serve_blob

router = APIRouter()
_SUBDIR_PATTERN = store.SUBDIR_PATTERN
_SUBDIR = re.compile(rf"^({_SUBDIR_PATTERN})$")
_SHARD = re.compile(r"^([0-9a-f]{64})\.msgpack\.zst$")
_DOCUMENTS = {
    "repodata.json": ("repodata", "json"),
    "repodata.json.zst": ("repodata", "zst"),
    "repodata.json.bz2": ("repodata", "bz2"),
    "current_repodata.json": ("repodata", "json"),  # a valid superset, as protocols.md §1.2 recommends
    "current_repodata.json.zst": ("repodata", "zst"),
    "current_repodata.json.bz2": ("repodata", "bz2"),
    "repodata_from_packages.json": ("repodata", "json"),
    "run_exports.json": ("run_exports", "json"),
    "run_exports.json.zst": ("run_exports", "zst"),
    "repodata_shards.msgpack.zst": ("shards", "raw"),
}
_MEDIA = {
    "json": "application/json",
    "zst": "application/zstd",
    "bz2": "application/x-bzip2",
    "raw": "application/octet-stream",
}


_ROOT_TAIL = (
    rf"(?:channeldata\.json|(?:{_SUBDIR_PATTERN})/(?:"
    + "|".join(re.escape(name) for name in _DOCUMENTS)
    + r"|shards/[0-9a-f]{64}\.msgpack\.zst|[^/]+\.conda|[^/]+\.tar\.bz2))"
)
ROOT_CHANNEL_PATH = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9_.-]*"
    rf"(?:(?:/label/[^/]+)?|(?:/label/(?!files/)[^/]+)?/{snapshot.SEGMENT}/[0-9][^/]*)/{_ROOT_TAIL}"
)
"""A channel path at the site root, without its leading slash: what `root_router` answers (and `public_file`
reads) there. Anything else under `/OWNER/` is left to the pages.

A snapshot, `OWNER[/label/L]/snapshot/N/...`, is one only when N starts with a digit (a serial, a date or a
time) and L is not `files`: so its third segment is never a page's word (`files`, `settings`, `badges`), and
`/OWNER/label/files/snapshot/N/channeldata.json` stays the Files tab's download of package `label` (version
`snapshot`, file `N/channeldata.json`). A snapshot of a label named `files` is served under `/conda/` only."""


class _RootChannelPath(Convertor[str]):
    regex = ROOT_CHANNEL_PATH.pattern

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("conda_root_channel", _RootChannelPath())


class _RootChannelRoute(APIRoute):
    """Never matches under a reserved first segment: those belong to the app (`/api/...`, `/static/...`) and
    the formats, whose own 404s and 405s they keep. Asked per request, as formats may register after import."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and _reserved_owner(child["path_params"]["path"]):
            return Match.NONE, {}
        return match, child


def _reserved_owner(path: str) -> bool:
    return path.split("/", 1)[0].lower() in auth.reserved_logins()


root_router = APIRouter(route_class=_RootChannelRoute)
"""The channels at the site root: included with the format's other routers, before the pages' catch-alls."""


@router.api_route("/conda/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def conda(path: str, request: Request, svc: Svc) -> Response:
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        answer = _answer(path, request, svc, session, identity)
    if isinstance(answer, mirror.Proxy):
        # A mirror's document or uncached file: answered with no session open, since it may wait on the upstream.
        response = mirror.respond(answer, request, svc, identity)
        if response is not None:
            return response
        with svc.db.read() as session:  # the file is stored now: served as any file is
            answer = _answer(path, request, svc, session, identity)
        if isinstance(answer, mirror.Proxy):
            raise NotFound(f"{answer.filename} could not be stored")
    # Bytes are served once the read session is closed: a route holds one connection at a time.
    return serve_blob(svc, request, answer) if isinstance(answer, Blob) else answer


@root_router.api_route("/{path:conda_root_channel}", methods=["GET", "HEAD"], include_in_schema=False)
def root_channel(path: str, request: Request, svc: Svc) -> Response:
    """`http://HOST/OWNER[/label/LABEL]/...`: the very answer `/conda/OWNER/...` gives."""
    return conda(path, request, svc)


def _answer(
    path: str, request: Request, svc: Svc, session: Session, identity: Identity
) -> Response | Blob | mirror.Proxy:
    if (point := snapshot.split(path.strip("/"))) is not None:
        return conda_snapshot.answer(request, session, identity, point, _SUBDIR)
    channel = channels.parse(session, path, mirror_format=store.FORMAT)
    if channel.mirror is not None:
        return _proxied(session, identity, channel, channel.mirror, path)
    rest = channel.rest
    if rest == ["channeldata.json"]:
        return _document(request, svc, session, identity, channel, "", "channeldata", "json")
    if len(rest) < 2 or not _SUBDIR.match(rest[0]):
        raise NotFound(f"not a conda channel path: /conda/{path}")
    subdir = rest[0]
    if len(rest) == 2 and rest[1] in _DOCUMENTS:
        kind, encoding = _DOCUMENTS[rest[1]]
        return _document(request, svc, session, identity, channel, subdir, kind, encoding)
    if len(rest) == 3 and rest[1] == "shards" and (match := _SHARD.match(rest[2])):
        return _shard(request, svc, session, identity, channel, match.group(1))
    if len(rest) == 2:
        return _package_file(session, identity, channel, subdir, rest[1])
    raise NotFound(f"not found: /conda/{path}")


def _proxied(
    session: Session, identity: Identity, channel: channels.Channel, proxied: MirrorInfo, path: str
) -> Blob | mirror.Proxy:
    """A mirror's channel (formats/conda/mirror.py): documents and uncached files are proxied; a file cached in
    the label is served as any file is, unless the rules (changed since) refuse it."""
    rest, owner_id, label = channel.rest, channel.owner.id, channel.label
    if rest == ["channeldata.json"]:
        return mirror.Proxy(owner_id, proxied, label, "channeldata")
    if len(rest) != 2 or not _SUBDIR.match(rest[0]):
        raise NotFound(f"not found: /conda/{path}")
    subdir, name = rest
    if name in _DOCUMENTS:
        kind, encoding = _DOCUMENTS[name]
        if kind == "shards":
            raise NotFound(f"mirror {proxied.name} serves repodata.json, not sharded repodata")
        return mirror.Proxy(owner_id, proxied, label, kind, subdir, encoding)
    if not name.endswith((".conda", ".tar.bz2")):
        raise NotFound(f"not found: /conda/{path}")
    if _cached_in_label(session, channel, subdir, name):
        mirror_service.require_use(identity, channel.owner, proxied, f"/conda/{path}", "conda")
        try:
            mirror_service.refuse(proxied, mirror.package_name(name), {"subdir": subdir}, name)
        except ValueError:
            raise NotFound(f"not found: /conda/{path}") from None
        return _package_file(session, identity, channel, subdir, name)
    return mirror.Proxy(owner_id, proxied, label, "file", subdir, filename=name)


def _cached_in_label(session: Session, channel: channels.Channel, subdir: str, filename: str) -> bool:
    return (
        session.scalar(
            select(File.id)
            .join(Package, Package.id == File.package_id)
            .join(FileLabel, FileLabel.file_id == File.id)
            .join(Label, Label.id == FileLabel.label_id)
            .where(
                Package.owner_id == channel.owner.id,
                File.basename == f"{subdir}/{filename}",
                Label.name == channel.label,
            )
            .limit(1)
        )
        is not None
    )


def _document(
    request: Request,
    svc: Svc,
    session: Session,
    identity: Identity,
    channel: channels.Channel,
    subdir: str,
    kind: str,
    encoding: str,
) -> Response:
    aud = channels.audience(session, identity, channel.owner.id, CondaRecord, "conda")
    aud.require_some(identity, f"the channel {channel.owner.login}")
    facts = front.Facts.of_slice(_FACTS, channel.owner, channel.label, subdir, channel_key=store.CHANNEL_KEY)
    values = facts.read(session)
    key = ("conda", channel.owner.id, channel.label, subdir, kind, values[0], aud.key)
    cache: indexes.IndexCache = request.app.state.index_cache
    doc = cache.get_or_build(key, lambda: _build(session, channel, subdir, kind, aud))
    return front.respond(
        request,
        identity,
        facts,
        values,
        doc.variant("json" if encoding == "raw" else encoding),
        media_type=_MEDIA[encoding],
        etag=doc.variant_etag(encoding),
        headers={"Cache-Control": cache_control(aud.public_only, max_age=30), "Vary": "Authorization"},
    )


_FACTS = select(front.generation(store.FORMAT), front.generation(store.FORMAT, "channel_key"), front.OWNER)
"""A slice's documents depend on its generation. The channel's generation (bumped with every slice) is there
for the one answer that depends on the other slices: none of the owner's packages left visible means 401."""


def _build(
    session: Session, channel: channels.Channel, subdir: str, kind: str, aud: channels.Audience
) -> indexes.Document:
    owner_id, label = channel.owner.id, channel.label
    if kind == "shards":
        heads = session.execute(
            select(CondaShardHead.name, CondaShardHead.sha256, CondaShardHead.package_id).where(
                CondaShardHead.owner_id == owner_id,
                CondaShardHead.label == label,
                CondaShardHead.subdir == subdir,
            )
        ).all()
        visible = {name: sha for name, sha, package_id in heads if aud.sees(package_id)}
        as_of = session.scalar(
            select(Event.at).where(Event.owner == channel.owner.login).order_by(Event.serial.desc()).limit(1)
        )
        return indexes.Document(index.shard_index(subdir, visible, as_of), media_type=_MEDIA["raw"])
    if kind == "channeldata":
        subdirs = session.scalars(
            select(CondaRecord.subdir).where(CondaRecord.owner_id == owner_id).distinct()
        ).all()
        per_subdir = {s: _visible_rows(session, owner_id, label, s, aud) for s in subdirs}
        per_subdir = {s: rows for s, rows in per_subdir.items() if rows}
        info = {
            p.name.lower(): index.PackageInfo.of(p)
            for p in session.scalars(
                select(Package).where(
                    Package.owner_id == owner_id,
                    aud.only_visible(Package.id),
                    exists().where(CondaRecord.package_id == Package.id),
                )
            )
        }
        return indexes.Document(index.channeldata(per_subdir, info))
    rows = _visible_rows(session, owner_id, label, subdir, aud)
    body = index.repodata(subdir, rows) if kind == "repodata" else index.run_exports(subdir, rows)
    return indexes.Document(body)


def _visible_rows(
    session: Session, owner_id: int, label: str, subdir: str, aud: channels.Audience
) -> list[index.Row]:
    return store.slice_rows(session, owner_id, label, subdir, None if not aud.hidden else aud.visible)


def _shard(
    request: Request, svc: Svc, session: Session, identity: Identity, channel: channels.Channel, sha: str
) -> Response:
    """Shards are immutable (named by their hash); a replaced one stays fetchable, for clients holding an older
    shard index. A private package's shard is cached as privately as its files. Its bytes are in the row."""
    head = session.scalar(
        select(CondaShardHead).where(
            CondaShardHead.owner_id == channel.owner.id, CondaShardHead.sha256 == sha
        )
    )
    shard = session.get(CondaShard, sha)
    pkg = (
        None
        if shard is None or (head is None and shard.owner_id != channel.owner.id)
        else session.get(Package, head.package_id if head is not None else shard.package_id)
    )
    if (
        shard is None
        or pkg is None
        or not permissions.can(identity, permissions.Permission.READ, pkg, via="conda")
    ):
        # missing and hidden alike; named by its hash only: don't name the package either
        raise permissions.unseen(identity, f"the shard {sha}", via="conda")
    return serve_blob(svc, request, Blob(sha, etag=sha, public=pkg.access == Access.PUBLIC), body=shard.data)


def _package_file(
    session: Session, identity: Identity, channel: channels.Channel, subdir: str, filename: str
) -> Blob:
    f = session.scalar(
        select(File)
        .join(Package, Package.id == File.package_id)
        .where(
            Package.owner_id == channel.owner.id,
            File.basename == f"{subdir}/{filename}",
            File.package_type == "conda",
        )
    )
    pkg = session.get(Package, f.package_id) if f is not None else None
    if (
        f is None
        or pkg is None
        or channel.label not in {label.name for label in f.labels}
        or not permissions.can(identity, permissions.Permission.READ, pkg, via="conda")
    ):  # missing and not visible answer alike (core.permissions.unseen)
        raise permissions.unseen(
            identity, f"{channel.owner.login}/label/{channel.label}/{subdir}/{filename}", via="conda"
        )
    return Blob.of_file(f, pkg)


_PUBLIC_FILE = (
    select(File.id, File.sha256, File.md5, File.size, File.uploaded_at)
    .join(Package, Package.id == File.package_id)
    .where(
        Package.owner_id == front.OWNER,
        Package.access == Access.PUBLIC,
        File.basename == bindparam("basename"),
        File.package_type == "conda",
        select(FileLabel.file_id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(FileLabel.file_id == File.id, Label.name == bindparam("label"))
        .exists(),
    )
)
"""`_package_file`'s row for `front.Front`: by the owner's login, in the label, and only for a public package."""


def public_file(path: str) -> front.PublicFile | None:
    """`/conda/OWNER[/label/LABEL]/SUBDIR/FILE.conda|.tar.bz2`, or the same at the site root, as `front.Front`
    may answer it (the path read as `channels.parse` and `_answer` read it; the row and Blob as `_package_file`
    and `Blob.of_file` make them)."""
    if path.startswith("/conda/"):
        path = path[len("/conda/") :]
    elif ROOT_CHANNEL_PATH.fullmatch(path[1:]) and not _reserved_owner(path[1:]):
        path = path[1:]
    else:
        return None
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    login, rest, label = parts[0], parts[1:], "main"
    if len(rest) >= 2 and rest[0] == "label":
        label, rest = rest[1], rest[2:]
    if len(rest) != 2 or not _SUBDIR.match(rest[0]) or not rest[1].endswith((".conda", ".tar.bz2")):
        return None
    subdir, filename = rest
    params = {"login_key": login.lower(), "basename": f"{subdir}/{filename}", "label": label}

    def blob(values: tuple[Any, ...]) -> Blob:
        file_id, sha256, md5, size, uploaded_at = values
        return Blob(
            sha256,
            etag=md5,
            public=True,
            size=size,
            filename=filename,
            last_modified=uploaded_at,
            count_download=file_id,
        )

    return front.PublicFile(front.Facts(_PUBLIC_FILE, params), blob)
