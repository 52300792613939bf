"""Migration 0013_records carries the grades given so far into the grade history (by the
same member, at the same time), and comes back down. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from bot.store.engine import alembic_config
from bot.store.models import Member, Operation

WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _graded_sighting(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(Member.__table__.insert(), {"id": 1, "name": "Ana", "created_at": WHEN})  # type: ignore[attr-defined]
        conn.execute(
            Operation.__table__.insert(),  # type: ignore[attr-defined]
            {"id": 1, "code": "OP-OLD", "name": "Old", "created_at": WHEN},
        )
        for seq, grade in ((1, "B2"), (2, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO sighting (id, operation_id, seq, location, observed_at, "
                    "reported_at, grade, graded_by, graded_at, tlp) "
                    "VALUES (:seq, 1, :seq, 'Porto', :t, :t, :g, :by, :at, 'amber')"
                ),
                {
                    "seq": seq,
                    "t": WHEN,
                    "g": grade,
                    "by": 1 if grade else None,
                    "at": WHEN if grade else None,
                },
            )
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(sa.text(sql))]
    engine.dispose()
    return found


def _columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url)
    names = {c["name"] for c in sa.inspect(engine).get_columns(table)}
    engine.dispose()
    return names


async def test_grades_given_so_far_start_the_grade_history(empty_url: str) -> None:
    cfg = alembic_config(empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0012")
    await asyncio.to_thread(_graded_sighting, empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0013_records")
    rows = await asyncio.to_thread(
        _rows, empty_url, "SELECT sighting_id, grade, was, graded_by, reason FROM sightinggrade"
    )
    assert rows == [(1, "B2", None, 1, "graded before the history was kept")]
    assert {"published_at"} <= await asyncio.to_thread(_columns, empty_url, "notice")
    assert {"late"} <= await asyncio.to_thread(_columns, empty_url, "raiditem")
    assert {"merged_into"} <= await asyncio.to_thread(_columns, empty_url, "subject")
    await asyncio.to_thread(command.downgrade, cfg, "0012")
    assert "merged_into" not in await asyncio.to_thread(_columns, empty_url, "subject")
    assert await asyncio.to_thread(_rows, empty_url, "SELECT grade FROM sighting ORDER BY id") == [
        ("B2",),
        (None,),
    ]
    await asyncio.to_thread(command.upgrade, cfg, "head")
