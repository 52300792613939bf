"""Test helpers: the whole content of the store, to prove that a command wrote nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401  (registers every table in the metadata)
from bot.store.engine import Store

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(store: Store) -> Snapshot:
    """Every row of every table, ordered by primary key."""
    out: Snapshot = {}
    async with store.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            stmt = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(r) for r in (await conn.execute(stmt)).all()]
    return out


def changed_tables(before: Snapshot, after: Snapshot) -> dict[str, tuple[int, int]]:
    """Tables whose rows differ: name → (rows before, rows after)."""
    return {
        name: (len(before.get(name, [])), len(rows))
        for name, rows in after.items()
        if rows != before.get(name, [])
    }


async def count(store: Store, table: str) -> int:
    """How many rows `table` holds."""
    return len((await snapshot(store))[table])


def denied_only(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    """What a refused access may write: `denied` audit entries appended (and the tips of
    their chains moved on), nothing else.

    Fails (AssertionError) if any other table changed, an existing audit entry changed, or
    a new entry is anything but a denied access; returns the new entries as dicts.
    """
    changed = changed_tables(before, after)
    assert set(changed) <= {"auditentry", "auditchain"}, f"a refusal wrote {changed}"
    tips_before = {row[0] for row in before.get("auditchain", [])}
    tips_after = {row[0] for row in after.get("auditchain", [])}
    assert tips_before <= tips_after, "a refusal removed an audit chain"
    old, new = before.get("auditentry", []), after.get("auditentry", [])
    assert new[: len(old)] == old, "a refusal altered earlier audit entries"
    names = [c.name for c in SQLModel.metadata.tables["auditentry"].columns]
    added = [dict(zip(names, row, strict=True)) for row in new[len(old) :]]
    assert all(e["outcome"] == "denied" for e in added), f"a refusal wrote {added}"
    return added
