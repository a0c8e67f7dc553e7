"""login_failures: index (remote_addr, at) for the per-address throttle count

Revision ID: 0012_throttle
Revises: 0011_account
Create Date: 2026-12-07 01:50:00
"""

from alembic import op


revision = "0012_throttle"
down_revision = "0011_account"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_remote_addr_at", ["remote_addr", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_remote_addr_at")
