"""indexes for last-serial lookups on events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 21:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_owner_serial", "events", ["owner", "serial"])
    op.create_index(
        "ix_events_owner_package_serial", "events", ["owner", sa.text("lower(package)"), "serial"]
    )


def downgrade() -> None:
    op.drop_index("ix_events_owner_package_serial", table_name="events")
    op.drop_index("ix_events_owner_serial", table_name="events")
