"""The hot statements of the command path, run at the driver.

A command runs about a dozen small statements. Through SQLAlchemy each costs ~100 µs of
Python here (execution context, parameter processing, result set-up, a greenlet switch)
against ~15 µs for the statement itself in `sqlite3`. A `Prepared` statement is a Core
statement built once, at import; on SQLite (`bot.store.sqlite_driver`, whose connection lives on
the event loop's thread) it is compiled once and then run directly on the session's own
DBAPI connection — the same connection, transaction and savepoint as everything else the
command does, so nothing about atomicity or visibility changes — with SQLAlchemy's own bind
processors applied to its parameters (times are stored exactly as the ORM stores them).
On PostgreSQL (psycopg) the same holds with psycopg's async connection under the
session's: one `await` on the driver instead of SQLAlchemy's execution context and a
greenlet switch per statement (psycopg prepares a statement on the server once it has run a
few times, as it does under SQLAlchemy). Result columns that need converting (times on
SQLite, JSON) are converted with SQLAlchemy's own result processors, as it would.

Reads flush pending ORM changes first, as the ORM's autoflush would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy
import structlog
from sqlalchemy import Executable
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.sqlite_driver import InlineSQLiteDialect, busy, busy_waits

Params = Mapping[str, Any]


log = structlog.get_logger(__name__)
_MISSING = object()
_DRIVER = "fastsql.driver"  # session.info: the session's driver connection, once known
_LATER = "fastsql.later"  # session.info: writes kept for one round trip (`Prepared.later`)
_LATER_OK = "fastsql.later_ok"  # session.info: the session sends them before it commits


@dataclass(frozen=True)
class _Slot:
    """One positional parameter: the name it is given by, its fixed value, its converter."""

    key: str
    name: str
    default: Any
    processor: Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for its dialect (inline SQLite, psycopg): its SQL and parameters."""

    sql: str
    slots: tuple[_Slot, ...]
    named: bool  # psycopg's `%(name)s` parameters; sqlite3's are positional
    returns_rows: bool | None  # None: plain SQL text, the cursor tells
    # One converter per result column (None: taken as the driver gives it); None if no
    # column needs one.
    converters: tuple[Callable[[Any], Any] | None, ...] | None

    def parameters(self, params: Params) -> tuple[Any, ...] | dict[str, Any]:
        """The values, converted as SQLAlchemy converts them (None too: a JSON column
        stores None as `null`, as through SQLAlchemy): a tuple, or a dict by name."""
        out = []
        for slot in self.slots:
            value = params.get(slot.key, _MISSING)
            if value is _MISSING:
                value = params.get(slot.name, slot.default)
                if value is _MISSING:
                    raise KeyError(f"no value for the bound parameter {slot.name!r}")
            out.append(slot.processor(value) if slot.processor is not None else value)
        if self.named:
            return {slot.name: value for slot, value in zip(self.slots, out, strict=True)}
        return tuple(out)


class Prepared:
    """A Core statement built once; run at the driver (see the module)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Per dialect class (a process may hold a SQLite and a PostgreSQL store).
        self._plans: dict[type[Dialect], _Plan | None] = {}

    def _plan_for(self, dialect: Dialect) -> _Plan | None:
        kind = type(dialect)
        if kind not in self._plans:
            self._plans[kind] = _make_plan(self.statement, dialect)
        return self._plans[kind]

    async def rows(self, session: AsyncSession, params: Params | None = None) -> Sequence[Any]:
        """The statement's rows (tuples), after flushing pending ORM changes."""
        if session.new or session.dirty or session.deleted:
            await session.flush()
        await send_later(session)
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
        await send_later(session)
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
        if plan.returns_rows is not False:
            for one in params:
                await _run(driver[1], plan, plan.parameters(one))
        elif params:
            await _run_many(driver[1], plan, [plan.parameters(one) for one in params])
        return []

    async def later(self, session: AsyncSession, params: Params) -> None:
        """A write whose outcome is needed only by the commit (no rows back): in a store
        transaction on PostgreSQL it is kept and sent with the others, in one round trip,
        before the next statement run here or at the commit (`send_later`); elsewhere it
        runs now. A failure (a unique key) is raised then, as SQLAlchemy raises it.

        Only for writes that nothing reads back through the ORM in the same transaction.
        """
        driver, _conn = await _driver(session)
        plan = self._plan_for(driver[0]) if driver is not None else None
        if plan is None or driver is None or not plan.named or not session.info.get(_LATER_OK):
            await self.execute(session, params)
            return
        later: list[tuple[Any, _Plan, Any]] = session.info.setdefault(_LATER, [])
        later.append((driver[1], plan, plan.parameters(params)))


