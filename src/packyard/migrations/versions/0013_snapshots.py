"""snapshots: the history of every file (file_history, its label intervals and yank flags) and prune marks

Backfilled from today's files and labels at the current serial; snapshots of earlier serials cannot be told
and are refused (a snapshot_prunes row at that serial), rather than served as an empty or a present-day channel.

Revision ID: 0013_snapshots
Revises: 0012_cluster
Create Date: 2026-12-07 04:50:58
"""

import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = "0013_snapshots"
down_revision = "0012_cluster"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_prunes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("before_serial", sa.BigInteger(), nullable=False),
        sa.Column("removed_rows", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "file_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("package_name", sa.String(length=200), nullable=False),
        sa.Column("package_key", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("basename", sa.String(length=512), nullable=False),
        sa.Column("package_type", sa.String(length=20), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("access", sa.String(length=20), nullable=False),
        sa.Column("added_serial", sa.BigInteger(), nullable=False),
        sa.Column("removed_serial", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_history", schema=None) as batch_op:
        batch_op.create_index("ix_file_history_file_open", ["file_id", "removed_serial"], unique=False)
        batch_op.create_index(
            "ix_file_history_owner_type_added", ["owner_id", "package_type", "added_serial"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_file_history_package_id"), ["package_id"], unique=False)
        batch_op.create_index("ix_file_history_removed", ["removed_serial"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_history_sha256"), ["sha256"], unique=False)

    op.create_table(
        "file_label_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("history_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("added_serial", sa.BigInteger(), nullable=False),
        sa.Column("removed_serial", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["history_id"], ["file_history.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_label_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_label_history_history_id"), ["history_id"], unique=False)
        batch_op.create_index("ix_file_label_history_label", ["label", "history_id"], unique=False)

    op.create_table(
        "file_yank_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("history_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["history_id"], ["file_history.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_yank_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_yank_history_history_id"), ["history_id"], unique=False)
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    serial = bind.execute(sa.text("SELECT max(serial) FROM events")).scalar() or 0
    bind.execute(
        sa.text(
            "INSERT INTO file_history (owner_id, file_id, package_id, package_name, package_key, version, "
            "basename, package_type, size, md5, sha256, attrs, extra, uploaded_at, access, added_serial) "
            "SELECT p.owner_id, f.id, p.id, p.name, p.name_key, r.version, f.basename, f.package_type, f.size, "
            "f.md5, f.sha256, f.attrs, f.extra, f.uploaded_at, p.access, :serial "
            "FROM files f JOIN releases r ON r.id = f.release_id JOIN packages p ON p.id = f.package_id "
            "ORDER BY f.id"
        ),
        {"serial": serial},
    )
    bind.execute(
        sa.text(
            "INSERT INTO file_label_history (history_id, label, added_serial) "
            "SELECT h.id, l.name, :serial FROM file_history h "
            "JOIN file_labels fl ON fl.file_id = h.file_id JOIN labels l ON l.id = fl.label_id "
            "ORDER BY h.id, l.name"
        ),
        {"serial": serial},
    )
    if serial:
        prunes = sa.table(
            "snapshot_prunes",
            sa.column("before_serial", sa.BigInteger()),
            sa.column("removed_rows", sa.BigInteger()),
            sa.column("at", sa.DateTime(timezone=True)),
        )
        op.bulk_insert(prunes, [{"before_serial": serial, "removed_rows": 0, "at": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    with op.batch_alter_table("file_yank_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_yank_history_history_id"))

    op.drop_table("file_yank_history")
    with op.batch_alter_table("file_label_history", schema=None) as batch_op:
        batch_op.drop_index("ix_file_label_history_label")
        batch_op.drop_index(batch_op.f("ix_file_label_history_history_id"))

    op.drop_table("file_label_history")
    with op.batch_alter_table("file_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_history_sha256"))
        batch_op.drop_index("ix_file_history_removed")
        batch_op.drop_index(batch_op.f("ix_file_history_package_id"))
        batch_op.drop_index("ix_file_history_owner_type_added")
        batch_op.drop_index("ix_file_history_file_open")

    op.drop_table("file_history")
    op.drop_table("snapshot_prunes")
