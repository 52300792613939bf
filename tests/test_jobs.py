"""Scheduled jobs as a table: a new kind is one `JobKind` and one line in the table; the
scheduler registers, fires, claims and catches it up like the built-in kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.date import DateTrigger
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.clock import ManualClock
from bot.base.messages import Message
from bot.jobs import JOBS, JobKind, Planned, job
from bot.jobs.scheduler import FireResult, Scheduler
from bot.serving.app import App
from bot.store.outbox import enqueue


class Ping(JobKind):
    """A job kind written for this test: one post to console channel `room` at a time."""

    kind = "ping"
    watches = "ping"

    def __init__(self, at: datetime) -> None:
        self.at = at

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        if self.at <= now:
            return []
        return [Planned(f"ping:{ref_id or 1}", DateTrigger(run_date=self.at), 1, self.at)]

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        return [(1, self.at)] if self.at <= now else []

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        enqueue(
            session,
            now=now,
            platform="console",
            channel_key="room",
            message=Message(title="ping", mark="LATE" if late else None),
            operation_id=None,
            tlp="clear",
        )
        return 1


def test_the_table_holds_the_built_in_kinds() -> None:
    assert [k.kind for k in JOBS][:3] == ["brief", "reminder", "review"]
    assert job("reminder").watches == "raid"
    assert job("review").owns("review:0") and not job("review").owns("reviewer:1")
    assert job("reminder").owns("reminder:7:120", 7) and not job("reminder").owns(
        "reminder:70:120", 7
    )


async def test_a_new_kind_is_registered_fired_once_and_caught_up(
    app: App, clock: ManualClock
) -> None:
    clock.set(datetime.now(UTC))  # APScheduler runs on real time
    at = clock() + timedelta(hours=1)
    sched = Scheduler(app.core, jobs=(*JOBS, Ping(at)))
    await sched.start()
    try:
        await sched.settle()
        assert sched.job_times()["ping:1"] == at.astimezone(UTC)
        assert await sched.run_due() == []  # not due yet
        clock.set(at + timedelta(seconds=5))
        assert [(k, r) for k, _, r in await sched.run_due() if k == "ping"] == [
            ("ping", FireResult.SENT)
        ]
        assert [(k, r) for k, _, r in await sched.run_due() if k == "ping"] == [
            ("ping", FireResult.DUPLICATE)
        ]
        assert [p.message.title for p in await app.console.pop_posts("room")] == ["ping"]
        await sched.sync()  # the fire time has passed: its one-off job is dropped
        assert "ping:1" not in sched.job_times()
    finally:
        await sched.stop()
