"""Migration 0013 (issue 27): existing persons with a date of birth and vehicles named by a
plate get their normalised keys, so a subject recorded before the upgrade deconflicts after
it; the downgrade takes the keys and the new tables away again. Both stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from bot.store.engine import alembic_config
from bot.store.models import Member, Operation, Subject

WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _old_rows(url: str) -> None:
    engine = sa.create_engine(url)
    tables = {m: m.__table__ for m in (Member, Operation, Subject)}  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(tables[Member].insert(), {"id": 1, "name": "Ana", "created_at": WHEN})
        conn.execute(
            tables[Operation].insert(),
            {"id": 1, "code": "OP-OLD", "name": "Old", "created_at": WHEN},
        )
        for sid, kind, name, dob in (
            (1, "person", "Ivan Petrov", "1985"),
            (2, "vehicle", "1234 ABC", None),
            (3, "person", "Marko Vidal", None),
            (4, "vehicle", "white Transit van", None),
        ):
            conn.execute(
                tables[Subject].insert(),
                {
                    "id": sid,
                    "operation_id": 1,
                    "seq": sid,
                    "kind": kind,
                    "name": name,
                    "category": "suspect" if kind == "person" else None,
                    "aliases": [],
                    "dob": dob,
                    "tlp": "amber",
                    "review_at": WHEN,
                    "created_at": WHEN,
                },
            )
    engine.dispose()


def _strong(url: str) -> set[tuple[int, str, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT subject_id, part, token FROM subjectkey "
                "WHERE part NOT IN ('name', 'alias')"
            )
        ).all()
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    return {(int(a), str(b), str(c)) for a, b, c in found} | {
        (0, "table", t) for t in tables if t in ("subjectrelation", "deconflictionhit")
    }


async def test_the_upgrade_backfills_the_keys_and_the_downgrade_removes_them(
    empty_url: str,
) -> None:
    cfg = alembic_config(empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0013_room")
    await asyncio.to_thread(_old_rows, empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await asyncio.to_thread(_strong, empty_url) == {
        (1, "identity", "person:ivan petrov|1985"),
        (2, "plate", "plate:1234abc"),
        (0, "table", "subjectrelation"),
        (0, "table", "deconflictionhit"),
    }
    await asyncio.to_thread(command.downgrade, cfg, "0013_room")
    assert await asyncio.to_thread(_strong, empty_url) == set()
