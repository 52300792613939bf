"""Leader election for the scheduler: one replica fires the schedules.

On PostgreSQL the replica holding `pg_try_advisory_lock` on its own unpooled psycopg
connection leads (retried every `retry` seconds, so another replica takes over within
seconds when the leader dies); on SQLite the single process always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import psycopg
import structlog
from sqlalchemy.engine import make_url

log = structlog.get_logger("bot.jobs.scheduler")

SCHEDULER_LOCK_ID = 7_415_003  # pg advisory lock key of the scheduler leader


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class LeaderLock:
    """Leader election with `pg_try_advisory_lock` on a dedicated, unpooled connection.

    `url` None (SQLite) means a single process: always leader.
    """

    def __init__(self, url: str | None, *, retry: float, lock_id: int = SCHEDULER_LOCK_ID):
        self.url = _libpq_url(url) if url else None
        self.retry = retry
        self.lock_id = lock_id
        self.is_leader = url is None
        self.problem: str | None = None
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gained = False

    async def start(self, on_gain: Callable[[], Awaitable[None]]) -> None:
        """Try for the lock now (awaiting `on_gain` if won), then every `retry` seconds."""
        if self.url is None:
            await on_gain()
            return
        self._stop.clear()
        await self._attempt(on_gain)
        self._task = asyncio.create_task(self._loop(on_gain), name="scheduler-leader")

    async def _attempt(self, on_gain: Callable[[], Awaitable[None]]) -> None:
        assert self.url is not None
        try:
            if self._conn is None or self._conn.closed:
                self.is_leader = False
                self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            if not self.is_leader:
                cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,))
                row = await cur.fetchone()
                if row and row[0]:
                    self.is_leader = True
                    log.info("scheduler.leader", lock=self.lock_id)
            else:
                await self._conn.execute("SELECT 1")  # the lock lives with the connection
            self.problem = None
        except (psycopg.Error, OSError) as exc:
            if self.is_leader:
                log.warning("scheduler.leadership_lost", error=str(exc)[:200])
            self.is_leader = self._gained = False
            self.problem = f"leader election: {type(exc).__name__}"
            await self._close()
            return
        if self.is_leader and not self._gained:
            self._gained = True
            await on_gain()
        self._gained = self.is_leader

    async def _loop(self, on_gain: Callable[[], Awaitable[None]]) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.retry)
            if not self._stop.is_set():
                await self._attempt(on_gain)

    async def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    async def stop(self) -> None:
        """Stop trying and give the lock up (closing the connection releases it)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.url is not None:
            self.is_leader = False
            await self._close()
