"""Several replicas on one PostgreSQL database, as real `taskforce` processes: migrations
run once under the advisory lock; the scheduler runs on the leader only and moves to the
other replica when the leader is killed, with every fire sent once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory

from bot.serving.app import build_app
from bot.store.engine import alembic_config
from tests.conftest import PG_URL, fresh_pg_database, make_settings
from tests.serving import TASKFORCE, ServerProcess, replica_env, wait_until

MIGRATION_LOCK_ID = 7_415_001  # migrations/env.py


def plain(url: str) -> str:
    """A libpq URL for psycopg."""
    return url.replace("postgresql+psycopg://", "postgresql://")


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
                env=replica_env(empty_pg, tmp_path / "data"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]

        def both_waiting() -> bool:
            for proc in procs:
                if proc.poll() is not None:  # exited before it could wait: show why
                    raise AssertionError(proc.communicate()[1])
            row = holder.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = %s AND NOT l.granted "
                "AND a.datname = %s",
                (MIGRATION_LOCK_ID, name),
            ).fetchone()
            return bool(row and row[0] == 2)

        try:
            wait_for(both_waiting, timeout=120)  # process start-up is slow on a busy host
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


async def replica_state(server: ServerProcess) -> tuple[int, str | None]:
    """`/readyz` status and the scheduler's role there (`leader`/`standby`)."""
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(f"{server.url}/readyz")
    return resp.status_code, resp.json().get("scheduler")


def fires_and_posts(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Scheduled fires (kind, ref, time, node, late) and scheduled posts (kind, status)."""
    with psycopg.connect(plain(url)) as conn:
        fires = conn.execute(
            "SELECT kind, ref_id, fire_at, claimed_by, late FROM scheduledfire "
            "WHERE kind IN ('brief', 'reminder') ORDER BY fire_at"
        ).fetchall()
        posts = conn.execute(
            "SELECT kind, status FROM outboxmessage WHERE kind IN ('briefing', 'reminder') "
            "ORDER BY id"
        ).fetchall()
    return fires, posts


async def test_killing_the_leader_moves_scheduling_to_the_other_replica_without_doubles(
    pg_url: str, tmp_path: Path
) -> None:
    seed = build_app(make_settings(pg_url, tmp_path))  # the real clock, as the replicas
    await seed.prepare()

    async def say(line: str, channel: str) -> None:
        reply = await seed.console.push(line, as_="admin", channel=channel)
        assert reply.ok, f"{line}: {reply.message.plain_text()}"

    await say('op new "Night Harbour" --code OP-NIGHT-HARBOUR', "hq")
    await say("op link", "room")

    env = replica_env(
        pg_url,
        tmp_path / "data",
        TASKFORCE_ADMINS="console:admin",
        TASKFORCE_SCHEDULER_LEADER_RETRY="2",
        TASKFORCE_SCHEDULER_SYNC_SECONDS="1",  # schedules made here reach the replicas fast
    )
    first = await ServerProcess(env).start()
    second: ServerProcess | None = None
    try:
        await wait_until(lambda: _is(first, (200, "leader")), timeout=30)
        second = await ServerProcess(env).start()
        await wait_until(lambda: _is(second, (200, "standby")), timeout=30)

        # A briefing at the next whole minute at least 8 s away and a reminder 4 s after it
        # (both before the kill), and a reminder 20 s after it (after the kill).
        now = datetime.now(UTC)
        brief_at = (now + timedelta(seconds=68)).replace(second=0, microsecond=0)
        r1, r2 = brief_at + timedelta(seconds=4), brief_at + timedelta(seconds=20)
        await say(f"brief schedule {brief_at:%H:%M} --days daily --tz UTC", "room")
        await say(f'raid plan "Warehouse" --at {(r1 + timedelta(minutes=30)).isoformat()}', "hq")
        await say(f'raid plan "Marina" --at {(r2 + timedelta(minutes=30)).isoformat()}', "hq")
        await seed.close()

        def sent_before_kill() -> bool:
            _, posts = fires_and_posts(pg_url)
            return posts == [("briefing", "sent"), ("reminder", "sent")]

        await wait_until(lambda: asyncio.to_thread(sent_before_kill), timeout=120)
        first.signal(signal.SIGKILL)
        await first.wait()
        killed = time.monotonic()
        await wait_until(lambda: _is(second, (200, "leader")), timeout=30)
        takeover = time.monotonic() - killed
        assert datetime.now(UTC) < r2, f"takeover took {takeover:.1f} s, past the next fire"

        def all_sent() -> bool:
            _, posts = fires_and_posts(pg_url)
            return len(posts) == 3 and {s for _, s in posts} == {"sent"}

        await wait_until(lambda: asyncio.to_thread(all_sent), timeout=60)
        assert takeover < 10
    finally:
        await seed.close()
        await first.stop()
        if second is not None:
            await second.stop()

    fires, posts = fires_and_posts(pg_url)
    node_a = first.events("scheduler.started")[0]["node"]
    assert second is not None
    node_b = second.events("scheduler.started")[0]["node"]
    assert [(kind, _utc(at), node, late) for kind, _, at, node, late in fires] == [
        ("brief", brief_at, node_a, False),
        ("reminder", r1, node_a, False),
        ("reminder", r2, node_b, False),
    ]
    assert posts == [("briefing", "sent"), ("reminder", "sent"), ("reminder", "sent")]


async def _is(server: ServerProcess, expected: tuple[int, str | None]) -> bool:
    return await replica_state(server) == expected


def _utc(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
