"""core/mirrors/service.refresh_blob_index against a small HTTP upstream in the test process: what each kind of
answer does to the cached index (200, 304, the same bytes again, 404, 5xx, nonsense, too large, a lost blob),
that concurrent requests of one process fetch once (formats/conda/mirror.py's `ingest` reads), and that rendered
documents (core/mirrors/documents.py) are reused until their source changes; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
import zstandard
from sqlalchemy import select

from packyard.core.db import Database
from packyard.core.mirrors import documents, service, upstream
from packyard.core.mirrors.models import Mirror, MirrorRecord
from packyard.core.models import Account, AccountKind
from packyard.core.storage import LocalBlobStore
from packyard.formats.conda import mirror as conda_mirror
from tests.unit.core.conftest import Backend

KEY = "main/noarch"


class Upstream:
    """What the next GETs answer: status, body and ETag; a request with a matching If-None-Match gets 304."""

    def __init__(self) -> None:
        self.status, self.body, self.etag = 200, b"", '"v1"'
        self.requests: list[str | None] = []
        self.delay = threading.Event()
        self.delay.set()


@pytest.fixture
def up() -> Iterator[tuple[Upstream, str]]:
    state = Upstream()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.headers.get("If-None-Match"))
            state.delay.wait(10)
            if state.status == 200 and self.headers.get("If-None-Match") == state.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("ETag", state.etag)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    upstream.forget_down_hosts()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/c/"
    server.shutdown()
    upstream.forget_down_hosts()


@pytest.fixture
def db(backend: Backend) -> Database:
    """SQLite and PostgreSQL: the records' upserts and deletes are dialect-specific statements."""
    return backend.db


@pytest.fixture
def store(backend: Backend) -> LocalBlobStore:
    return LocalBlobStore(backend.settings.blob_root)


def _mirror(db: Database, url: str, ttl: int = 600) -> service.MirrorInfo:
    with db.write() as session:
        org = Account(login="m", login_key="m", kind=AccountKind.ORG)
        session.add(org)
        session.flush()
        row = Mirror(account_id=org.id, format="conda", upstream=url, include=[], exclude=[], ttl=ttl)
        session.add(row)
        session.flush()
        mirror_id = row.id
    return service.by_id(db, mirror_id)[0]


def _repodata(*names: str) -> bytes:
    records = {f"{n}-1.0-0.conda": {"name": n, "version": "1.0", "sha256": "a" * 64} for n in names}
    return json.dumps({"info": {"subdir": "noarch"}, "packages.conda": records}).encode()


def _refresh(db, store, mirror, url, ttl=None):
    return service.refresh_blob_index(
        db, store, mirror, KEY, f"{url}noarch/repodata.json", conda_mirror.ingest(db, mirror.id, KEY), ttl=ttl
    )


def _records(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(MirrorRecord.filename)))


def test_answers_of_the_upstream(db: Database, store: LocalBlobStore, up: tuple[Upstream, str]) -> None:
    state, url = up
    mirror = _mirror(db, url)
    state.body = _repodata("a", "b")
    cached, why = _refresh(db, store, mirror, url)
    assert why is None and cached is not None and cached.found
    assert store.path_for(cached.blob).read_bytes() == state.body and cached.etag == '"v1"'
    assert _records(db) == {"a-1.0-0.conda", "b-1.0-0.conda"}

    again, _ = _refresh(db, store, mirror, url)  # fresh: upstream is not asked
    assert len(state.requests) == 1 and again.blob == cached.blob

    revalidated, why = _refresh(db, store, mirror, url, ttl=0)  # If-None-Match -> 304: the copy stands
    assert why is None and state.requests[-1] == '"v1"' and revalidated.blob == cached.blob
    assert revalidated.fetched_at > cached.fetched_at

    state.etag = '"v2"'  # the same bytes under a new ETag: stored again, no ingest needed
    same, _ = _refresh(db, store, mirror, url, ttl=0)
    assert same.blob == cached.blob and same.etag == '"v2"'

    state.body, state.etag = b'{"packages.conda": {"a-1.0-0.conda": ', '"v3"'  # cut off: not an index
    kept, why = _refresh(db, store, mirror, url, ttl=0)
    assert kept.blob == cached.blob and "is not an index" in why and "does not parse" in why
    assert "is not an index" in service.by_id(db, mirror.id)[0].last_error
    assert sorted(store.iter_blobs()) == [cached.blob]  # the refused body was not kept

    state.status = 503
    kept, why = _refresh(db, store, mirror, url, ttl=0)
    assert kept.blob == cached.blob and "answered 503" in why

    state.status, state.body, state.etag = 200, _repodata("a", "c"), '"v4"'
    changed, why = _refresh(db, store, mirror, url, ttl=0)
    assert why is None and changed.blob != cached.blob
    assert _records(db) == {"a-1.0-0.conda", "c-1.0-0.conda"}
    assert service.by_id(db, mirror.id)[0].last_error is None

    state.status = 404
    gone, why = _refresh(db, store, mirror, url, ttl=0)
    assert why is None and not gone.found and gone.blob is None


