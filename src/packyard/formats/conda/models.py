"""conda's own tables: one pre-serialised repodata record per conda file, and the shards made from them."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from packyard.core.models import Base, created


class CondaRecord(Base):
    """The repodata record of one conda file, serialised once at upload (never recomputed per request)."""

    __tablename__ = "conda_records"
    __table_args__ = (Index("ix_conda_records_slice", "owner_id", "subdir", "name"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    subdir: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    """The conda package name (index.json), which is what shards are keyed by."""
    filename: Mapped[str] = mapped_column(String(300))
    record: Mapped[str] = mapped_column(Text)
    """JSON text of the record, ready to be spliced into repodata.json."""


class CondaMember(Base):
    """Which conda files a slice (owner, label, subdir) holds: label membership kept beside the records.

    A slice is read in primary-key order from here, so rebuilding `main/linux-64` touches its own files only,
    not every file of the owner's subdir in every label (file_labels alone cannot be range-scanned by subdir).
    """

    __tablename__ = "conda_members"

    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    subdir: Mapped[str] = mapped_column(String(50), primary_key=True)
    file_id: Mapped[int] = mapped_column(
        ForeignKey("conda_records.file_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CondaShard(Base):
    """A CEP-16 shard: zstd(msgpack) of one package name's records in one slice, named by its sha256.

    Content-addressed and immutable, kept in the database so every worker can serve any shard an index names.
    """

    __tablename__ = "conda_shards"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    """The package the shard was made for: who may fetch it, also after a newer shard replaced it."""
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[created]


class CondaShardHead(Base):
    """Which shard is current for a package name in a slice (owner, label, subdir)."""

    __tablename__ = "conda_shard_heads"

    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    subdir: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
