"""web UI: owner-page and download-count indexes, notification events, the account's last-seen notification

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notifications_seen_serial", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index("ix_packages_owner_modified", ["owner_id", "modified_at"], unique=False)
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_package_ndownloads", ["package_id", "ndownloads"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_kind_serial", ["kind", "serial"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_kind_serial")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_package_ndownloads")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index("ix_packages_owner_modified")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("notifications_seen_serial")
