"""Several replicas on one PostgreSQL database, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory

from bot.store import alembic_config
from tests.conftest import PG_URL, fresh_pg_database

TASKFORCE = str(Path(sys.executable).parent / "taskforce")
MIGRATION_LOCK_ID = 7_415_001  # migrations/env.py


def plain(url: str) -> str:
    """A libpq URL for psycopg."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def env_for(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of one replica."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "SLACK_"))}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    env.update(
        TASKFORCE_DATABASE_URL=url,
        TASKFORCE_DATA_DIR=str(tmp_path / "data"),
        TASKFORCE_LOG_JSON="1",
        **extra,
    )
    return env


def wait_for(condition: object, timeout: float = 30.0) -> None:
    """Poll a (sync) condition until it holds, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """An empty PostgreSQL database (no tables, no migrations)."""
    if not PG_URL:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    url, drop = fresh_pg_database()
    yield url
    drop()


def test_two_processes_migrating_one_empty_database_take_turns(
    empty_pg: str, tmp_path: Path
) -> None:
    name = empty_pg.rsplit("/", 1)[1]
    with psycopg.connect(plain(empty_pg), autocommit=True) as holder:
        # Hold the migration lock so both replicas are provably inside `migrate` at once.
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        procs = [
            subprocess.Popen(
                [TASKFORCE, "db", "upgrade"],
                env=env_for(empty_pg, tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]

        def both_waiting() -> bool:
            row = holder.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = %s AND NOT l.granted "
                "AND a.datname = %s",
                (MIGRATION_LOCK_ID, name),
            ).fetchone()
            return bool(row and row[0] == 2)

        try:
            wait_for(both_waiting)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
        results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "Database is at the newest migration."
    head = ScriptDirectory.from_config(alembic_config(empty_pg)).get_current_head()
    with psycopg.connect(plain(empty_pg)) as conn:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'outboxmessage'"
        ).fetchone()
    assert versions == [(head,)]
    assert tables == (1,)
