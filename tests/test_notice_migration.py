"""Migration 0006 carries data forward: what was "issued" is now "recorded", by the same
member at the same time, as a notice (not a diffusion) whose requesting country is unknown;
the warrant item of an existing checklist becomes the legal-authority item. On SQLite and
PostgreSQL, and back down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from bot.store.engine import alembic_config
from bot.store.models import Member, Operation, Subject

WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)



def _old_notice(url: str) -> None:
    engine = sa.create_engine(url)
    tables = {m: m.__table__ for m in (Member, Operation, Subject)}  # type: ignore[attr-defined]
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
                "name": "Ivan",
                "category": "suspect",
                "aliases": [],
                "tlp": "amber",
                "review_at": WHEN,
                "created_at": WHEN,
            },
        )
        conn.execute(
            sa.text(
                "INSERT INTO notice (id, operation_id, seq, colour, subject_id, charges, "
                "external_ref, tlp, status, issued_by, issued_at, expires_at) VALUES "
                "(1, 1, 1, 'red', 1, 'trafficking', '2026/4411', 'amber', 'active', 1, :t, :e)"
            ),
            {"t": WHEN, "e": WHEN.replace(year=2031)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO sighting (id, operation_id, seq, subject_id, location, observed_at, "
                "reported_at, grade, tlp) VALUES (1, 1, 1, 1, 'Porto', :t, :t, 'B2', 'amber')"
            ),
            {"t": WHEN},
        )
        conn.execute(
            sa.text(
                "INSERT INTO checklisttemplate (id, name, title, builtin) "
                "VALUES (1, 'local-raid', 'Local raid', :no)"
            ),
            {"no": False},
        )
        for pos, text in ((1, "Warrant / legal authority checked (local form)"), (2, "RV set")):
            conn.execute(
                sa.text(
                    "INSERT INTO templateitem (template_id, position, phase, text, mandatory) "
                    "VALUES (1, :pos, 'before', :text, :yes)"
                ),
                {"pos": pos, "text": text, "yes": True},
            )
    engine.dispose()


def _rules(url: str) -> list[tuple[int, str | None]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT position, rule FROM templateitem ORDER BY position"))
        found = [(int(p), r) for p, r in rows]
    engine.dispose()
    return found


def _review_dates(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = [
            str(conn.execute(sa.text(f"SELECT review_at FROM {t}")).scalar_one())[:10]
            for t in ("sighting", "notice")
        ]
    engine.dispose()
    return found


def _sighting_grades(url: str) -> tuple[str | None, str | None]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT grade, reporter_grade FROM sighting")).one()
    engine.dispose()
    return row[0], row[1]


def _notice_row(url: str) -> dict[str, object]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM notice")).mappings().one()
    engine.dispose()
    return dict(row)


async def test_issued_notices_become_recorded_ones(empty_url: str) -> None:
    cfg = alembic_config(empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0005")
    await asyncio.to_thread(_old_notice, empty_url)
    await asyncio.to_thread(command.upgrade, cfg, "0006")
    row = await asyncio.to_thread(_notice_row, empty_url)
    assert "issued_by" not in row and "issued_at" not in row
    assert row["recorded_by"] == 1
    assert row["kind"] == "notice"
    assert (row["requested_by"], row["warrant_ref"], row["countries"]) == (None, None, None)
    assert (row["colour"], row["charges"], row["external_ref"]) == (
        "red",
        "trafficking",
        "2026/4411",
    )
    # Sightings and notices get review dates 12 months after they were recorded.
    assert await asyncio.to_thread(_review_dates, empty_url) == ["2027-11-01", "2027-11-01"]
    # Grades so far were the reporters' own: kept as their assessment, not as the grade.
    assert await asyncio.to_thread(_sighting_grades, empty_url) == (None, "B2")
    # The warrant item of an existing checklist becomes the legal authority (never forced).
    assert await asyncio.to_thread(_rules, empty_url) == [(1, "legal"), (2, None)]
    # And back: the downgrade restores the old names with the data.
    await asyncio.to_thread(command.downgrade, cfg, "0005")
    row = await asyncio.to_thread(_notice_row, empty_url)
    assert row["issued_by"] == 1 and "kind" not in row
    engine = sa.create_engine(empty_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT grade FROM sighting")).scalar_one() == "B2"
    engine.dispose()
