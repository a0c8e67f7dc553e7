"""package keys follow PEP 503 (lower case, runs of -_. -> -)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00

Packages whose names now share a key (`Shared_Lib` and `shared-lib` of one owner) are neither merged nor dropped:
they keep their old, lower-cased keys, and `packyard serve` refuses to start until an administrator has resolved
them (`packyard names check` lists them; docs/operations.md).
"""

import logging
import re
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

packages = sa.table(
    "packages",
    sa.column("id", sa.Integer),
    sa.column("owner_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
)


def _key(name: str) -> str:
    # Frozen copy of packyard.core.models.package_key (packaging's canonicalize_name) as of this revision.
    return re.sub(r"[-_.]+", "-", name).lower()


def upgrade() -> None:
    bind = op.get_bind()
    groups: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for pkg_id, owner_id, name, stored in bind.execute(
        sa.select(packages.c.id, packages.c.owner_id, packages.c.name, packages.c.name_key)
    ):
        groups[(owner_id, _key(name))].append((pkg_id, stored))
    # A row's new key can only equal another row's old (lower-cased) key if both share the new key, so
    # updating the rows of single-member groups never trips the unique constraint midway.
    for (_owner_id, key), members in groups.items():
        if len(members) > 1:
            log.warning(
                "package name collision left for an administrator: key %r, package ids %s",
                key,
                [pkg_id for pkg_id, _ in members],
            )
            continue
        pkg_id, stored = members[0]
        if stored != key:
            bind.execute(sa.update(packages).where(packages.c.id == pkg_id).values(name_key=key))


def downgrade() -> None:
    # Distinct PEP 503 forms have distinct lower-case forms, so this cannot collide.
    op.execute("UPDATE packages SET name_key = lower(name)")
