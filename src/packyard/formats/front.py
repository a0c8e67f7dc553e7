"""Answer repeated anonymous index requests from memory, after one SQL statement.

conda repodata, PyPI simple pages and CRAN PACKAGES are read far more often than they change, mostly by clients
without credentials. Their routes decide every request (core.permissions, through channels.audience) and build
the documents from cached slices, but even a cached document costs a route a handful of queries (owner, the
packages and who may see them, generations, serial) and FastAPI's routing and thread hop. So for an anonymous
caller a route also *publishes* the response it built here (`respond`), together with the `Facts` it was built
from: the slice generations, the project's last serial, the owner's id, read before the document.

`Front`, a pure ASGI middleware in front of the routers, answers the next anonymous GET/HEAD of the same URL and
`Accept` header itself when one statement reads the same facts again. Every change that could alter what an
anonymous caller sees (an upload, a removal, a label or access change) bumps a generation in the transaction that
makes it (core.indexes), so a fact that moved sends the request down the full route, which publishes afresh.
Requests with any credential never take this path: what they may see depends on grants no generation tracks.
Each worker process keeps its own entries; losing them costs one full request per URL.

Files are not kept in memory, but an anonymous GET/HEAD of a format's file URL (`FormatSpec.public_file`: PyPI's
`/pypi/OWNER/files/PROJECT/FILE` and its `.metadata`) is answered here too when its one statement finds the file
in the label *and* its package public: `web.serve.serve_blob` sends it (same headers, 304, counted download) as
the route would, minus the routing, the dependencies and the thread hop, which were most of a small file's time
(`pip download`, bench/bytes.py). Anything else (no row: private, missing, not in the label; a Range request;
any credential or Authorization header) goes down the route, which gives its usual answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from fastapi import Request, Response
from sqlalchemy import Connection, Executable, bindparam, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from packyard.core.auth import Identity, credential_from_request
from packyard.core.db import Database
from packyard.core.errors import PackyardError
from packyard.core.mirrors.models import Mirror
from packyard.core.models import Account, IndexGeneration
from packyard.web.deps import Services
from packyard.web.serve import Blob, serve_blob

_SLOT = "packyard.front"
"""The scope key under which an eligible request carries (front, cache key) to the route."""


@dataclass(frozen=True)
class Facts:
    """What a published response depends on: one prebuilt statement (one row) and its parameters."""

    statement: Executable
    params: Mapping[str, Any]

    @classmethod
    def of_slice(cls, statement: Executable, owner: Account, label: str, key: str, **more: Any) -> Facts:
        """The parameters `generation()` and `OWNER` read, for one slice of `owner`'s index, plus `more`."""
        params = {"owner_id": owner.id, "label": label, "key": key, "login_key": owner.login_key, **more}
        return cls(statement, params)

    def read(self, db: Session | Connection) -> tuple[Any, ...]:
        return tuple(db.execute(self.statement, self.params).one())


def generation(fmt: str, key_param: str = "key") -> ScalarSelect[int]:
    """A slice's generation (core.indexes) as a column of a facts statement."""
    return (
        select(IndexGeneration.generation)
        .where(
            IndexGeneration.format == fmt,
            IndexGeneration.owner_id == bindparam("owner_id"),
            IndexGeneration.label == bindparam("label"),
            IndexGeneration.key == bindparam(key_param),
        )
        .scalar_subquery()
    )


@dataclass(frozen=True)
class PublicFile:
    """A format's file URL as `Front` may answer it: one statement whose row exists only for a public package's
    file in the label, and the `Blob` the route would serve from that row (None: let the route answer)."""

    facts: Facts
    blob: Callable[[tuple[Any, ...]], Blob | None]


OWNER = (
    select(Account.id)
    .where(Account.login_key == bindparam("login_key"), ~exists().where(Mirror.account_id == Account.id))
    .scalar_subquery()
)
"""The id the owner's login names now (an account removed and its name taken again must not match). A mirror's
owner names none: its files go down the route, which applies the mirror's rules as they are now."""


@dataclass(frozen=True)
class _Entry:
    facts: Facts
    values: tuple[Any, ...]
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes


