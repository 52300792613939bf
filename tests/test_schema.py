"""The migrated schema is the models' schema, on SQLite and PostgreSQL, seen from a fresh
process (as `alembic check` and `taskforce db upgrade` see it); its name columns fit every
registered platform and job kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from bot.base.platforms import platform_names
from bot.jobs import JOBS
from bot.store.engine import Store
from bot.store.models import NAME_LENGTH

# In a child: only what the migrations' env.py imports registers tables there.
UPGRADE_THEN_CHECK = """
import sys
from alembic import command
from bot.store.engine import alembic_config
command.upgrade(alembic_config(sys.argv[1]), "head")
command.check(alembic_config(sys.argv[1]))
"""



def test_upgrade_head_then_alembic_check_finds_no_difference(empty_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", UPGRADE_THEN_CHECK, empty_url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent,  # not the repository: no alembic.ini around
    )
    assert done.returncode == 0, done.stderr[-2000:]


async def test_every_platform_and_job_kind_fits_its_column(db_url: str) -> None:
    store = Store(db_url)
    try:
        async with store.engine.connect() as conn:
            lengths = await conn.run_sync(
                lambda c: {
                    (table, column["name"]): column["type"].length
                    for table in inspect(c).get_table_names()
                    for column in inspect(c).get_columns(table)
                    if column["name"] == "platform"
                    or (table, column["name"]) == ("scheduledfire", "kind")
                }
            )
    finally:
        await store.dispose()
    assert len(lengths) == 9, lengths  # eight tables name a platform; the fires, a job kind
    assert set(lengths.values()) == {NAME_LENGTH}
    longest_platform = max(platform_names(), key=len)
    longest_kind = max((job.kind for job in JOBS), key=len)
    assert len(longest_platform) <= NAME_LENGTH and len(longest_kind) <= NAME_LENGTH


async def test_postgresql_keeps_a_name_as_long_as_the_column(pg_url: str) -> None:
    """PostgreSQL enforces the length SQLite ignores: a name of NAME_LENGTH is stored."""
    store = Store(pg_url)
    name = "p" * NAME_LENGTH
    try:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO platformcursor (platform, name, value, updated_at) "
                f"VALUES ('{name}', 'next_batch', 'x', now())"
            )
            stored = (await conn.exec_driver_sql("SELECT platform FROM platformcursor")).scalar()
    finally:
        await store.dispose()
    assert stored == name