def test_an_index_over_the_limit_is_refused_and_a_lost_blob_is_fetched_again(
    db: Database, store: LocalBlobStore, up: tuple[Upstream, str]
) -> None:
    state, url = up
    mirror = _mirror(db, url)
    state.body = _repodata("a")
    too_big = service.refresh_blob_index(
        db,
        store,
        mirror,
        KEY,
        f"{url}noarch/repodata.json",
        conda_mirror.ingest(db, mirror.id, KEY),
        max_bytes=10,
    )
    assert too_big[0] is None and "over 10 bytes" in too_big[1]
    assert list(store.iter_blobs()) == []

    cached, _ = _refresh(db, store, mirror, url)
    store.delete(cached.blob)
    again, why = _refresh(db, store, mirror, url)  # fresh, but its blob is gone: asked again, without ETag
    assert why is None and store.exists(again.blob) and state.requests[-1] is None


def test_concurrent_requests_of_one_process_fetch_once(
    db: Database, store: LocalBlobStore, up: tuple[Upstream, str]
) -> None:
    state, url = up
    mirror = _mirror(db, url)
    state.body = _repodata("a")
    state.delay.clear()  # the upstream holds its answer until every request is waiting
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(_refresh(db, store, mirror, url))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    deadline = dt.datetime.now() + dt.timedelta(seconds=5)
    while not state.requests and dt.datetime.now() < deadline:
        threading.Event().wait(0.01)
    threading.Event().wait(0.2)
    state.delay.set()
    for thread in threads:
        thread.join(10)
    assert len(state.requests) == 1
    assert len({r[0].blob for r in results}) == 1 and all(r[1] is None for r in results)


def test_a_rendering_is_reused_until_its_source_changes_and_made_again_when_its_blob_is_lost(
    db: Database, store: LocalBlobStore
) -> None:
    mirror_id = _mirror(db, "http://up.invalid/c/").id
    calls: list[str] = []

    def writer(text: str):
        def write(out) -> None:
            calls.append(text)
            out(text.encode())

        return write

    one = documents.render(db, store, mirror_id, "main/x.json", "all", "s1", writer('{"a":1}'))
    again = documents.render(db, store, mirror_id, "main/x.json", "all", "s1", writer('{"a":2}'))
    assert again == one and calls == ['{"a":1}']
    other = documents.render(db, store, mirror_id, "main/x.json", "other", "s1", writer('{"b":1}'))
    assert other.sha256 != one.sha256  # an audience has its own rendering
    two = documents.render(db, store, mirror_id, "main/x.json", "all", "s2", writer('{"a":2}'))
    assert two.sha256 != one.sha256 and store.path_for(two.sha256).read_bytes() == b'{"a":2}'

    zst = documents.variant(db, store, two, "zst")
    assert zstandard.ZstdDecompressor().decompressobj().decompress(
        store.path_for(zst.sha256).read_bytes()
    ) == (b'{"a":2}')
    reread = documents.render(db, store, mirror_id, "main/x.json", "all", "s2", writer("unused"))
    assert reread.variants == {"zst": zst.sha256}  # named on the document's row: the next request reuses it
    made = store.modified(zst.sha256)
    assert documents.variant(db, store, reread, "zst") == zst and store.modified(zst.sha256) == made
    with pytest.raises(ValueError):
        documents.variant(db, store, two, "gz")

    store.delete(two.sha256)  # lost (a restore without it): rendered again, not a 500
    calls.clear()
    three = documents.render(db, store, mirror_id, "main/x.json", "all", "s2", writer('{"a":2}'))
    assert calls == ['{"a":2}'] and three.sha256 == two.sha256 and store.exists(three.sha256)
