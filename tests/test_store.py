"""The store on SQLite and PostgreSQL: migrations, no drift, pragmas, constraints, bootstrap."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import SQLModel, col, func, select

from bot.base.clock import ManualClock
from bot.commands.dispatch import dispatch
from bot.contracts import Actor, Channel, Invocation
from bot.serving.app import App
from bot.serving.bootstrap import add_member, ensure_admins
from bot.store.engine import Store, alembic_config
from bot.store.models import Identity, Member, Membership, Operation, ProcessedEvent, Sighting
from bot.store.sqlite_driver import BUSY_WAIT_SECONDS, busy_waits
from tests.conftest import PG_URL, AppFactory, fresh_pg_database, make_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it at all (SQLite: not even the file)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'empty.db'}"
        return
    if not PG_URL:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    url, drop = fresh_pg_database()
    yield url
    drop()


async def _tables(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_take_an_empty_database_to_head(empty_url: str) -> None:
    store = Store(empty_url)
    try:
        assert await _tables(store) == set()
        assert not await store.migrations_at_head()
        await store.migrate()
        assert await store.migrations_at_head()
        assert await _tables(store) == set(SQLModel.metadata.tables) | {"alembic_version"}
        await store.migrate()  # at every start: a no-op at head
        assert await store.migrations_at_head()
        # No drift between the models and the migrated schema.
        await asyncio.to_thread(command.check, alembic_config(empty_url))
    finally:
        await store.dispose()


async def test_alembic_check_finds_no_drift(db_url: str) -> None:
    await asyncio.to_thread(command.check, alembic_config(db_url))


async def test_alembic_check_notices_a_drift(sqlite_url: str) -> None:
    """The check above can fail: a column the models do not know of is a drift."""
    store = Store(sqlite_url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE agency ADD COLUMN motto VARCHAR(50)"))
    finally:
        await store.dispose()
    with pytest.raises(Exception, match="New upgrade operations detected"):
        await asyncio.to_thread(command.check, alembic_config(sqlite_url))


async def test_sqlite_pragmas(app: App) -> None:
    async with app.store.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
    # busy_timeout 0: lock waits happen on the event loop (bot/store/sqlite_driver.py), not in
    # SQLite's busy handler, which would stop the whole process while it waits.
    assert (str(mode).lower(), busy, fks, sync) == ("wal", 0, 1, 1)


async def test_a_locked_sqlite_file_is_waited_for_without_stopping_the_loop(
    app: App, sqlite_url: str
) -> None:
    other = sqlite3.connect(sqlite_url.split(":///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process (the CLI, a backup) writes
    ticks = 0

    async def write() -> None:
        async with app.store.transaction() as session:
            session.add(Member(name="Waited", created_at=datetime.now(UTC)))

    waiting = asyncio.create_task(write())
    while ticks < 20:  # the loop keeps running while the write waits for the lock
        await asyncio.sleep(0.005)
        ticks += 1
    assert not waiting.done()
    other.execute("COMMIT")
    await asyncio.wait_for(waiting, 5)
    other.close()
    async with app.store.transaction() as session:
        names = [m.name for m in (await session.exec(select(Member))).all()]
    assert "Waited" in names


async def test_times_come_back_aware_in_utc(any_app: App) -> None:
    madrid = timezone(timedelta(hours=1))
    async with any_app.store.transaction() as session:
        member = Member(name="Ana", created_at=datetime(2026, 3, 1, 10, 30, 15, 123456, madrid))
        session.add(member)
    async with any_app.store.transaction() as session:
        back = await session.get(Member, member.id)
    assert back is not None
    assert back.created_at == datetime(2026, 3, 1, 9, 30, 15, 123456, UTC)
    assert back.created_at.tzinfo is UTC


async def test_naive_times_are_refused(any_app: App) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with any_app.store.transaction() as session:
            session.add(Member(name="Ana", created_at=datetime(2026, 3, 1, 10, 30)))


async def test_foreign_keys_and_unique_keys_hold(any_app: App, clock: ManualClock) -> None:
    with pytest.raises(IntegrityError):
        async with any_app.store.transaction() as session:
            session.add(Membership(operation_id=999, member_id=999, role="lead", joined_at=clock()))
    with pytest.raises(IntegrityError):
        async with any_app.store.transaction() as session:
            admin = (await session.exec(select(Identity))).first()
            assert admin is not None
            session.add(
                Identity(
                    member_id=admin.member_id, platform="console", key=admin.key, created_at=clock()
                )
            )


async def test_a_failed_transaction_leaves_nothing(any_app: App, clock: ManualClock) -> None:
    with pytest.raises(RuntimeError):
        async with any_app.store.transaction() as session:
            session.add(Member(name="Ghost", created_at=clock()))
            await session.flush()
            raise RuntimeError("stop")
    async with any_app.store.transaction() as session:
        names = [m.name for m in (await session.exec(select(Member))).all()]
    assert "Ghost" not in names


async def test_200_concurrent_commands_in_4_operations_are_each_stored_once(
    any_app: App,
) -> None:
    ops = [f"OP-CONC{n}" for n in range(4)]
    for code in ops:
        assert (await any_app.console.push(f'op new "{code}" --code {code}', as_="admin")).ok
        line = f'subject add {code} person "Ivan Petrov" --category suspect'
        assert (await any_app.console.push(line, as_="admin")).ok

    def sighting(n: int) -> Invocation:
        code = ops[n % 4]
        return Invocation(
            actor=Actor("console", "admin", "admin"),
            channel=Channel("console", "console", "console", is_group=False),
            text=f'sighting {code}/S-1 at "Quay {n}" --grade B2',
            event_key=f"evt-{n}",
            local=True,  # the operator's own terminal: no rate limit
        )

    replies = await asyncio.gather(*(dispatch(any_app.core, sighting(n)) for n in range(200)))
    assert all(r.ok for r in replies), [r.message.plain_text() for r in replies if not r.ok]
    # A second delivery of every event changes nothing.
    again = await asyncio.gather(*(dispatch(any_app.core, sighting(n)) for n in range(200)))
    assert all(r.duplicate for r in again)
    async with any_app.store.transaction() as session:
        rows = (
            await session.exec(
                select(Operation.code, Sighting.seq).join(
                    Sighting, col(Sighting.operation_id) == col(Operation.id)
                )
            )
        ).all()
        processed = (
            await session.exec(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(col(ProcessedEvent.event_key).like("evt-%"))
            )
        ).one()
    for code in ops:
        assert sorted(seq for c, seq in rows if c == code) == list(range(1, 51)), code
    assert processed == 200
    verify = await any_app.console.push("audit verify", as_="admin")
    assert verify.ok, verify.message.plain_text()
    # bootstrap + 4 x (op new, subject add) + 200 sightings, in 5 chains (admin + 4)
    assert verify.message.plain_text().startswith(
        "Audit chain intact: 209 entries verified in 5 chains."
    )


async def test_admin_bootstrap_is_idempotent_and_promotes(
    make_app: AppFactory, db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    app = await make_app(db_url)  # TASKFORCE_ADMINS=console:admin: created at prepare()
    assert await ensure_admins(app.store, app.settings, clock()) == 0
    await add_member(app.store, clock(), name="Bob", identities=["console:bob", "telegram:42"])
    assert "Admin: yes" not in (await app.console.push("whoami", as_="bob")).message.plain_text()
    settings = make_settings(
        db_url, tmp_path, TASKFORCE_ADMINS="console:admin, telegram:42 ,slack:T1/U9"
    )
    assert await ensure_admins(app.store, settings, clock()) == 2  # Bob promoted, U9 created
    assert await ensure_admins(app.store, settings, clock()) == 0
    assert "Admin: yes" in (await app.console.push("whoami", as_="bob")).message.plain_text()
    async with app.store.transaction() as session:
        members = (await session.exec(select(Member).order_by(Member.id))).all()  # type: ignore[arg-type]
        idents = (await session.exec(select(Identity))).all()
    assert [(m.name, m.is_admin) for m in members] == [
        ("admin", True),
        ("Bob", True),
        ("slack T1/U9", True),
    ]
    assert len(idents) == 4
    verify = await app.console.push("audit verify", as_="admin")
    assert "intact" in verify.message.plain_text()


def test_a_held_write_lock_is_waited_for_five_seconds_at_most() -> None:
    """The pauses every statement takes while another connection writes (sqlite_driver and
    fastsql alike): short at first, capped, and given up after BUSY_WAIT_SECONDS."""
    pauses = list(busy_waits())
    assert pauses[0] == 0.001 and max(pauses) == 0.05
    assert BUSY_WAIT_SECONDS <= sum(pauses) < BUSY_WAIT_SECONDS + 0.05
