"""The data model: accounts own packages; packages have releases; releases have files; files carry labels.

Users and organizations share one namespace of logins (`Account.kind`). Every change that a client could observe
through an index is also written to `Event`, whose autoincrementing serial is the changelog PyPI's XML-RPC and the
incremental indexes read.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

from packaging.utils import canonicalize_name
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


intpk = Annotated[int, mapped_column(primary_key=True)]
created = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]
jsondict = Annotated[dict[str, Any], mapped_column(JSON, default=dict)]


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime()}


class AccountKind(enum.StrEnum):
    USER = "user"
    ORG = "org"


class Access(enum.StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    PRIVATE = "private"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[intpk]
    login: Mapped[str] = mapped_column(String(100))
    login_key: Mapped[str] = mapped_column(String(100), unique=True)
    """Lower-cased login: `Bob` and `bob` are the same namespace."""
    kind: Mapped[str] = mapped_column(String(10), default=AccountKind.USER)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_disabled: Mapped[bool] = mapped_column(default=False)
    company: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    notifications_seen_serial: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The newest event serial this account has seen on its notifications page: newer ones count as unread."""
    created_at: Mapped[created]


def package_key(name: str) -> str:
    """The identity of a package name within its owner: PEP 503's normal form (lower case, runs of -_. -> -).

    One rule for every type, because one package may hold several (a conda package and its wheel, an R package
    and a notebook) and any package may be given a wheel: if two packages could share a PEP 503 form, they would
    share one PyPI project page, and an uploader allowed to write one could publish into the other's name
    (docs/architecture.md, "Package names").
    """
    return canonicalize_name(name)


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (
        UniqueConstraint("owner_id", "name_key"),
        # The owner page lists an owner's packages newest first, a page at a time (5,000 packages stay fast).
        Index("ix_packages_owner_modified", "owner_id", "modified_at"),
    )

    id: Mapped[intpk]
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    """`package_key(name)`: names that differ only in case or in runs of '-', '_', '.' are one package."""
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str | None] = mapped_column(String(200))
    license_url: Mapped[str | None] = mapped_column(String(500))
    license_family: Mapped[str | None] = mapped_column(String(100))
    home: Mapped[str | None] = mapped_column(String(500))
    dev_url: Mapped[str | None] = mapped_column(String(500))
    doc_url: Mapped[str | None] = mapped_column(String(500))
    source_git_url: Mapped[str | None] = mapped_column(String(500))
    access: Mapped[str] = mapped_column(String(20), default=Access.PUBLIC)
    package_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    attrs: Mapped[jsondict]
    created_at: Mapped[created]
    modified_at: Mapped[created]

    owner: Mapped[Account] = relationship(lazy="joined")
    releases: Mapped[list[Release]] = relationship(
        back_populates="package", cascade="all, delete-orphan", passive_deletes=True, order_by="Release.id"
    )


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("package_id", "version"),)

    id: Mapped[intpk]
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    announce: Mapped[str | None] = mapped_column(Text)
    home: Mapped[str | None] = mapped_column(String(500))
    attrs: Mapped[jsondict]
    created_at: Mapped[created]
    modified_at: Mapped[created]

    package: Mapped[Package] = relationship(back_populates="releases")
    files: Mapped[list[File]] = relationship(
        back_populates="release", cascade="all, delete-orphan", passive_deletes=True, order_by="File.id"
    )


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("release_id", "basename"),
        Index("ix_files_package_basename", "package_id", "basename"),
        # Download totals per package (owner page, search, badges) read the counts without touching the rows.
        Index("ix_files_package_ndownloads", "package_id", "ndownloads"),
    )

    id: Mapped[intpk]
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    basename: Mapped[str] = mapped_column(String(512))
    package_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    """Also the blob key: blobs are content-addressed."""
    description: Mapped[str | None] = mapped_column(Text)
    attrs: Mapped[jsondict]
    dependencies: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    extra: Mapped[jsondict]
    """Side documents (e.g. PEP 658 metadata) by name -> sha256 of their blob."""
    ndownloads: Mapped[int] = mapped_column(BigInteger, default=0)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    uploaded_at: Mapped[created]

    release: Mapped[Release] = relationship(back_populates="files")
    labels: Mapped[list[Label]] = relationship(
        secondary="file_labels", order_by="Label.name", lazy="selectin"
    )
    uploader: Mapped[Account | None] = relationship(foreign_keys=[uploader_id])


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[intpk]
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    is_locked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created]


