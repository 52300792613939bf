"""The hot statements of the command path, run at the driver on SQLite.

A command runs about a dozen small statements. Through SQLAlchemy each costs ~100 µs of
Python here (execution context, parameter processing, result set-up, a greenlet switch)
against ~15 µs for the statement itself in `sqlite3`. A `Prepared` statement is a Core
statement built once, at import; on SQLite (`bot.sqlite_driver`, whose connection lives on
the event loop's thread) it is compiled once and then run directly on the session's own
DBAPI connection — the same connection, transaction and savepoint as everything else the
command does, so nothing about atomicity or visibility changes — with SQLAlchemy's own bind
processors applied to its parameters (times are stored exactly as the ORM stores them).
On PostgreSQL, and for any statement whose result columns would need converting (times,
JSON), it runs through SQLAlchemy as before.

Reads flush pending ORM changes first, as the ORM's autoflush would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sqlite_driver import BUSY_WAIT_SECONDS, InlineSQLiteDialect, busy

Params = Mapping[str, Any]


_MISSING = object()
_DRIVER = "fastsql.driver"  # session.info: the session's sqlite3 connection, once known


@dataclass(frozen=True)
class _Slot:
    """One positional parameter: the name it is given by, its fixed value, its converter."""

    key: str
    name: str
    default: Any
    processor: Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for the inline SQLite dialect: its SQL and its parameters."""

    sql: str
    slots: tuple[_Slot, ...]

    def parameters(self, params: Params) -> tuple[Any, ...]:
        """The positional values, converted as SQLAlchemy converts them (None too: a JSON
        column stores None as `null`, as through SQLAlchemy)."""
        out = []
        for slot in self.slots:
            value = params.get(slot.key, _MISSING)
            if value is _MISSING:
                value = params.get(slot.name, slot.default)
                if value is _MISSING:
                    raise KeyError(f"no value for the bound parameter {slot.name!r}")
            out.append(slot.processor(value) if slot.processor is not None else value)
        return tuple(out)


class Prepared:
    """A Core statement built once; run at the driver on SQLite (see the module)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plan: _Plan | None = None
        self._planned = False

    def _plan_for(self, dialect: Dialect) -> _Plan | None:
        if not isinstance(dialect, InlineSQLiteDialect):
            return None
        if not self._planned:
            self._plan = _make_plan(self.statement, dialect)
            self._planned = True
        return self._plan

    async def rows(self, session: AsyncSession, params: Params | None = None) -> Sequence[Any]:
        """The statement's rows (tuples), after flushing pending ORM changes."""
        if session.new or session.dirty or session.deleted:
            await session.flush()
        driver, conn = await _driver(session)
        plan = self._plan_for(driver[0]) if driver is not None else None
        if plan is None or driver is None:
            if conn is None:
                conn = await session.connection()
            return (await conn.execute(self.statement, dict(params or {}))).all()
        return await _run(driver[1], plan, plan.parameters(params or {}))

    async def execute(
        self, session: AsyncSession, params: Params | Sequence[Params]
    ) -> Sequence[Any]:
        """Run a write (one parameter set, or many); return its RETURNING rows, if any.

        Like any Core statement on the connection, it does not flush the ORM first."""
        driver, conn = await _driver(session)
        plan = self._plan_for(driver[0]) if driver is not None else None
        if plan is None or driver is None:
            if conn is None:
                conn = await session.connection()
            bound: dict[str, Any] | list[dict[str, Any]] = (
                dict(params) if isinstance(params, Mapping) else [dict(p) for p in params]
            )
            result = await conn.execute(self.statement, bound)
            return result.all() if result.returns_rows else []
        if isinstance(params, Mapping):
            return await _run(driver[1], plan, plan.parameters(params))
        for one in params:
            await _run(driver[1], plan, plan.parameters(one))
        return []


async def _driver(
    session: AsyncSession,
) -> tuple[tuple[Dialect, Any] | None, AsyncConnection | None]:
    """The session's inline-SQLite dialect and sqlite3 connection, or (None, its SQLAlchemy
    connection) on another database.

    A store session is bound to one connection for its whole life (`bot.groupcommit`): the
    sqlite3 connection is looked up once per session transaction, once it has begun.
    """
    known = session.info.get(_DRIVER)
    if known is not None:
        transaction, dialect, dbapi = known
        current = session.sync_session.get_transaction()
        if current is transaction and current is not None and current.is_active:
            return (dialect, dbapi), None
    conn = await session.connection()  # begins the transaction (BEGIN IMMEDIATE) if need be
    if not isinstance(conn.dialect, InlineSQLiteDialect):
        return None, conn
    dbapi = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    # Kept for this transaction only: a session that committed and began again could hold
    # another pooled connection (store sessions never do; this makes it hold regardless).
    session.info[_DRIVER] = (session.sync_session.get_transaction(), conn.dialect, dbapi)
    return (conn.dialect, dbapi), conn


def _make_plan(statement: Executable, dialect: Dialect) -> _Plan | None:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if any(b.expanding or b.callable is not None for b in compiled.binds.values()):
        return None  # IN lists (rendered per call), values computed per call: SQLAlchemy
    for column in getattr(compiled, "_result_columns", ()) or ():
        kind = column[3]
        if kind._cached_result_processor(dialect, None) is not None:
            return None  # a column that needs converting (a time, JSON): SQLAlchemy reads it
    processors = compiled._bind_processors
    slots = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        default = _MISSING if bind.required else bind.value
        slots.append(_Slot(str(bind.key), name, default, processors.get(name)))
    return _Plan(compiled.string, tuple(slots))


def _wrapped(plan: _Plan, values: tuple[Any, ...], exc: sqlite3.Error) -> BaseException:
    return DBAPIError.instance(plan.sql, values, exc, sqlite3.Error, hide_parameters=True)


async def _run(dbapi: Any, plan: _Plan, values: tuple[Any, ...]) -> list[Any]:
    """Execute on the session's own sqlite3 connection (already in its transaction)."""
    delay, waited = 0.001, 0.0
    while True:
        cursor = dbapi.cursor()
        try:
            cursor.execute(plan.sql, values)
            return list(cursor.fetchall()) if cursor.description else []
        except sqlite3.OperationalError as exc:
            if not busy(exc) or waited >= BUSY_WAIT_SECONDS:
                raise _wrapped(plan, values, exc) from exc
        except sqlite3.Error as exc:
            # As SQLAlchemy raises it (an IntegrityError is how a second delivery of an
            # event is recognised), without the parameters (user text stays out of logs).
            raise _wrapped(plan, values, exc) from exc
        finally:
            cursor.close()
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.05)
