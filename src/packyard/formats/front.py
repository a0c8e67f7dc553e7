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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from fastapi import Request, Response
from sqlalchemy import Connection, Executable, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from packyard.core.auth import Identity, credential_from_request
from packyard.core.db import Database
from packyard.core.errors import PackyardError
from packyard.core.models import Account, IndexGeneration

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


OWNER = select(Account.id).where(Account.login_key == bindparam("login_key")).scalar_subquery()
"""The id the owner's login names now (an account removed and its name taken again must not match)."""


@dataclass(frozen=True)
class _Entry:
    facts: Facts
    values: tuple[Any, ...]
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes


class Front:
    """The pure ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, db: Database, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.app = app
        self.db = db
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, bytes, str], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # SQLite answers in microseconds from the page cache: cheaper inline than a thread hop. A server's
        # round trip is not, and must not stall the event loop.
        self._inline = db.engine.dialect.name == "sqlite"

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
