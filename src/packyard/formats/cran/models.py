"""CRAN's own table: one row per R package file, with the DESCRIPTION fields PACKAGES lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from packyard.core.models import Base


class CranFile(Base):
    """An R source or binary package as a CRAN-like repository lists it (formats/cran/store keeps it)."""

    __tablename__ = "cran_files"
    __table_args__ = (Index("ix_cran_files_slice", "owner_id", "kind", "r_version"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    package: Mapped[str] = mapped_column(String(200))
    """The R package name, case-sensitive as R treats it."""
    version: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    """source, win.binary or mac.binary (R's `type`)."""
    r_version: Mapped[str] = mapped_column(String(10), default="")
    """x.y of the R a binary was built for; "" for source packages."""
    filename: Mapped[str] = mapped_column(String(300))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The PACKAGES entry: DESCRIPTION fields plus MD5sum."""
