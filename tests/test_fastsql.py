"""Prepared statements (`bot.store.fastsql`): at the driver (sqlite3, psycopg) on both stores, with
the answers, the transaction and the errors SQLAlchemy would give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.serving.app import App
from bot.store.fastsql import Prepared
from bot.store.models import Agency, ProcessedEvent

AGENCY = Agency.__table__  # type: ignore[attr-defined]
EVENT = ProcessedEvent.__table__  # type: ignore[attr-defined]

CODES_OF_COUNTRY = Prepared(
    sa.select(AGENCY.c.code).where(AGENCY.c.country == sa.bindparam("country"))
)
RENAME = Prepared(
    sa.update(AGENCY)
    .where(AGENCY.c.code == sa.bindparam("agency"))
    .values(name=sa.bindparam("name"))
    .returning(AGENCY.c.id)
)
EVENTS_AFTER = Prepared(
    sa.select(EVENT.c.event_key)
    .where(EVENT.c.created_at > sa.bindparam("since"))
    .order_by(EVENT.c.event_key)
)
EVENT_TIMES = Prepared(sa.select(EVENT.c.created_at).order_by(EVENT.c.event_key))
ADD_AGENCY = Prepared(
    sa.text(
        "INSERT INTO agency (code, name, country, kind, timezone, language) "
        "VALUES (:code, 'Again', 'ES', 'police', 'UTC', 'en')"
    )
)
ADD_LATER = Prepared(
    sa.insert(AGENCY).values(
        code=sa.bindparam("code"),
        name="Later",
        country=sa.bindparam("country"),
        kind="police",
        timezone="UTC",
        language="en",
    )
)


async def _add_agency(app: App, code: str) -> None:
    async with app.store.transaction() as session:
        session.add(Agency(code=code, name="Policía", country="ES", kind="police"))


async def test_a_read_sees_what_the_command_has_not_flushed_yet(any_app: App) -> None:
    async with any_app.store.transaction() as session:
        session.add(Agency(code="PT-PJ", name="Polícia Judiciária", country="PT"))
        rows = await CODES_OF_COUNTRY.rows(session, {"country": "PT"})
    assert [r[0] for r in rows] == ["PT-PJ"]


async def test_a_write_returns_its_rows_and_commits_with_the_transaction(any_app: App) -> None:
    await _add_agency(any_app, "ES-PN")
    async with any_app.store.transaction() as session:
        rows = await RENAME.execute(session, {"agency": "ES-PN", "name": "Policía Nacional"})
    assert len(rows) == 1
    async with any_app.store.transaction() as session:
        agency = (await session.exec(select(Agency).where(Agency.code == "ES-PN"))).one()
    assert agency.name == "Policía Nacional" and agency.id == rows[0][0]


async def test_a_write_is_rolled_back_with_its_transaction(any_app: App) -> None:
    await _add_agency(any_app, "ES-PN")
    with pytest.raises(RuntimeError):
        async with any_app.store.transaction() as session:
            await RENAME.execute(session, {"agency": "ES-PN", "name": "Changed"})
            raise RuntimeError("the command failed after the write")
    async with any_app.store.transaction() as session:
        agency = (await session.exec(select(Agency).where(Agency.code == "ES-PN"))).one()
    assert agency.name == "Policía"


async def test_a_unique_key_fails_as_sqlalchemy_reports_it(any_app: App) -> None:
    """Dispatch recognises a second delivery by SQLAlchemy's IntegrityError."""
    await _add_agency(any_app, "ES-PN")
    with pytest.raises(IntegrityError):
        async with any_app.store.transaction() as session:
            await ADD_AGENCY.execute(session, {"code": "ES-PN"})


async def test_times_compare_and_read_back_as_the_orm_stores_them(any_app: App) -> None:
    at = datetime(2026, 11, 28, 14, 30, 5, 123456, tzinfo=UTC)
    async with any_app.store.transaction() as session:
        for key, when in (("a", at - timedelta(seconds=1)), ("b", at), ("c", at + timedelta(1))):
            session.add(ProcessedEvent(platform="t", event_key=key, reply={}, created_at=when))
    # The same instant in another zone is the same instant.
    lisbon_evening = at.astimezone(ZoneInfo("Asia/Tokyo"))
    async with any_app.store.transaction() as session:
        after = await EVENTS_AFTER.rows(session, {"since": lisbon_evening})
        times = await EVENT_TIMES.rows(session)
    assert [r[0] for r in after] == ["c"]
    # A time column is converted by SQLAlchemy (aware datetimes, as the ORM returns them).
    assert times[1][0] == at and times[1][0].tzinfo is not None


async def test_the_driver_runs_them_on_both_stores(any_app: App) -> None:
    dialect = any_app.store.engine.dialect
    for statement in (CODES_OF_COUNTRY, RENAME, EVENTS_AFTER, EVENT_TIMES, ADD_AGENCY):
        assert statement._plan_for(dialect) is not None
    times = EVENT_TIMES._plan_for(dialect)
    assert times is not None
    if any_app.store.is_sqlite:  # a time column is converted with SQLAlchemy's own reader
        assert times.converters is not None and times.converters[0] is not None


async def test_a_later_write_is_seen_by_the_next_statement_and_kept_at_commit(
    any_app: App,
) -> None:
    """`Prepared.later` (one round trip for the tail writes on PostgreSQL): what is kept is
    sent before anything else runs here, and at the commit."""
    await _add_agency(any_app, "ES-PN")
    async with any_app.store.transaction() as session:
        await ADD_LATER.later(session, {"code": "PT-PJ", "country": "PT"})
        rows = await CODES_OF_COUNTRY.rows(session, {"country": "PT"})
        await ADD_LATER.later(session, {"code": "FR-PN", "country": "FR"})
    assert [r[0] for r in rows] == ["PT-PJ"]
    async with any_app.store.transaction() as session:
        codes = set((await session.exec(select(Agency.code))).all())
    assert {"ES-PN", "PT-PJ", "FR-PN"} <= codes


async def test_a_later_write_that_fails_fails_the_transaction_as_sqlalchemy_reports_it(
    any_app: App,
) -> None:
    await _add_agency(any_app, "ES-PN")
    with pytest.raises(IntegrityError):
        async with any_app.store.transaction() as session:
            await ADD_LATER.later(session, {"code": "PT-PJ", "country": "PT"})
            await ADD_LATER.later(session, {"code": "ES-PN", "country": "ES"})  # taken
    async with any_app.store.transaction() as session:
        codes = set((await session.exec(select(Agency.code))).all())
    assert "PT-PJ" not in codes  # all or nothing


async def test_later_writes_of_a_rolled_back_transaction_are_never_sent(any_app: App) -> None:
    with pytest.raises(RuntimeError):
        async with any_app.store.transaction() as session:
            await ADD_LATER.later(session, {"code": "PT-PJ", "country": "PT"})
            raise RuntimeError("the command failed")
    async with any_app.store.transaction() as session:
        assert "PT-PJ" not in set((await session.exec(select(Agency.code))).all())
