"""Entities read at the driver (`bot.store.entityrows`) are what the ORM would have loaded:
persistent in the session, clean, complete, the identity map's own object when it has one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect
from sqlmodel import select

from bot.serving.app import App
from bot.store.entityrows import EntityRows, fresh
from bot.store.models import Agency, Member, Operation, Sighting

MEMBER = Member.__table__  # type: ignore[attr-defined]
AGENCY = Agency.__table__  # type: ignore[attr-defined]

MEMBER_WITH_AGENCY = EntityRows(
    [Member, Agency, AGENCY.c.timezone],
    lambda columns: (
        sa.select(*columns)
        .select_from(MEMBER)
        .outerjoin(AGENCY, AGENCY.c.id == MEMBER.c.agency_id)
        .where(MEMBER.c.name == sa.bindparam("name"))
    ),
)
OPERATION_BY_CODE = EntityRows(
    [Operation],
    lambda columns: sa.select(*columns).where(
        Operation.__table__.c.code == sa.bindparam("code")  # type: ignore[attr-defined]
    ),
)


async def _setup(app: App) -> None:
    async with app.store.transaction() as session:
        agency = Agency(
            code="PT-PJ", name="Polícia Judiciária", country="PT", timezone="Europe/Lisbon"
        )
        session.add(agency)
        await session.flush()
        now = datetime(2026, 11, 30, 9, 15, 0, 123456, tzinfo=UTC)
        session.add(Member(name="Rui Costa", agency_id=agency.id, language="pt", created_at=now))
        session.add(Member(name="Nobody Else", created_at=now))


def _columns(obj: Any) -> dict[str, Any]:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}


async def test_entities_equal_what_the_orm_loads_and_are_persistent(any_app: App) -> None:
    await _setup(any_app)
    async with any_app.store.transaction() as session:
        row = await MEMBER_WITH_AGENCY.first(session, {"name": "Rui Costa"})
        assert row is not None
        member, agency, zone = row
        state = inspect(member)
        assert state.persistent and not state.modified and not state.expired_attributes
        assert zone == "Europe/Lisbon" and agency.code == "PT-PJ"
        read = (_columns(member), _columns(agency))
    async with any_app.store.transaction() as session:
        by_orm = (
            await session.exec(
                select(Member, Agency).join(Agency).where(Member.name == "Rui Costa")
            )
        ).one()
        assert read == (_columns(by_orm[0]), _columns(by_orm[1]))


async def test_a_change_to_a_loaded_entity_is_written_at_commit(any_app: App) -> None:
    await _setup(any_app)
    async with any_app.store.transaction() as session:
        row = await MEMBER_WITH_AGENCY.first(session, {"name": "Rui Costa"})
        assert row is not None
        row[0].language = "es"
    async with any_app.store.transaction() as session:
        again = (await session.exec(select(Member).where(Member.name == "Rui Costa"))).one()
    assert again.language == "es"


async def test_the_identity_maps_object_is_returned_with_its_pending_change(any_app: App) -> None:
    await _setup(any_app)
    async with any_app.store.transaction() as session:
        loaded = (await session.exec(select(Member).where(Member.name == "Rui Costa"))).one()
        loaded.timezone = "Atlantic/Azores"  # pending: flushed before the read
        row = await MEMBER_WITH_AGENCY.first(session, {"name": "Rui Costa"})
        assert row is not None and row[0] is loaded
        assert loaded.timezone == "Atlantic/Azores"


async def test_a_missing_outer_join_is_none_and_no_row_is_none(any_app: App) -> None:
    await _setup(any_app)
    async with any_app.store.transaction() as session:
        row = await MEMBER_WITH_AGENCY.first(session, {"name": "Nobody Else"})
        assert row is not None and row[1] is None and row[2] is None
        assert await MEMBER_WITH_AGENCY.first(session, {"name": "Not there"}) is None
        assert await OPERATION_BY_CODE.all(session, {"code": "OP-NONE"}) == []


async def test_an_entity_read_in_a_rolled_back_transaction_changes_nothing(any_app: App) -> None:
    await _setup(any_app)
    try:
        async with any_app.store.transaction() as session:
            row = await MEMBER_WITH_AGENCY.first(session, {"name": "Rui Costa"})
            assert row is not None
            row[0].name = "Changed"
            raise RuntimeError("the command failed")
    except RuntimeError:
        pass
    async with any_app.store.transaction() as session:
        names = sorted((await session.exec(select(Member.name))).all())
    assert "Changed" not in names and "Rui Costa" in names


def test_a_fresh_entity_is_what_its_constructor_makes() -> None:
    """`fresh` builds the Sighting a Core INSERT writes: the same fields and defaults as
    `Sighting(...)`, no session history."""
    values: dict[str, Any] = {
        "operation_id": 1,
        "seq": 4,
        "location": "Checkpoint 9",
        "observed_at": datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        "reported_at": datetime(2026, 11, 30, 8, 5, tzinfo=UTC),
        "tlp": "amber",
        "note": "white van",
    }
    made, built = fresh(Sighting, **values), Sighting(**values)
    assert _columns(made) == _columns(built)
    assert made.model_fields_set == built.model_fields_set
    assert inspect(made).transient
