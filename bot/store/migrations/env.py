"""Alembic environment: sync engine, batch mode on SQLite, advisory lock on PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

# Every module with tables: what `alembic check` and autogenerate compare the database with.
import bot.store.models
import bot.store.room_models  # noqa: F401
from bot.base.config import Settings, to_sync_url

MIGRATION_LOCK_ID = 7_415_001  # pg advisory lock key shared by every replica

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return to_sync_url(url)
    # Run from the `alembic` CLI: use the same configuration as the bot.
    return to_sync_url(Settings().effective_database_url)


def _run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
    )
    if connection.dialect.name == "postgresql":
        # Several replicas may start at once: only one migrates, the others wait, then no-op.
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
        connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
            connection.commit()


def run_migrations_online() -> None:
    """Run migrations on the given connection, or on a fresh sync engine."""
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `taskforce db upgrade`")
run_migrations_online()
