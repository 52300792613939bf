"""SQLite for the async engine without a thread hop per call.

SQLAlchemy's async SQLite driver (aiosqlite) hands every call (cursor, execute, fetch,
close) to a thread of its own and waits for the answer; with SQLAlchemy's adaptation on
top, a trivial statement cost ~270 µs here against ~60 µs for the same statement on the
plain `sqlite3` driver. SQLite on a local file answers in microseconds and this process is
its only writer (`bot.store.groupcommit`), so this dialect is the plain `sqlite3` one declared
async: SQLAlchemy runs it inside its greenlet on the event loop's thread and never needs
to switch away, since nothing in it awaits.

A statement that finds the write lock taken by another connection (the CLI, a backup, a
second store in tests) waits for it on the event loop, retrying, instead of in SQLite's
busy handler: the loop goes on meanwhile, so the holder can finish.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator, Iterator
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "sqlite+taskforce"


class _Ready:
    """An awaitable that is done at once."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator: `await _Ready()` returns None without suspending


_READY = _Ready()


def _check_in() -> None:
    # The async engine insists that executing a statement awaits something: show it one
    # awaitable that is already done (one greenlet switch, no trip through the loop).
    if in_greenlet():
        await_(_READY)


BUSY_WAIT_SECONDS = 5.0  # how long a statement waits for another connection's write lock


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


busy = _busy  # whether an error is another connection's write lock (`bot.store.fastsql` too)


def busy_waits() -> Iterator[float]:
    """The pauses between tries while another connection holds the write lock: 1 ms,
    doubling up to 50 ms, `BUSY_WAIT_SECONDS` in all (`bot.store.fastsql` waits the same way)."""
    delay, waited = 0.001, 0.0
    while waited < BUSY_WAIT_SECONDS:
        yield delay
        waited += delay
        delay = min(delay * 2, 0.05)


def _run(call: Callable[[], None]) -> None:
    """Run a statement; while another connection holds the write lock, wait for it on the
    event loop (not in SQLite's busy handler, which would stop the loop — and with it the
    holder, when it is a task of this very process)."""
    _check_in()
    waits = busy_waits()
    while True:
        try:
            call()
            return
        except sqlite3.OperationalError as exc:
            pause = next(waits, None)
            if not _busy(exc) or pause is None or not in_greenlet():
                raise
        await_(asyncio.sleep(pause))


class _Cursor:
    """A `sqlite3.Cursor` with the one async hook SQLAlchemy's async results call."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def execute(self, *args: Any) -> Any:
        return self._cursor.execute(*args)

    def executemany(self, *args: Any) -> Any:
        return self._cursor.executemany(*args)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchmany(self, *args: Any) -> list[Any]:
        return self._cursor.fetchmany(*args)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def close(self) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    async def _async_soft_close(self) -> None:
        """Nothing to wait for: the rows are already here."""


class _Connection:
    """A `sqlite3.Connection` whose cursors are `_Cursor`s."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        object.__setattr__(self, "_conn", conn)

    @property
    def driver_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = self._conn
        return conn

    def cursor(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._conn.cursor(*args, **kwargs))

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """The `sqlite3` dialect, run by SQLAlchemy's async engine on the loop's thread."""

    driver = "taskforce"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        """The async-adapted pool (the async engine requires one)."""
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        """Execute (see `_run`)."""
        _run(
            lambda: super(InlineSQLiteDialect, self).do_execute(
                cursor, statement, parameters, context
            )
        )

    def do_executemany(
        self, cursor: Any, statement: Any, parameters: Any, context: Any = None
    ) -> None:
        """Execute many (see `_run`)."""
        _run(
            lambda: super(InlineSQLiteDialect, self).do_executemany(
                cursor, statement, parameters, context
            )
        )

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        """Execute without parameters (see `_run`)."""
        _run(
            lambda: super(InlineSQLiteDialect, self).do_execute_no_params(
                cursor, statement, context
            )
        )

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        """A `sqlite3` connection, wrapped for the async engine's results."""
        return _Connection(super().connect(*cargs, **cparams))  # type: ignore[arg-type]

    def create_connect_args(self, url: URL) -> Any:
        """The sqlite3 arguments, usable from the loop's thread only (as we use them)."""
        args, kwargs = super().create_connect_args(url)
        kwargs["check_same_thread"] = False
        return args, kwargs


registry.register("sqlite.taskforce", __name__, "InlineSQLiteDialect")


def begin_immediate(dbapi_connection: Any) -> None:
    """`BEGIN IMMEDIATE` on a connection of this dialect, straight at `sqlite3` (from
    SQLAlchemy's "begin" event; a held write lock is waited for as by any statement)."""
    conn: sqlite3.Connection = dbapi_connection.driver_connection
    _run(lambda: conn.execute("BEGIN IMMEDIATE").close())


def inline_url(url: str) -> str:
    """`sqlite+aiosqlite:///path` (or any sqlite URL) → the same file on this dialect."""
    return DRIVER + url[url.index(":") :]
