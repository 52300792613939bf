"""Test helpers for the scheduler: the App's instance, and firing what is due now."""

from __future__ import annotations

from bot.jobs.scheduler import FireResult, Scheduler
from bot.serving.app import App


def scheduler(app: App) -> Scheduler:
    """The App's scheduler (tests drive it with `run_due`, or start the real APScheduler)."""
    sched = app.extras["scheduler"]
    assert isinstance(sched, Scheduler)
    return sched


async def fire_due(app: App, kind: str) -> list[FireResult]:
    """Fire everything due at the App's clock; the results of fires of `kind` only."""
    return [r for k, _ref, r in await scheduler(app).run_due() if k == kind]
