"""The store's transactions take turns on an in-process lock (bench/RESULTS.md).

On SQLite every transaction takes the write lock anyway (BEGIN IMMEDIATE): queueing on an
asyncio lock first replaces SQLite's sleeping busy handler, which starved concurrent
writers. On PostgreSQL every command ends on the audit chain's lock, and many commands in
flight in one event loop made its holder wait behind all the others. These tests pin the
behaviour, on both backends, not the speed.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.models import Agency


async def test_concurrent_transactions_take_turns_and_all_commit(any_app: App) -> None:
    inside = 0
    most = 0

    async def add(n: int) -> None:
        nonlocal inside, most
        async with any_app.store.transaction() as session:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)  # let the others try to get in
            session.add(Agency(code=f"AG-{n}", name=f"Agency {n}", country="ES"))
            await session.flush()
            inside -= 1

    await asyncio.gather(*(add(n) for n in range(40)))
    assert most == 1
    async with any_app.store.transaction() as session:
        count = (await session.exec(select(func.count()).select_from(Agency))).one()
    assert count == 40


async def test_a_failed_transaction_gives_the_turn_to_the_next(any_app: App) -> None:
    with pytest.raises(ValueError):
        async with any_app.store.transaction() as session:
            session.add(Agency(code="AG-X", name="Rolled back", country="ES"))
            await session.flush()
            raise ValueError("boom")
    async with asyncio.timeout(10), any_app.store.transaction() as session:
        found = (await session.exec(select(Agency).where(Agency.code == "AG-X"))).first()
    assert found is None


async def test_a_nested_transaction_fails_at_once_instead_of_waiting_for_itself(
    any_app: App,
) -> None:
    async with any_app.store.transaction():
        with pytest.raises(RuntimeError, match="nested store transaction"):
            async with asyncio.timeout(2), any_app.store.transaction():
                pass
    async with any_app.store.transaction() as session:  # the turn was given back
        await session.exec(select(func.count()).select_from(Agency))
