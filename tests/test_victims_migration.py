"""Migration 0013_victims: a victim recorded before it, without a date of birth, comes out
of it a victim (protected) but not a child — the presumption of childhood needs a recorded
reason now (issue 28); the new tables go again on the way down, the subject stays. On
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from bot.store.engine import alembic_config

WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _old_victim(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO operation (id, code, name, countries, tlp, timezone, status, "
                "created_at, subject_seq, notice_seq, sighting_seq, raid_seq) VALUES "
                "(1, 'OP-OLD', 'Old', '', 'amber', 'UTC', 'active', :t, 1, 0, 0, 0)"
            ),
            {"t": WHEN},
        )
        conn.execute(
            sa.text(
                "INSERT INTO subject (id, operation_id, seq, kind, name, category, aliases, "
                "tlp, review_at, created_at) VALUES "
                "(1, 1, 1, 'person', 'Ana V', 'victim', '[]', 'amber', :t, :t)"
            ),
            {"t": WHEN},
        )
    engine.dispose()


def _scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar_one()
    engine.dispose()
    return value


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    return names


async def test_an_old_victim_is_no_child_by_default_and_the_way_back_keeps_her(
    empty_url: str,
) -> None:
    cfg = alembic_config(empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0012")
    await asyncio.to_thread(_old_victim, empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0013_victims")
    presumed = await asyncio.to_thread(_scalar, empty_url, "SELECT child_presumed FROM subject")
    assert presumed in (False, 0)
    assert {"ageassessment", "victimreferral", "task", "handover"} <= await asyncio.to_thread(
        _tables, empty_url
    )
    await asyncio.to_thread(command.downgrade, cfg, "0012")
    assert await asyncio.to_thread(_scalar, empty_url, "SELECT name FROM subject") == "Ana V"
    left = await asyncio.to_thread(_tables, empty_url)
    assert not {"ageassessment", "victimreferral", "task", "handover"} & left
