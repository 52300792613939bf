"""How the store's transactions share the database (bench/RESULTS.md).

SQLite has one writer: transactions that arrive together share it by group commit (each in
its own savepoint, one COMMIT for the batch). A transaction's `async with` returns only
once its commit has happened, so whatever a command acknowledges is durable. PostgreSQL
runs transactions side by side (up to the pool's size per process).
"""

from __future__ import annotations

import asyncio
import sqlite3

import psycopg
import pytest
from sqlmodel import func, select

from bot.base import metrics
from bot.serving.app import App
from bot.store.models import Agency


def _visible_elsewhere(app: App, code: str) -> bool:
    """Whether a separate connection (another process would use one) sees the agency."""
    url = app.store.url
    if app.store.is_sqlite:
        path = url.split(":///", 1)[1]
        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT 1 FROM agency WHERE code = ?", (code,)).fetchone()
            return row is not None
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM agency WHERE code = %s", (code,)).fetchone() is not None


def _batches() -> tuple[float, float]:
    """(batches committed, transactions in them) so far, from the histogram."""
    count = total = 0.0
    for metric in metrics.STORE_BATCH.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return count, total


async def test_concurrent_transactions_all_commit_and_each_is_durable_when_it_returns(
    any_app: App,
) -> None:
    seen_at_return: list[bool] = []

    async def add(n: int) -> None:
        async with any_app.store.transaction() as session:
            await asyncio.sleep(0)  # let the others try to get in
            session.add(Agency(code=f"AG-{n}", name=f"Agency {n}", country="ES"))
        seen_at_return.append(await asyncio.to_thread(_visible_elsewhere, any_app, f"AG-{n}"))

    await asyncio.gather(*(add(n) for n in range(40)))
    assert seen_at_return == [True] * 40
    async with any_app.store.transaction() as session:
        count = (await session.exec(select(func.count()).select_from(Agency))).one()
    assert count == 40


async def test_sqlite_writers_take_turns_and_commit_together(app: App) -> None:
    inside = 0
    most = 0
    before_batches, before_total = _batches()

    async def add(n: int) -> None:
        nonlocal inside, most
        async with app.store.transaction() as session:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            session.add(Agency(code=f"AG-{n}", name=f"Agency {n}", country="ES"))
            await session.flush()
            inside -= 1

    await asyncio.gather(*(add(n) for n in range(40)))
    batches, total = _batches()
    assert most == 1  # one writer at a time
    assert total - before_total == 40
    assert batches - before_batches < 40  # arriving together, they committed together


async def test_postgresql_transactions_run_side_by_side(pg_url: str, make_app) -> None:  # type: ignore[no-untyped-def]
    app = await make_app(pg_url)
    inside = 0
    most = 0
    both_in = asyncio.Event()

    async def add(n: int) -> None:
        nonlocal inside, most
        async with app.store.transaction() as session:
            inside += 1
            most = max(most, inside)
            if inside >= 2:
                both_in.set()
            await asyncio.wait_for(both_in.wait(), 10)
            session.add(Agency(code=f"AG-{n}", name=f"Agency {n}", country="ES"))
            await session.flush()
            inside -= 1

    await asyncio.gather(*(add(n) for n in range(4)))
    assert most >= 2


async def test_a_failure_in_the_middle_of_a_batch_rolls_back_alone(app: App) -> None:
    gate = asyncio.Event()
    before_batches, before_total = _batches()

    async def add(n: int) -> None:
        async with app.store.transaction() as session:
            session.add(Agency(code=f"AG-{n}", name=f"Agency {n}", country="ES"))
            await session.flush()
            if n == 0:
                await gate.wait()  # hold the writer until the others queue behind
            if n == 3:
                raise ValueError("boom")

    first = asyncio.create_task(add(0))
    await asyncio.sleep(0)
    others = [asyncio.create_task(add(n)) for n in range(1, 7)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *others, return_exceptions=True)
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "NoneType",
        "NoneType",
        "ValueError",
        "NoneType",
        "NoneType",
        "NoneType",
    ]
    batches, total = _batches()
    assert batches - before_batches < 6  # they did share a commit
    assert total - before_total == 6
    async with app.store.transaction() as session:
        codes = set((await session.exec(select(Agency.code))).all())
    assert codes == {f"AG-{n}" for n in (0, 1, 2, 4, 5, 6)}


async def test_a_failed_transaction_gives_the_turn_to_the_next(any_app: App) -> None:
    with pytest.raises(ValueError):
        async with any_app.store.transaction() as session:
            session.add(Agency(code="AG-X", name="Rolled back", country="ES"))
            await session.flush()
            raise ValueError("boom")
    async with asyncio.timeout(10), any_app.store.transaction() as session:
        found = (await session.exec(select(Agency).where(Agency.code == "AG-X"))).first()
    assert found is None


async def test_a_nested_sqlite_transaction_fails_at_once_instead_of_waiting_for_itself(
    app: App,
) -> None:
    async with app.store.transaction():
        with pytest.raises(RuntimeError, match="nested store transaction"):
            async with asyncio.timeout(2), app.store.transaction():
                pass
    async with app.store.transaction() as session:  # the turn was given back
        await session.exec(select(func.count()).select_from(Agency))
