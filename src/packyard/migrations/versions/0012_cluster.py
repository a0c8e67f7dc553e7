"""job_runs: the last run of each periodic job, shared by the nodes (core/jobs.py)

Revision ID: 0012_cluster
Revises: 0012_throttle
Create Date: 2026-12-07 01:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0012_cluster"
down_revision = "0012_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
