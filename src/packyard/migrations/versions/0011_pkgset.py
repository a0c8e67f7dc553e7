"""collaborators: a permission (read or write; every existing collaborator keeps write)

Revision ID: 0011_pkgset
Revises: 0010
Create Date: 2026-12-06 23:15:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0011_pkgset"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collaborators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("permission", sa.String(length=10), server_default="write", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("collaborators", schema=None) as batch_op:
        batch_op.drop_column("permission")
