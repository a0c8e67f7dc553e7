"""tokens limited to one channel (owner): tokens.limit_owner_id

Revision ID: 0011_account
Revises: 0010
Create Date: 2026-12-06 22:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0011_account"
down_revision = "0011_pkgset"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("limit_owner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_tokens_limit_owner_id_accounts", "accounts", ["limit_owner_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tokens_limit_owner_id_accounts", type_="foreignkey")
        batch_op.drop_column("limit_owner_id")