class FileLabel(Base):
    __tablename__ = "file_labels"

    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[intpk]
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    """The user who created the token; it never grants more than this account has."""
    org_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    """Set for tokens created for an organization (`anaconda auth --create --org ORG`)."""
    limit_owner_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    """Set for a token limited to one channel (owner): it acts only on that owner's packages and namespace, as an
    organization token does inside its organization (seed 004's channel-specific tokens)."""
    name: Mapped[str] = mapped_column(String(300))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 of the token: tokens carry 190+ bits of randomness, so a fast hash is safe and lookup is O(1)."""
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[created]
    last_used_at: Mapped[dt.datetime | None]
    remote_addr: Mapped[str] = mapped_column(String(100), default="")
    hostname: Mapped[str] = mapped_column(String(300), default="")
    note_url: Mapped[str] = mapped_column(String(500), default="")
    strength: Mapped[str] = mapped_column(String(10), default="strong")

    account: Mapped[Account] = relationship(foreign_keys=[account_id], lazy="joined")
    org: Mapped[Account | None] = relationship(foreign_keys=[org_id], lazy="joined")
    limit_owner: Mapped[Account | None] = relationship(foreign_keys=[limit_owner_id], lazy="joined")


class Stage(Base):
    """An upload between `POST /stage` and `POST /commit`: the signed form, then the received blob."""

    __tablename__ = "stages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    uploader_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    package: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    basename: Mapped[str] = mapped_column(String(512))
    distribution_type: Mapped[str] = mapped_column(String(20))
    request: Mapped[jsondict]
    """The stage payload: description, labels, expected sha256, the client's attrs (kept beside the parse)."""
    state: Mapped[str] = mapped_column(String(10), default="staged")
    """staged -> received (blob stored, parse result kept) -> committed."""
    sha256: Mapped[str | None] = mapped_column(String(64))
    md5: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[jsondict]
    """The server-side parse of the received file, or {"error": ...} when it was not a valid package."""
    created_at: Mapped[created]
    expires_at: Mapped[dt.datetime]


class Event(Base):
    """Append-only log; `serial` is monotonic and is PyPI's changelog serial."""

    __tablename__ = "events"
    __table_args__ = (
        # "The last serial of this project / owner" is asked on every PyPI page and XML-RPC call.
        Index("ix_events_owner_serial", "owner", "serial"),
        Index("ix_events_owner_package_serial", "owner", func.lower(text("package")), "serial"),
        # Notifications ("you were added to organization X") are events of a few kinds, read newest first.
        Index("ix_events_kind_serial", "kind", "serial"),
    )

    serial: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[created]
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    package: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(200))
    basename: Mapped[str | None] = mapped_column(String(512))
    data: Mapped[jsondict]


class LoginFailure(Base):
    """Failed password logins, kept in the database so every worker rate-limits alike."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_remote_addr_at", "remote_addr", "at"),)

    id: Mapped[intpk]
    login_key: Mapped[str] = mapped_column(String(100), index=True)
    remote_addr: Mapped[str] = mapped_column(String(100), default="")
    """The throttle's source (core/throttle.throttle_source): an IPv4 address or an IPv6 /64. Indexed with
    `at` for the per-address count, which under a spray of failures must not scan the whole window."""
    at: Mapped[created] = mapped_column(index=True)


class GroupPerm(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


OWNERS_GROUP = "owners"
"""Every organization has this group; its members own the organization."""


class Group(Base):
    """A set of an organization's members with one permission on the packages the group lists."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    perms: Mapped[str] = mapped_column(String(10), default=GroupPerm.READ)
    created_at: Mapped[created]

    org: Mapped[Account] = relationship(lazy="joined")
    members: Mapped[list[Account]] = relationship(secondary="group_members", order_by="Account.login_key")
    packages: Mapped[list[Package]] = relationship(secondary="group_packages", order_by="Package.name_key")


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GroupPackage(Base):
    __tablename__ = "group_packages"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Collaborator(Base):
    """A user with read or write access to one package, whoever owns it."""

    __tablename__ = "collaborators"

    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(10), default="write", server_default="write")
    """`write` (seed 001: "full read/write permissions", the default) or `read` (sees and installs it, even
    when private)."""
    created_at: Mapped[created]


