"""Migration 0005 backfills the search keys of existing subjects and the grid cells of
existing sightings, so that what was recorded before the upgrade is found after it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from bot.core.links import grid_cell
from bot.store.engine import alembic_config
from bot.store.models import Member, Operation, Sighting, Subject

WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _old_rows(url: str) -> None:
    engine = sa.create_engine(url)
    tables = {m: m.__table__ for m in (Member, Operation, Subject, Sighting)}  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(tables[Member].insert(), {"id": 1, "name": "Ana", "created_at": WHEN})
        conn.execute(
            tables[Operation].insert(),
            {"id": 1, "code": "OP-OLD", "name": "Old", "created_at": WHEN},
        )
        # Only the columns the old schema has (later migrations add subject columns).
        old_subject = sa.table(
            "subject",
            *(sa.column(c, tables[Subject].c[c].type) for c in (
                "id", "operation_id", "seq", "kind", "name", "category", "aliases", "tlp",
                "review_at", "created_at",
            )),
        )
        conn.execute(
            old_subject.insert(),
            {
                "id": 1,
                "operation_id": 1,
                "seq": 1,
                "kind": "person",
                "name": "Иван Петров",
                "category": "suspect",
                "aliases": ["Vanya"],
                "tlp": "amber",
                "review_at": WHEN,
                "created_at": WHEN,
            },
        )
        conn.execute(
            tables[Sighting].insert(),
            {
                "id": 1,
                "operation_id": 1,
                "seq": 1,
                "subject_id": 1,
                "location": "Porto",
                "lat": 41.1406,
                "lon": -8.6132,
                "observed_at": WHEN,
                "reported_at": WHEN,
                "tlp": "amber",
            },
        )
    engine.dispose()


async def test_the_upgrade_backfills_keys_and_cells(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = alembic_config(url)
    await asyncio.to_thread(command.upgrade, cfg, "0003")
    await asyncio.to_thread(_old_rows, url)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        keys = set(conn.execute(sa.text("SELECT part, token, skel FROM subjectkey")).all())
        cell = conn.execute(sa.text("SELECT cell FROM sighting")).scalar_one()
    engine.dispose()
    assert keys == {
        ("name", "ivan", "ivn"),
        ("name", "petrov", "ptrv"),
        ("name", "ivanpetrov", "ivnptrv"),
        ("alias", "vanya", "vn"),
    }
    assert cell == grid_cell(41.1406, -8.6132)
