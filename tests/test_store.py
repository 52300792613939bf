"""The store on SQLite and PostgreSQL: migrations, no drift, pragmas, constraints, bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import SQLModel, select

from bot.app import App
from bot.bootstrap import add_member, ensure_admins
from bot.clock import ManualClock
from bot.models import Identity, Member, Membership
from bot.store import Store, alembic_config
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
    assert (str(mode).lower(), busy, fks, sync) == ("wal", 5000, 1, 1)


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


async def test_concurrent_commands_keep_one_audit_chain(any_app: App) -> None:
    reply = await any_app.console.push('op new "Night Harbour"', as_="admin")
    assert reply.ok
    replies = await asyncio.gather(
        *(any_app.console.push(line, as_="admin") for line in ["op show", "op members"] * 8)
    )
    assert all(r.ok for r in replies)
    verify = await any_app.console.push("audit verify", as_="admin")
    # bootstrap admin + op new + 16 reads, each with its own entry, in one unbroken chain
    assert verify.message.plain_text() == "Audit chain intact: 18 entries verified."


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
