"""The tables of mirrors: one row per mirrored channel, the upstream index rows every node reads, and the
sync jobs (`mirror_syncs`) any node may run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from packyard.core.models import Base, created, intpk


class Mirror(Base):
    """Organization `account_id`'s channel of `format` proxies `upstream` (core/mirrors/service.py)."""

    __tablename__ = "mirrors"
    __table_args__ = (UniqueConstraint("account_id", "format", name="uq_mirrors_account_format"),)

    id: Mapped[intpk]
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(20))
    upstream: Mapped[str] = mapped_column(String(1000))
    """The upstream index's base URL (PyPI: the simple index, e.g. https://pypi.org/simple/)."""
    include: Mapped[list[Any]] = mapped_column(JSON, default=list)
    exclude: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ttl: Mapped[int] = mapped_column(Integer, default=600)
    """Seconds a cached upstream index page is used before it is asked for again."""
    public: Mapped[bool] = mapped_column(default=True)
    """Whether the cached packages (and the proxy) are for anyone; else for the organization's members."""
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[created]
    last_ok_at: Mapped[dt.datetime | None]
    """The last time the upstream answered."""
    last_error: Mapped[str | None] = mapped_column(Text)
    """What went wrong the last time the upstream did not answer (cleared by the next answer)."""


class MirrorIndex(Base):
    """Upstream's index entries for one project, as last fetched: shared by every node through the database."""

    __tablename__ = "mirror_indexes"

    mirror_id: Mapped[int] = mapped_column(ForeignKey("mirrors.id", ondelete="CASCADE"), primary_key=True)
    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The canonical project name."""
    fetched_at: Mapped[dt.datetime]
    entries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The format's entries (PyPI: filename, url, sha256, size, requires_python, yanked, upload_time)."""
    found: Mapped[bool] = mapped_column(default=True)
    """False when upstream answered that it has no such project (404)."""
    etag: Mapped[str | None] = mapped_column(String(200))
    blob: Mapped[str | None] = mapped_column(String(64))
    """The sha256 of upstream's body as stored in the blob store, for an index too large to keep as entries (a
    conda subdir's repodata.json: tens or hundreds of MB); `entries` is then empty and `mirror_records` holds
    what a file fetch needs of each record."""


class MirrorRecord(Base):
    """What fetching one file needs from an upstream index kept as a blob (`MirrorIndex.blob`): the name the rules
    match, the digests to verify against, and where the file is when not beside the index. Written as the
    difference from the previous answer, so an upstream change costs writes in proportion to what changed."""

    __tablename__ = "mirror_records"

    mirror_id: Mapped[int] = mapped_column(ForeignKey("mirrors.id", ondelete="CASCADE"), primary_key=True)
    index_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The `MirrorIndex.project` the record was read from (conda: "LABEL/SUBDIR")."""
    filename: Mapped[str] = mapped_column(String(300), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    md5: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(String(2000))
    """Where upstream keeps the file when that is not beside its index (conda's `info.base_url`); else None."""


class MirrorDocument(Base):
    """A rendered index document of a mirror (upstream's records merged with the cached ones) stored as a blob,
    so that a node serves it as a file instead of holding it in memory, and every node reuses one rendering.
    `source` names what it was rendered from; a request whose inputs differ renders it again."""

    __tablename__ = "mirror_documents"

    mirror_id: Mapped[int] = mapped_column(ForeignKey("mirrors.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    """The document's place in the channel: "main/linux-64/repodata.json", "main/channeldata.json"..."""
    audience: Mapped[str] = mapped_column(String(100), primary_key=True)
    """Which of the cached packages it shows (formats.channels.Audience.key)."""
    source: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    variants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Compressed forms made on first request: encoding ("zst", "bz2") -> blob sha256."""


class MirrorSync(Base):
    """One `POST /api/mirrors/NAME/sync`: queued by the request, run by whichever node claims it
    (core/mirrors/syncs.py), read back by `GET /api/mirrors/NAME/syncs/ID`.

    The row is the job's whole state, so a sync outlives the request that asked for it and the node that ran it:
    `state` goes queued -> running (one node, `node`, claimed with a conditional UPDATE) -> done or failed.
    `heartbeat_at` is moved by the running node; a running row whose heartbeat stopped is its node's death."""

    __tablename__ = "mirror_syncs"

    id: Mapped[intpk]
    mirror_id: Mapped[int] = mapped_column(ForeignKey("mirrors.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The validated request: packages, deps, subdirs (core/formats.SyncRequest's fields)."""
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    """queued, running, done or failed."""
    node: Mapped[str | None] = mapped_column(String(200))
    """The node (host:pid) running it, or that ran it last."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """How many times a node started it (a node that died mid-sync leaves it to be taken up again)."""
    fetched: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The files fetched, once done."""
    error: Mapped[str | None] = mapped_column(Text)
    """Why it failed: the message the synchronous call would have answered."""
    error_status: Mapped[int | None] = mapped_column(Integer)
    """The HTTP status that message would have had (400 a bad spec or no solution, 403 a refused name, 502/504
    an unreachable upstream), so a client raises what it raised when the sync ran inside the request."""
    created_at: Mapped[created]
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