class IndexGeneration(Base):
    """A counter per index slice, bumped in the transaction that changes the slice.

    Index documents are assembled from per-file records on first read and cached with the generation they were
    built from; a changed generation is how every worker learns, durably and at once, that its copy is stale.
    """

    __tablename__ = "index_generations"

    format: Mapped[str] = mapped_column(String(20), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    """Format-specific slice key, e.g. the conda subdir; "" for the channel as a whole."""
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class JobRun(Base):
    """The last run of each periodic job (core/jobs.py), shared by every node: a node that holds the job's lock
    runs it only when this row says the interval has passed, so the job runs once per interval in the cluster."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_run_at: Mapped[dt.datetime]
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    """How many times the job has run, all nodes together."""
    node: Mapped[str] = mapped_column(String(200), default="")
    """Which process ran it last (host:pid)."""
    result: Mapped[str] = mapped_column(Text, default="")
    """What the last run did ("removed 3 rows") or the error it stopped on."""


class FileHistory(Base):
    """One row per file ever added to an owner: what a snapshot (`core.snapshots`) lists once the file is gone.

    `files` rows are deleted on removal, so the view "as at event serial N" needs its own record: the file's
    index fields as they were added, and the serials it lived between. Written by `core.snapshots.record` inside
    the transaction of each change (core.services.events.emit), so it cannot disagree with the event log.
    A transfer closes the row under the old owner and opens one under the new, as its events say.
    """

    __tablename__ = "file_history"
    __table_args__ = (
        Index("ix_file_history_owner_type_added", "owner_id", "package_type", "added_serial"),
        Index("ix_file_history_file_open", "file_id", "removed_serial"),
        Index("ix_file_history_removed", "removed_serial"),
    )

    id: Mapped[intpk]
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    """The owner's history goes with the owner: a login taken again never shows the old owner's files."""
    file_id: Mapped[int] = mapped_column(Integer)
    """The live file while `removed_serial` is NULL (no foreign key: the row outlives the file)."""
    package_id: Mapped[int] = mapped_column(Integer, index=True)
    package_name: Mapped[str] = mapped_column(String(200))
    package_key: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    basename: Mapped[str] = mapped_column(String(512))
    package_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    attrs: Mapped[jsondict]
    extra: Mapped[jsondict]
    """Side documents by name -> sha256 (PEP 658 metadata): kept downloadable, like the file."""
    uploaded_at: Mapped[dt.datetime]
    access: Mapped[str] = mapped_column(String(20), default=Access.PUBLIC)
    """The package's access as last known: what decides a snapshot's readers once the package is gone."""
    added_serial: Mapped[int] = mapped_column(BigInteger)
    removed_serial: Mapped[int | None] = mapped_column(BigInteger)
    """NULL while the file is live; else the serial of its `file.removed` event (visible up to serial - 1)."""


class FileLabelHistory(Base):
    """When a history file carried a label: visible in that label for serials in [added_serial, removed_serial)."""

    __tablename__ = "file_label_history"
    __table_args__ = (Index("ix_file_label_history_label", "label", "history_id"),)

    id: Mapped[intpk]
    history_id: Mapped[int] = mapped_column(ForeignKey("file_history.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    added_serial: Mapped[int] = mapped_column(BigInteger)
    removed_serial: Mapped[int | None] = mapped_column(BigInteger)


class FileYankHistory(Base):
    """PEP 592 flags over time: a file's yank state at serial N is its newest row at or before N (none: not
    yanked, unless the file was added yanked, which its `attrs` say)."""

    __tablename__ = "file_yank_history"

    id: Mapped[intpk]
    history_id: Mapped[int] = mapped_column(ForeignKey("file_history.id", ondelete="CASCADE"), index=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    yanked: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)


class SnapshotPrune(Base):
    """`packyard snapshots prune --before N` runs: snapshots older than the newest `before_serial` are incomplete
    (their removed files are forgotten), so they are refused rather than served with files missing."""

    __tablename__ = "snapshot_prunes"

    id: Mapped[intpk]
    before_serial: Mapped[int] = mapped_column(BigInteger)
    removed_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    at: Mapped[created]
