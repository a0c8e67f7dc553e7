"""PyPI's own table: one row per Python distribution file, with what the simple API and XML-RPC list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from packyard.core.models import Base


class PypiFile(Base):
    """A wheel or sdist as the index shows it. Written in the transaction that adds the file (formats/pypi/store)."""

    __tablename__ = "pypi_files"
    __table_args__ = (Index("ix_pypi_files_project", "owner_id", "project"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    project: Mapped[str] = mapped_column(String(200))
    """PEP 503 normalised project name."""
    filename: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(200))
    packagetype: Mapped[str] = mapped_column(String(20))
    python_version: Mapped[str] = mapped_column(String(50))
    requires_python: Mapped[str | None] = mapped_column(String(200))
    metadata_sha256: Mapped[str | None] = mapped_column(String(64))
    """sha256 of the PEP 658 METADATA side document (also its blob key), when there is one."""
    yanked: Mapped[bool] = mapped_column(default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    upload_time: Mapped[dt.datetime]