async def send_later(session: AsyncSession) -> None:
    """Send the writes `Prepared.later` kept for this session's transaction, in one
    pipeline (psycopg): one round trip for all of them."""
    later = session.info.pop(_LATER, None)
    if not later:
        return
    aconn = later[0][0]
    plan = later[0][1]
    try:
        async with aconn.pipeline(), aconn.cursor() as cursor:
            for _conn, plan, values in later:
                await cursor.execute(plan.sql, values)
    except psycopg.Error as exc:
        raise _wrapped(plan, None, exc, psycopg.Error) from exc


def allow_later(session: AsyncSession) -> None:
    """Let `Prepared.later` keep writes in this session (a store transaction on PostgreSQL,
    which calls `send_later` before it commits)."""
    session.info[_LATER_OK] = True


async def _driver(
    session: AsyncSession,
) -> tuple[tuple[Dialect, Any] | None, AsyncConnection | None]:
    """The session's dialect and driver connection (sqlite3, or psycopg's async one), or
    (None, its SQLAlchemy connection) on another driver.

    A store session is bound to one connection for its whole life (`bot.store.groupcommit`; on
    PostgreSQL one transaction per session): the driver connection is looked up once per
    session transaction, once it has begun.
    """
    known = session.info.get(_DRIVER)
    if known is not None:
        transaction, dialect, dbapi = known
        current = session.sync_session.get_transaction()
        if current is transaction and current is not None and current.is_active:
            return (dialect, dbapi), None
    conn = await session.connection()  # begins the transaction (BEGIN IMMEDIATE) if need be
    pooled = conn.sync_connection.connection  # type: ignore[union-attr]
    if isinstance(conn.dialect, InlineSQLiteDialect):
        dbapi = pooled.dbapi_connection
    elif isinstance(conn.dialect, PGDialectAsync_psycopg):
        dbapi = pooled.driver_connection
    else:
        return None, conn
    # Kept for this transaction only: a session that committed and began again could hold
    # another pooled connection (store sessions never do; this makes it hold regardless).
    session.info[_DRIVER] = (session.sync_session.get_transaction(), conn.dialect, dbapi)
    return (conn.dialect, dbapi), conn


_PUBLIC_ONLY: list[str] = []  # why the compiled statements' private hooks are not used


def public_path_reason() -> str | None:
    """Why this process runs every statement through SQLAlchemy's public path, if it does
    (a SQLAlchemy release that changed the compiler details read here)."""
    return _PUBLIC_ONLY[0] if _PUBLIC_ONLY else None


def _make_plan(statement: Executable, dialect: Dialect) -> _Plan | None:
    """The statement's plan at the driver, or None for SQLAlchemy's public path: for what
    the plan cannot hold, and for good once SQLAlchemy's compiler lacks what it reads."""
    if _PUBLIC_ONLY:
        return None
    try:
        return _read_plan(statement, dialect)
    except (AttributeError, KeyError, TypeError, IndexError) as exc:
        _PUBLIC_ONLY.append(f"{type(exc).__name__}: {exc}")
        log.warning(
            "fastsql_public_path",
            reason=_PUBLIC_ONLY[0],
            sqlalchemy=sqlalchemy.__version__,
            effect="every statement runs through SQLAlchemy's public path (slower, correct)",
        )
        return None


