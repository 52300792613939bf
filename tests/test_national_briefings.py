"""A national deployment's morning (issue 31), at a test's size: 50 operations, each with a
briefing at 07:00 in its own linked channel, two replicas (two Apps, two schedulers with
real APScheduler and leader election) on one PostgreSQL database. Whatever both replicas
do at 07:00 — the leader's catch-up, the standby's too (a leadership change at that very
moment), each job entry point — every briefing is claimed once and queued once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from bot.base.clock import ManualClock
from bot.jobs.scheduler import FireResult, Scheduler, run_job
from bot.store.models import BriefSchedule, OutboxMessage, ScheduledFire
from tests.conftest import START, AppFactory
from tests.fieldintel import fetch, ok

OPERATIONS = 50
SEVEN = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)  # the morning after the clock's START


async def test_fifty_operations_on_two_replicas_get_one_briefing_each(
    make_app: AppFactory, pg_url: str, clock: ManualClock
) -> None:
    one = await make_app(pg_url)
    two = await make_app(pg_url)
    for n in range(OPERATIONS):
        code = f"OP-N{n:02d}"
        await ok(one, f'op new "National {n}" --code {code} --tlp amber')
        await ok(one, f"op link {code} --max-tlp amber", channel=f"room-{n}")
        await ok(one, "brief schedule 07:00 --tz UTC", channel=f"room-{n}")
    schedules = await fetch(one, BriefSchedule)
    assert len(schedules) == OPERATIONS
    a = Scheduler(one.core, node_id="a", leader_retry=0.05)
    b = Scheduler(two.core, node_id="b", leader_retry=0.05)
    try:
        await a.start()
        await b.start()
        assert (a.is_leader, b.is_leader) == (True, False)
        # Both registered every schedule's job with APScheduler, next due at 07:00 UTC.
        for sched in (a, b):
            for row in schedules:
                job = sched.aps.get_job(f"brief:{row.id}")
                assert job is not None
                assert job.trigger.get_next_fire_time(None, START).astimezone(UTC) == SEVEN

        clock.set(SEVEN + timedelta(seconds=5))
        # 07:00:05: the leader's job entry points, the standby's (which do nothing), and
        # both replicas' catch-up all at once.
        work = [run_job(s.key, "brief", row.id or 0) for row in schedules for s in (a, b)]
        due_a, due_b, *_done = await asyncio.gather(a.run_due(), b.run_due(), *work)
        assert isinstance(due_a, list) and isinstance(due_b, list)
        due_results = [r for k, _id, r in due_a + due_b if k == "brief"]
        assert set(due_results) <= {FireResult.SENT, FireResult.DUPLICATE}

        fires = [f for f in await fetch(one, ScheduledFire) if f.kind == "brief"]
        assert Counter(f.ref_id for f in fires) == Counter({s.id: 1 for s in schedules})
        assert {(f.fire_at, f.outcome, f.late) for f in fires} == {(SEVEN, "sent", False)}
        posts = [m for m in await fetch(one, OutboxMessage) if m.kind == "briefing"]
        assert sorted(m.channel_key for m in posts) == sorted(
            f"room-{n}" for n in range(OPERATIONS)
        )
        # Catching up again on either replica finds nothing left to send.
        again = await asyncio.gather(a.run_due(), b.run_due())
        assert [r for k, _id, r in again[0] + again[1] if k == "brief"] == []
        assert len([m for m in await fetch(two, OutboxMessage) if m.kind == "briefing"]) == (
            OPERATIONS
        )
    finally:
        await a.stop()
        await b.stop()
