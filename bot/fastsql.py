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
from sqlalchemy.sql.compiler import Compiled
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sqlite_driver import BUSY_WAIT_SECONDS, InlineSQLiteDialect, busy

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for the inline SQLite dialect: SQL, parameter order, binds."""

    sql: str
    compiled: Compiled
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, params: Params) -> tuple[Any, ...]:
        values = self.compiled.construct_params(dict(params))
        assert values is not None
        out = []
        for name, proc in zip(self.names, self.processors, strict=True):
            value = values[name]
            out.append(proc(value) if proc is not None and value is not None else value)
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
        conn = await session.connection()
        plan = self._plan_for(conn.dialect)
        if plan is None:
            return (await conn.execute(self.statement, dict(params or {}))).all()
        return await _run(conn, plan, plan.parameters(params or {}))

    async def execute(
        self, session: AsyncSession, params: Params | Sequence[Params]
    ) -> Sequence[Any]:
        """Run a write (one parameter set, or many); return its RETURNING rows, if any.

        Like any Core statement on the connection, it does not flush the ORM first."""
        conn = await session.connection()
        plan = self._plan_for(conn.dialect)
        if plan is None:
            bound: dict[str, Any] | list[dict[str, Any]] = (
                dict(params) if isinstance(params, Mapping) else [dict(p) for p in params]
            )
            result = await conn.execute(self.statement, bound)
            return result.all() if result.returns_rows else []
        if isinstance(params, Mapping):
            return await _run(conn, plan, plan.parameters(params))
        for one in params:
            await _run(conn, plan, plan.parameters(one))
        return []


def _make_plan(statement: Executable, dialect: Dialect) -> _Plan | None:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    if any(b.expanding for b in compiled.binds.values()):
        return None  # IN lists: rendered per call by SQLAlchemy
    for column in getattr(compiled, "_result_columns", ()) or ():
        kind = column[3]
        if kind._cached_result_processor(dialect, None) is not None:
            return None  # a column that needs converting (a time, JSON): SQLAlchemy reads it
    bind_processors = compiled._bind_processors
    processors = tuple(bind_processors.get(name) for name in names)
    return _Plan(compiled.string, compiled, names, processors)


def _wrapped(plan: _Plan, values: tuple[Any, ...], exc: sqlite3.Error) -> BaseException:
    return DBAPIError.instance(plan.sql, values, exc, sqlite3.Error, hide_parameters=True)


async def _run(conn: AsyncConnection, plan: _Plan, values: tuple[Any, ...]) -> list[Any]:
    """Execute on the session's own sqlite3 connection (already in its transaction)."""
    dbapi = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    assert dbapi is not None
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
