"""Handled events' keys and first answers are kept `TASKFORCE_PROCESSED_KEEP_DAYS`, then the
scheduler's leader forgets them (the answers quote records); within the window a
redelivery is still answered, never run again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

import bot.store.eventkeys
from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.eventkeys import forget_old_events
from bot.store.models import ProcessedEvent
from tests.conftest import AppFactory
from tests.scheduling import scheduler


async def _keys(app: App) -> set[str]:
    async with app.store.transaction() as session:
        return set((await session.exec(select(ProcessedEvent.event_key))).all())


async def test_the_leader_forgets_events_past_the_window_at_its_sync(
    make_app: AppFactory, db_url: str, clock: ManualClock
) -> None:
    app = await make_app(db_url, TASKFORCE_SCHEDULER_SYNC_SECONDS=0.2)
    first = await app.console.push("op new Nightjar", as_="admin", event_key="old-1")
    assert first.ok
    clock.advance(timedelta(days=7, minutes=1))
    assert (await app.console.push("op list", as_="admin", event_key="new-1")).ok
    assert await _keys(app) == {"old-1", "new-1"}

    sched = scheduler(app)
    await sched.start()
    try:
        async with asyncio.timeout(20):  # the real APScheduler's next sync runs it
            while "old-1" in await _keys(app):
                await asyncio.sleep(0.05)
    finally:
        await sched.stop()
    assert await _keys(app) == {"new-1"}
    # Inside the window the key still stops a redelivery: the first answer, nothing run.
    again = await app.console.push("op list", as_="admin", event_key="new-1")
    assert again.duplicate


async def test_forgetting_goes_in_batches_and_keeps_the_window(
    make_app: AppFactory, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_app(db_url)
    monkeypatch.setattr(bot.store.eventkeys, "BATCH", 3)
    for n in range(7):
        await app.console.push("op list", as_="admin", event_key=f"old-{n}")
    clock.advance(timedelta(days=2))
    await app.console.push("op list", as_="admin", event_key="recent")
    assert await forget_old_events(app.store, clock(), keep_days=1) == 7
    assert await _keys(app) == {"recent"}
    assert await forget_old_events(app.store, clock(), keep_days=1) == 0


async def test_the_window_is_counted_in_days_not_hours(
    make_app: AppFactory, db_url: str, clock: ManualClock
) -> None:
    """A key a few hours old, or exactly a day old, is kept: a redelivery then is still
    answered, not run again (a window read as hours would forget both)."""
    app = await make_app(db_url)
    await app.console.push("op list", as_="admin", event_key="day-old")
    clock.advance(timedelta(minutes=2))
    await app.console.push("op list", as_="admin", event_key="a-day")
    clock.advance(timedelta(hours=21))
    await app.console.push("op list", as_="admin", event_key="hours-old")
    clock.advance(timedelta(hours=3))  # day-old: a day and 2 minutes old; a-day: a day
    assert await forget_old_events(app.store, clock(), keep_days=1) == 1
    assert await _keys(app) == {"a-day", "hours-old"}
    assert (await app.console.push("op list", as_="admin", event_key="hours-old")).duplicate
