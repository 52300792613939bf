"""The store: async engines, transactions, SQLite pragmas, migrations at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import to_sync_url

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "migrations"
AUDIT_LOCK_ID = 7_415_002
TURN_WAIT = 30.0  # seconds a transaction waits for its turn in this process


def alembic_config(url: str) -> Config:
    """An Alembic configuration for this project pointed at `url`."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", to_sync_url(url).replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Our own BEGIN (below) instead of the driver's implicit, deferred one.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads then writes never
    # fails with SQLITE_BUSY on upgrade, and the audit chain tip cannot move under it.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """Owns the engine and hands out transactions; one per process.

    `hide_parameters`: a database error (logged with its traceback) must not carry the
    names and notes of a command into the logs.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(
                url, echo=echo, connect_args={"timeout": 30}, hide_parameters=True
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            self.engine = create_async_engine(
                url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=20,
                pool_pre_ping=True,
                hide_parameters=True,
            )
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[Any] | None = None

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed on normal exit, rolled back on any exception.

        Transactions of this process take turns on an asyncio lock (bench/RESULTS.md). On
        SQLite each takes the database's write lock anyway (BEGIN IMMEDIATE): queueing here
        replaces SQLite's busy handler, which sleeps up to 100 ms a try and starved busy
        writers. On PostgreSQL every command ends on the audit chain's lock: with many in
        flight, the holder's every await waited behind all the others' work, and 50
        concurrent commands fell to under one a second; one at a time per process, the
        lock is held only as long as the work needs (replicas still run side by side).
        """
        lock = self._writer_lock()
        task = asyncio.current_task()
        if task is not None and task is self._writer:
            raise RuntimeError("nested store transaction: it would wait for itself")
        try:
            await asyncio.wait_for(lock.acquire(), TURN_WAIT)
        except TimeoutError:
            raise RuntimeError(
                f"no turn for a store transaction within {TURN_WAIT:.0f} s"
            ) from None
        self._writer = task
        try:
            async with self._sessions() as session, session.begin():
                yield session
        finally:
            self._writer = None
            lock.release()

    def _writer_lock(self) -> asyncio.Lock:
        # One lock per event loop: a Store may outlive one `asyncio.run` (the CLI, tests).
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def lock_audit_chain(self, session: AsyncSession) -> None:
        """Serialise appends to the audit chain for the rest of this transaction."""
        if not self.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            await session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=AUDIT_LOCK_ID))  # type: ignore[call-overload]

    async def migrate(self) -> None:
        """Upgrade the database to the newest migration (run in a thread: Alembic is sync)."""
        await asyncio.to_thread(command.upgrade, alembic_config(self.url), "head")

    def migrations_at_head_sync(self) -> bool:
        """Whether the database is at the newest migration."""
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        engine = create_engine(to_sync_url(self.url))
        try:
            with engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        finally:
            engine.dispose()
        return current == head

    async def migrations_at_head(self) -> bool:
        """Async form of `migrations_at_head_sync`."""
        return await asyncio.to_thread(self.migrations_at_head_sync)

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