def _read_plan(statement: Executable, dialect: Dialect) -> _Plan | None:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if any(b.expanding or b.callable is not None for b in compiled.binds.values()):
        return None  # IN lists (rendered per call), values computed per call: SQLAlchemy
    result_columns = getattr(compiled, "_result_columns", None) or ()
    converters = tuple(
        column[3]._cached_result_processor(dialect, None) for column in result_columns
    )
    processors = compiled._bind_processors
    named = compiled.positiontup is None
    names = list(compiled.bind_names.values()) if named else compiled.positiontup or ()
    slots = []
    for name in names:
        bind = compiled.binds[name]
        default = _MISSING if bind.required else bind.value
        slots.append(_Slot(str(bind.key), name, default, processors.get(name)))
    return _Plan(
        compiled.string,
        tuple(slots),
        named,
        returns_rows=None if getattr(compiled, "isplaintext", False) else bool(result_columns),
        converters=converters if any(c is not None for c in converters) else None,
    )


def _wrapped(plan: _Plan, values: Any, exc: Exception, base: type[Exception]) -> BaseException:
    return DBAPIError.instance(plan.sql, values, exc, base, hide_parameters=True)


async def _run(dbapi: Any, plan: _Plan, values: Any) -> list[Any]:
    """Execute on the session's own driver connection (already in its transaction)."""
    if plan.named:
        rows = await _run_psycopg(dbapi, plan, values)
    else:
        rows = await _run_sqlite(dbapi, plan, values)
    converters = plan.converters
    if converters is None or not rows:
        return rows
    return [
        tuple(v if c is None else c(v) for c, v in zip(converters, row, strict=True))
        for row in rows
    ]


async def _run_many(dbapi: Any, plan: _Plan, values: list[Any]) -> None:
    """One statement for many parameter sets, no rows back: psycopg sends them all in one
    pipeline; on sqlite3 each runs as a single statement does (with its busy wait)."""
    if plan.named:
        try:
            async with dbapi.cursor() as cursor:
                await cursor.executemany(plan.sql, values)
        except psycopg.Error as exc:
            raise _wrapped(plan, None, exc, psycopg.Error) from exc
        return
    for one in values:  # sqlite3: each through the busy wait, like a single statement
        await _run_sqlite(dbapi, plan, one)


async def _run_psycopg(aconn: psycopg.AsyncConnection[Any], plan: _Plan, values: Any) -> list[Any]:
    try:
        async with aconn.cursor() as cursor:
            await cursor.execute(plan.sql, values)
            # (`cursor.description` builds a column object per column, per call: asked
            # only of plain SQL text.)
            returns = plan.returns_rows
            if returns is None:
                returns = cursor.description is not None
            return list(await cursor.fetchall()) if returns else []
    except psycopg.Error as exc:
        # As SQLAlchemy raises it (a unique key's IntegrityError included), without the
        # parameters. The transaction is aborted, as after any failed statement there.
        raise _wrapped(plan, values, exc, psycopg.Error) from exc


async def _run_sqlite(dbapi: Any, plan: _Plan, values: tuple[Any, ...]) -> list[Any]:
    waits = busy_waits()
    while True:
        cursor = dbapi.cursor()
        try:
            cursor.execute(plan.sql, values)
            return list(cursor.fetchall()) if cursor.description else []
        except sqlite3.OperationalError as exc:
            pause = next(waits, None)
            if not busy(exc) or pause is None:
                raise _wrapped(plan, values, exc, sqlite3.Error) from exc
        except sqlite3.Error as exc:
            # As SQLAlchemy raises it (an IntegrityError is how a second delivery of an
            # event is recognised), without the parameters (user text stays out of logs).
            raise _wrapped(plan, values, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
        await asyncio.sleep(pause)
