"""mirror_syncs: `POST /api/mirrors/NAME/sync` queues a job that a node claims and runs

Revision ID: 0015_mirror_syncs
Revises: 0014_mirror_records
Create Date: 2026-12-07 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0015_mirror_syncs"
down_revision = "0014_mirror_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirror_syncs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mirror_id", sa.Integer(), sa.ForeignKey("mirrors.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "requested_by", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_mirror_syncs_mirror_id", "mirror_syncs", ["mirror_id"])
    op.create_index("ix_mirror_syncs_state", "mirror_syncs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_mirror_syncs_state", table_name="mirror_syncs")
    op.drop_index("ix_mirror_syncs_mirror_id", table_name="mirror_syncs")
    op.drop_table("mirror_syncs")
