"""The store: async engines, transactions, SQLite pragmas, migrations at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Executable, create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.config import to_sync_url
from bot.base.filemodes import PRIVATE_DIR, private_sqlite_file
from bot.store.fastsql import allow_later, send_later
from bot.store.groupcommit import GroupCommit
from bot.store.sqlite_driver import begin_immediate, inline_url

# Inside the package, so that every install (wheel, editable, image) carries them.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MAX_BATCH = 64  # transactions committed together at most (SQLite group commit)
SQLITE_BUSY_SECONDS = 5.0  # connect timeout; lock waits are bot.store.sqlite_driver's


class InstallError(RuntimeError):
    """Taskforce is installed without a part it needs; the message is one sentence.

    Not a database problem, and not one that waiting cures: start-up is not retried.
    """


def missing_migrations() -> str | None:
    """One sentence when the migrations are not installed with the package, else None."""
    if (MIGRATIONS_DIR / "env.py").is_file() and any(MIGRATIONS_DIR.glob("versions/*.py")):
        return None
    return (
        f"Taskforce is installed without its database migrations ({MIGRATIONS_DIR} is "
        "missing or empty): reinstall it from the wheel or the source tree, which carry them."
    )


def require_migrations() -> None:
    """Raise `InstallError` when the migrations are not installed."""
    missing = missing_migrations()
    if missing:
        raise InstallError(missing)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for this project pointed at `url` (no alembic.ini needed:
    an installed package has none)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", to_sync_url(url).replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Our own BEGIN (below) instead of the driver's implicit, deferred one.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # No busy handler: a statement that finds the file locked waits on the event loop
    # instead (`bot.store.sqlite_driver`), so that the loop, and the lock's holder, go on.
    cur.execute("PRAGMA busy_timeout=0")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads then writes never
    # fails with SQLITE_BUSY on upgrade, and the audit chain tip cannot move under it.
    begin_immediate(conn.connection.dbapi_connection)


class Store:
    """Owns the engine and hands out transactions; one per process.

    `hide_parameters`: a database error (logged with its traceback) must not carry the
    names and notes of a command into the logs.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        max_batch: int = MAX_BATCH,
        session_info: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        # Handed to every session (`session.info`): the audit keys (`bot.store.audit.keys_of`).
        self.session_info = dict(session_info or {})
        self.is_sqlite = url.startswith("sqlite")
        self._writer: GroupCommit | None = None
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._pool_size = pool_size
        if self.is_sqlite:
            path = url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
                private_sqlite_file(Path(path))
            self.engine: AsyncEngine = create_async_engine(
                inline_url(url),
                echo=echo,
                connect_args={"timeout": SQLITE_BUSY_SECONDS},
                hide_parameters=True,
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            self._writer = GroupCommit(self.engine, max_batch=max_batch)
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

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed on normal exit, rolled back on any exception.

        On exit without an exception the work is durable: the commit has happened.

        SQLite has one writer: transactions share it by group commit (`GroupCommit`), each
        in its own savepoint. PostgreSQL runs transactions side by side, at most the pool's
        size at once per process (more would only queue for a connection while holding
        row locks); what must be serialised (a sequence number, an audit chain) is locked
        per operation by the rows themselves.
        """
        if self._writer is not None:
            async with self._writer.transaction() as session:
                session.info.update(self.session_info)
                yield session
            return
        async with self._slot(), self._sessions() as session, session.begin():
            session.info.update(self.session_info)
            allow_later(session)
            yield session
            await send_later(session)  # the writes kept for one round trip, then COMMIT

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self._pool_size), loop
        async with self._slots:
            yield

    async def migrate(self) -> None:
        """Upgrade the database to the newest migration (run in a thread: Alembic is sync)."""
        require_migrations()
        await asyncio.to_thread(command.upgrade, alembic_config(self.url), "head")

    def migrations_at_head_sync(self) -> bool:
        """Whether the database is at the newest migration."""
        require_migrations()
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
        if self._writer is not None:
            await self._writer.close()
        await self.engine.dispose()


async def core_rows(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """Run a Core SELECT (built once, on tables, not entities) in the session's transaction
    and return its plain rows: no ORM loading, for the reads of the command path.

    It sees what the ORM would: pending ORM changes are flushed first (the ORM's autoflush,
    which a statement run on the connection does not trigger).
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()
    conn = await session.connection()
    return (await conn.execute(statement, dict(params or {}))).all()
