"""conda slice membership (owner, label, subdir, file)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 23:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conda_members",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("subdir", sa.String(length=50), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["conda_records.file_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id", "label", "subdir", "file_id"),
    )
    with op.batch_alter_table("conda_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conda_members_file_id"), ["file_id"], unique=False)
    # The existing channels: every labelled conda file, as the event listener would have recorded it.
    op.execute(
        "INSERT INTO conda_members (owner_id, label, subdir, file_id) "
        "SELECT r.owner_id, l.name, r.subdir, r.file_id FROM conda_records r "
        "JOIN file_labels fl ON fl.file_id = r.file_id JOIN labels l ON l.id = fl.label_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("conda_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conda_members_file_id"))
    op.drop_table("conda_members")
