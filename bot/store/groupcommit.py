"""Group commit for SQLite's single writer: transactions that arrive together commit together.

SQLite lets one connection write at a time. Rather than queue whole transactions (BEGIN,
work, COMMIT, next), the writer keeps one database transaction open while transactions
are waiting for it: each runs in its own savepoint on the shared connection (all-or-nothing
by itself: a failure rolls back to its savepoint and leaves the others alone), and the
last one of the batch commits for all. A transaction's `async with` returns only after the
commit that made it durable; if that commit fails, every transaction of the batch raises.

With nobody waiting, a transaction commits at once: a lone command pays no batching delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base import metrics

log = structlog.get_logger(__name__)

TURN_WAIT = 30.0  # seconds a transaction waits for the writer


class GroupCommit:
    """The one writer of a SQLite store, shared by savepoints, committed in batches."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: AsyncConnection | None = None
        self._batch: list[asyncio.Future[None]] = []
        self._waiting = 0
        self._holder: asyncio.Task[object] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    def _writer_lock(self) -> asyncio.Lock:
        # One lock per event loop: a Store may outlive one `asyncio.run` (the CLI, tests).
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
            self._conn, self._batch, self._waiting = None, [], 0  # the old loop's are gone
        return self._lock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction in the current batch; returns once it is committed."""
        lock = self._writer_lock()
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError("nested store transaction: it would wait for itself")
        self._waiting += 1
        try:
            if self._waiting == 1 and not lock.locked():
                await lock.acquire()  # free, nobody queued: taken at once, without a task
            else:
                await asyncio.wait_for(lock.acquire(), TURN_WAIT)
        except BaseException as exc:
            self._waiting -= 1
            # The holder before us may have left the batch open for us to commit.
            self._spawn_flush()
            if isinstance(exc, TimeoutError):
                raise RuntimeError(
                    f"no turn for a store transaction within {TURN_WAIT:.0f} s"
                ) from None
            raise
        self._waiting -= 1
        self._holder = task
        mine: asyncio.Future[None] | None = None
        try:
            conn = await self._connection()
            first = not self._batch
            # The first transaction of a batch needs no savepoint: if it fails, rolling the
            # whole database transaction back loses nobody else's work.
            session = AsyncSession(
                bind=conn,
                join_transaction_mode="rollback_only" if first else "create_savepoint",
                expire_on_commit=False,
            )
            try:
                if first:
                    try:
                        yield session
                        await session.flush()
                    except BaseException:
                        await session.rollback()  # the database transaction, all of it
                        raise
                else:
                    async with session.begin():  # SAVEPOINT … RELEASE, or ROLLBACK TO
                        yield session
            finally:
                await session.close()
            mine = asyncio.get_running_loop().create_future()
            self._batch.append(mine)
        finally:
            self._holder = None
            if self._conn is not None and not self._conn.in_transaction():
                self._batch = []  # the first one failed and rolled everything back
                lock.release()
            elif self._conn is not None and (
                self._waiting == 0 or len(self._batch) >= self.max_batch
            ):
                # The commit finishes even if this task is cancelled meanwhile (the batch's
                # other transactions wait on it), and only then does the next writer go.
                commit = asyncio.ensure_future(self._commit())
                commit.add_done_callback(lambda _: lock.release())
                await asyncio.shield(commit)
            else:
                lock.release()
        await mine

    def _spawn_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        """Commit a batch left open by a holder whose successor gave up waiting."""
        lock = self._writer_lock()
        async with lock:
            if self._conn is not None and self._batch and self._waiting == 0:
                await self._commit()

    async def _connection(self) -> AsyncConnection:
        """The writer's connection, in a transaction (kept open from batch to batch)."""
        if self._conn is None:
            self._conn = await self.engine.connect()
        if not self._conn.in_transaction():
            try:
                await self._conn.begin()  # BEGIN IMMEDIATE (the store's "begin" listener)
            except BaseException:
                await self.close()
                raise
        return self._conn

    async def close(self) -> None:
        """Give the writer's connection back (the store is being disposed of)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _commit(self) -> None:
        conn, batch = self._conn, self._batch
        self._batch = []
        assert conn is not None
        try:
            await conn.commit()
        except BaseException as exc:
            log.error(
                "store.group_commit_failed", transactions=len(batch), error=type(exc).__name__
            )
            for fut in batch:
                if not fut.done():
                    fut.set_exception(RuntimeError("the store could not commit; nothing was kept"))
            await self.close()
            if not isinstance(exc, Exception):
                raise
            return
        metrics.STORE_BATCH.observe(len(batch))
        for fut in batch:
            if not fut.done():
                fut.set_result(None)
