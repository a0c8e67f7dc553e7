"""mirrors and mirror_indexes: proxy channels of an upstream index (issue #17)

Revision ID: 0013_mirrors
Revises: 0013_snapshots
Create Date: 2026-12-08 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0013_mirrors"
down_revision = "0013_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirrors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("upstream", sa.String(length=1000), nullable=False),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column(
            "created_by", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("account_id", "format", name="uq_mirrors_account_format"),
    )
    op.create_index("ix_mirrors_account_id", "mirrors", ["account_id"])
    op.create_table(
        "mirror_indexes",
        sa.Column(
            "mirror_id", sa.Integer(), sa.ForeignKey("mirrors.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("project", sa.String(length=200), primary_key=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("mirror_indexes")
    op.drop_index("ix_mirrors_account_id", table_name="mirrors")
    op.drop_table("mirrors")
