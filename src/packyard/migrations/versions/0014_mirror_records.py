"""mirror_records, mirror_documents, mirror_indexes.blob: large upstream indexes kept as blobs (issue #17)

A conda mirror kept each subdir's upstream repodata as one JSON value and parsed it whole at every refresh (a
100,000-record channel: ~500 MB and 6-9 s). Now upstream's body is a blob, streamed through; what fetching a file
needs of each record is a row of mirror_records; rendered merged documents are blobs named by mirror_documents.
The conda rows of mirror_indexes (entries in the old shape) are dropped: the next request fetches them again.

Revision ID: 0014_mirror_records
Revises: 0013_mirrors
Create Date: 2026-12-07 08:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0014_mirror_records"
down_revision = "0013_mirrors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mirror_indexes", sa.Column("blob", sa.String(length=64), nullable=True))
    op.execute(
        "DELETE FROM mirror_indexes WHERE mirror_id IN (SELECT id FROM mirrors WHERE format = 'conda')"
    )
    op.create_table(
        "mirror_records",
        sa.Column(
            "mirror_id", sa.Integer(), sa.ForeignKey("mirrors.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("index_key", sa.String(length=200), primary_key=True),
        sa.Column("filename", sa.String(length=300), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
    )
    op.create_table(
        "mirror_documents",
        sa.Column(
            "mirror_id", sa.Integer(), sa.ForeignKey("mirrors.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("path", sa.String(length=300), primary_key=True),
        sa.Column("audience", sa.String(length=100), primary_key=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mirror_documents")
    op.drop_table("mirror_records")
    op.execute(
        "DELETE FROM mirror_indexes WHERE mirror_id IN (SELECT id FROM mirrors WHERE format = 'conda')"
    )
    op.drop_column("mirror_indexes", "blob")
