"""A mirror's large index documents, rendered once per change into the blob store and served as files.

A merged conda repodata.json of a large upstream is tens or hundreds of MB: held in memory (core/indexes.py's
IndexCache) it would cost every worker of every node that much, and rendering it per node per change would repeat
the work N times. So a format renders such a document by streaming it into a blob (`render`), and
`mirror_documents` names the blob with what it was rendered from (`source`, a digest of the inputs: upstream's
blob, the cached slice's generation, the rules). A request computes the source from small columns, finds the row,
and hands the blob to web/serve.py like any stored file (ETag, Range, X-Accel-Redirect, S3 redirects). A render
another node already made is reused; compressed forms are made on first request (`variant`), streamed too.

A blob replaced by a newer rendering is an orphan for `packyard fsck --clean` (which leaves blobs younger than its
grace period alone, so a node still sending the old one keeps it); `referenced_blobs` tells fsck what is in use.
"""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import IO, cast

import zstandard
from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from packyard.core import db as core_db
from packyard.core.db import Database
from packyard.core.mirrors.models import MirrorDocument, MirrorIndex
from packyard.core.storage import BlobStore

Write = Callable[[bytes], None]
CHUNK = 1 << 20
ENCODINGS = ("zst", "bz2")


@dataclass(frozen=True)
class Rendered:
    """A document's blob (its ETag: the sha256 of its bytes), where it is named (`mirror_documents`' key), and the
    compressed forms made of it so far."""

    sha256: str
    size: int
    mirror_id: int
    path: str
    audience: str
    variants: Mapping[str, str] = field(default_factory=dict)


def source_key(*parts: object) -> str:
    """A digest of everything a document depends on: equal sources render equal bytes."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


_locks: dict[Hashable, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: Hashable) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _row(db: Database, mirror_id: int, path: str, audience: str) -> MirrorDocument | None:
    with db.read() as session:
        row = session.get(MirrorDocument, (mirror_id, path, audience))
        if row is not None:
            session.expunge(row)
        return row


def render(
    db: Database,
    store: BlobStore,
    mirror_id: int,
    path: str,
    audience: str,
    source: str,
    write_document: Callable[[Write], None],
) -> Rendered:
    """The document at `path` for `audience`, rendered by `write_document` unless a rendering from `source`
    exists; concurrent requests of one process wait for one rendering (another node may render it too: the
    bytes are equal, the last row written wins)."""
    row = _row(db, mirror_id, path, audience)
    if row is None or row.source != source:
        with _lock((mirror_id, path, audience)):
            row = _row(db, mirror_id, path, audience)
            if row is None or row.source != source:
                with store.receive() as incoming:
                    write_document(incoming.write)
                    ref = incoming.commit()
                with db.write() as session:
                    stmt = core_db.insert(session, MirrorDocument).values(
                        mirror_id=mirror_id,
                        path=path,
                        audience=audience,
                        source=source,
                        sha256=ref.sha256,
                        variants={},
                    )
                    session.execute(
                        stmt.on_conflict_do_update(
                            index_elements=["mirror_id", "path", "audience"],
                            set_={"source": source, "sha256": ref.sha256, "variants": {}},
                        )
                    )
                return Rendered(ref.sha256, ref.size, mirror_id, path, audience)
    try:
        return Rendered(
            row.sha256, store.size(row.sha256), mirror_id, path, audience, dict(row.variants or {})
        )
    except FileNotFoundError:  # lost from the store (a restore without it): rendered again
        with db.write() as session:
            session.execute(
                sql_update(MirrorDocument)
                .where(
                    MirrorDocument.mirror_id == mirror_id,
                    MirrorDocument.path == path,
                    MirrorDocument.audience == audience,
                )
                .values(source="")
            )
        return render(db, store, mirror_id, path, audience, source, write_document)


def variant(db: Database, store: BlobStore, doc: Rendered, encoding: str) -> Rendered:
    """`doc` compressed with `encoding` ("zst", "bz2"), made from its blob on first request, a MiB at a time."""
    if encoding not in ENCODINGS:
        raise ValueError(f"no such encoding: {encoding}")
    mirror_id, path, audience = doc.mirror_id, doc.path, doc.audience
    found = doc.variants.get(encoding)
    if found is not None and store.exists(found):
        return dataclasses.replace(doc, sha256=found, size=store.size(found), variants={})
    with _lock((mirror_id, path, audience, encoding)):
        with store.receive() as incoming, store.open(doc.sha256) as source:
            if encoding == "zst":
                sink = cast(IO[bytes], _Sink(incoming.write))
                with zstandard.ZstdCompressor(level=3).stream_writer(sink, closefd=False) as writer:
                    while chunk := source.read(CHUNK):
                        writer.write(chunk)
            else:
                compressor = bz2.BZ2Compressor(9)
                while chunk := source.read(CHUNK):
                    incoming.write(compressor.compress(chunk))
                incoming.write(compressor.flush())
            ref = incoming.commit()
        with db.write() as session:
            current = session.get(MirrorDocument, (mirror_id, path, audience))
            if current is not None and current.sha256 == doc.sha256:
                current.variants = {**(current.variants or {}), encoding: ref.sha256}
    return dataclasses.replace(doc, sha256=ref.sha256, size=ref.size, variants={})


class _Sink:
    """The file zstandard's stream writer writes into: the incoming blob."""

    def __init__(self, write: Write) -> None:
        self.write = write

    def flush(self) -> None:
        pass


def referenced_blobs(session: Session) -> dict[str, str]:
    """sha256 -> what needs it, for fsck: upstream indexes kept as blobs and the renderings of every mirror."""
    named: dict[str, str] = {}
    for mirror_id, project, blob in session.execute(
        select(MirrorIndex.mirror_id, MirrorIndex.project, MirrorIndex.blob).where(
            MirrorIndex.blob.is_not(None)
        )
    ):
        named[str(blob)] = f"mirror {mirror_id}: upstream index {project}"
    for mirror_id, path, sha, variants in session.execute(
        select(MirrorDocument.mirror_id, MirrorDocument.path, MirrorDocument.sha256, MirrorDocument.variants)
    ):
        named[sha] = f"mirror {mirror_id}: {path}"
        for encoding, value in (variants or {}).items():
            if isinstance(value, str):
                named[value] = f"mirror {mirror_id}: {path}.{encoding}"
    return named