class Front:
    """The pure ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        db: Database,
        max_bytes: int = 128 * 1024 * 1024,
        *,
        services: Services | None = None,
        files: Sequence[Callable[[str], PublicFile | None]] = (),
    ) -> None:
        """`files`: the formats' `public_file` lookups, answered with `services` (both or neither)."""
        self.app = app
        self.db = db
        self.services = services
        self.files = tuple(files) if services is not None else ()
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, bytes, str], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # SQLite answers in microseconds from the page cache: cheaper inline than a thread hop. A server's
        # round trip is not, and must not stall the event loop.
        self._inline = db.engine.dialect.name == "sqlite"
        # A file is sent inline only from a local store: reading one from S3 is a round trip too.
        self._inline_files = self._inline and (services is None or _local_files(services))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            anonymous = credential_from_request(headers, scope.get("packyard.path_token")) is None
        except PackyardError:
            anonymous = False  # a malformed credential: the route says what is wrong with it
        if not anonymous:
            await self.app(scope, receive, send)
            return
        if self.files and await self._file(scope, receive, send, headers):
            return
        key = (scope["path"], scope.get("query_string", b""), headers.get("accept", ""))
        entry = self._entries.get(key)
        if entry is not None:
            values = await self._read(entry.facts)
            if values == entry.values:
                self._touch(key)
                await _send(entry, scope, headers, send)
                return
            self._forget(key, entry)  # the route publishes the new answer, if it is one to publish
        await self.app({**scope, _SLOT: (self, key)}, receive, send)

    async def _file(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> bool:
        """Send a public file as its route would; False (nothing sent) when the route must answer."""
        if "authorization" in headers or "x-auth" in headers or "range" in headers:
            return False  # the route decides what a credential, even a malformed one, or a Range gets
        path: str = scope["path"]
        for lookup in self.files:
            found = lookup(path)
            if found is not None:
                break
        else:
            return False
        assert self.services is not None
        request = Request(scope, receive)
        try:
            if self._inline_files:
                response = self._serve_file(found, request)
            else:
                response = await to_thread.run_sync(self._serve_file, found, request)
        except (SQLAlchemyError, OSError):
            return False  # let the route meet the trouble and answer as it does
        if response is None:
            return False
        await response(scope, receive, send)
        return True

    def _serve_file(self, found: PublicFile, request: Request) -> Response | None:
        """The row, and the response (a small file read whole, as in the route's worker thread)."""
        assert self.services is not None
        with self.db.engine.connect() as connection:
            row = connection.execute(found.facts.statement, found.facts.params).first()
        blob = found.blob(tuple(row)) if row is not None else None
        return serve_blob(self.services, request, blob) if blob is not None else None

    async def _read(self, facts: Facts) -> tuple[Any, ...]:
        if self._inline:
            return self._read_sync(facts)
        return await to_thread.run_sync(self._read_sync, facts)

    def _read_sync(self, facts: Facts) -> tuple[Any, ...]:
        with self.db.engine.connect() as connection:
            return facts.read(connection)

    def _touch(self, key: tuple[str, bytes, str]) -> None:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)

    def _forget(self, key: tuple[str, bytes, str], entry: _Entry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]
                self._bytes -= _size(key, entry)

    def remember(self, key: tuple[str, bytes, str], entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= _size(key, old)
            self._entries[key] = entry
            self._bytes += _size(key, entry)
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                dropped_key, dropped = self._entries.popitem(last=False)
                self._bytes -= _size(dropped_key, dropped)


def _local_files(services: Services) -> bool:
    """Whether the store keeps blobs in local files (the local store) rather than remotely (S3)."""
    return services.store.local_path("0" * 64) is not None


def _size(key: tuple[str, bytes, str], entry: _Entry) -> int:
    """What an entry holds, its key included: callers choose the Accept header, so keys are not free."""
    return len(entry.body) + sum(len(part) for part in key) + 256


async def _send(entry: _Entry, scope: Scope, headers: Headers, send: Send) -> None:
    if entry.etag and entry.etag.decode("latin-1") in headers.get("if-none-match", ""):
        kept = [(k, v) for k, v in entry.headers if k not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else entry.body})


def respond(
    request: Request,
    identity: Identity,
    facts: Facts,
    values: tuple[Any, ...],
    body: bytes,
    *,
    media_type: str,
    etag: str,
    headers: Mapping[str, str],
) -> Response:
    """An index document with its strong ETag (304 on If-None-Match), published for anonymous callers.

    `values` must be `facts` as read before `body` was built: then a change committed meanwhile makes the
    published entry stale at once, instead of hiding the change behind facts that look current.
    """
    out = {"ETag": etag, **headers}
    full = Response(body, media_type=media_type, headers=out)
    slot = request.scope.get(_SLOT)
    if slot is not None and identity.is_anonymous:
        front, key = slot
        front.remember(key, _Entry(facts, values, full.raw_headers, body, etag.encode("latin-1")))
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=out)
    return full
