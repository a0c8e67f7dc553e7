"""The tables of mirrors: one row per mirrored channel, and the upstream index rows every node reads."""

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
