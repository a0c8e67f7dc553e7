"""Alembic environment: the URL comes from the caller's config (packyard.core.migrate), never from a file."""

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool, text

import packyard.formats  # noqa: F401 - registers the formats (and their tables on Base.metadata)
from packyard.core.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


MIGRATE_LOCK_KEY = 0x7061636B6D696772  # "packmigr"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several nodes may start (and migrate) at once: one upgrades, the others wait here and then find
            # the schema current. The lock ends with the transaction, which holds every revision's DDL.
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK_KEY})"))
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
