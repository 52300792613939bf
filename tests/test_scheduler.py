"""The scheduler: DST, missed fires after downtime, two replicas on PostgreSQL, review lists."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from bot.base.clock import ManualClock, system_clock
from bot.core.recurrence import brief_trigger, fires_between
from bot.jobs.scheduler import FireResult, Scheduler, run_brief
from bot.serving.app import App, build_app
from bot.store.models import BriefSchedule, OutboxMessage, ScheduledFire
from tests.conftest import START, AppFactory, make_settings
from tests.fieldintel import fetch, ok, operation
from tests.scheduling import scheduler
from tests.serving import wait_until

MADRID = ZoneInfo("Europe/Madrid")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def briefings(app: App, channel: str = "room") -> list[str]:
    """Titles-with-marks of briefings delivered to a channel since the last look."""
    return [
        f"[{p.message.mark}] {p.message.title}" if p.message.mark else p.message.title
        for p in await app.console.pop_posts(channel)
        if p.message.title.startswith("Briefing")
    ]


async def test_seven_madrid_is_six_utc_in_winter_and_five_utc_in_summer(
    app: App, clock: ManualClock
) -> None:
    await operation(app)
    await ok(app, "brief schedule 07:00 --days mon-fri --tz Europe/Madrid", channel="room")
    (row,) = await fetch(app, BriefSchedule)
    trigger = brief_trigger(row.time_of_day, row.days, row.timezone)
    # Across the spring change (Sunday 28 March 2027) and the autumn one (31 October 2027).
    spring = [t.astimezone(UTC) for t in fires_between(trigger, utc(2027, 3, 24), utc(2027, 3, 31))]
    assert spring == [
        utc(2027, 3, 24, 6),
        utc(2027, 3, 25, 6),
        utc(2027, 3, 26, 6),
        utc(2027, 3, 29, 5),
        utc(2027, 3, 30, 5),
    ]
    autumn = [
        t.astimezone(UTC) for t in fires_between(trigger, utc(2027, 10, 28), utc(2027, 11, 2))
    ]
    assert autumn == [utc(2027, 10, 28, 5), utc(2027, 10, 29, 5), utc(2027, 11, 1, 6)]

    # The fire path claims the UTC instant the trigger gives, in winter and in summer.
    sched = scheduler(app)
    clock.set(utc(2026, 11, 30, 6, 0, 5))
    assert [r for k, _, r in await sched.run_due() if k == "brief"] == [FireResult.SENT]
    clock.set(utc(2027, 3, 29, 5, 0, 5))
    results = [r for k, _, r in await sched.run_due() if k == "brief"]
    assert results[-1] is FireResult.SENT and set(results[:-1]) == {FireResult.SKIPPED}
    sent = [f.fire_at for f in await fetch(app, ScheduledFire) if f.outcome == "sent"]
    assert sent == [utc(2026, 11, 30, 6), utc(2027, 3, 29, 5)]


async def test_the_real_scheduler_registers_the_dst_correct_next_run(
    tmp_path: Path, sqlite_url: str
) -> None:
    app = build_app(make_settings(sqlite_url, tmp_path), clock=system_clock)
    await app.prepare()
    sched = scheduler(app)
    try:
        await sched.start()
        await operation(app, people=False)
        await ok(app, "brief schedule 07:00 --days mon-fri --tz Europe/Madrid", channel="room")
        await sched.settle()
        (row,) = await fetch(app, BriefSchedule)
        # Worked out with zoneinfo alone: the next weekday 07:00 in Madrid after now.
        now = datetime.now(UTC)
        day = now.astimezone(MADRID).date()
        expected = None
        for n in range(8):
            d = day + timedelta(days=n)
            local = datetime.combine(d, time(7, 0), tzinfo=MADRID)
            if d.weekday() < 5 and local > now:
                expected = local.astimezone(UTC)
                break
        assert sched.job_times()[f"brief:{row.id}"] == expected
        job = sched.aps.get_job(f"brief:{row.id}")
        assert job is not None
        summer = job.trigger.get_next_fire_time(None, utc(2027, 3, 28, 12))
        assert summer.astimezone(UTC) == utc(2027, 3, 29, 5)
        await ok(app, f"brief stop {row.id}", channel="room")
        await sched.settle()
        assert f"brief:{row.id}" not in sched.job_times()
    finally:
        await app.close()


async def test_a_briefing_missed_while_down_is_sent_late_once_and_not_after_six_hours(
    any_app: App, make_app: AppFactory, clock: ManualClock
) -> None:
    await operation(any_app)
    await ok(any_app, "brief schedule 07:00 --tz UTC", channel="room")
    url = any_app.settings.effective_database_url

    # Down across 07:00; back at 09:30: sent once, marked late.
    clock.set(utc(2026, 11, 29, 9, 30))
    first = await make_app(url)
    await scheduler(first).start()
    assert await briefings(first) == ["[LATE] Briefing: OP-NIGHTJAR Nightjar"]
    (post,) = [m for m in await fetch(first, OutboxMessage) if m.kind == "briefing"]
    assert "LATE: due Sun 29 Nov 2026 07:00 UTC; the bot was down." in str(post.payload)
    await scheduler(first).stop()
    # Restarted again: nothing more.
    again = await make_app(url)
    await scheduler(again).start()
    assert await briefings(again) == []
    await scheduler(again).stop()

    # Down from before 07:00 until 13:30 the next day: more than 6 h late, skipped and logged.
    clock.set(utc(2026, 11, 30, 13, 30))
    third = await make_app(url)
    with capture_logs() as logs:
        await scheduler(third).start()
    assert await briefings(third) == []
    skipped = [e for e in logs if e["event"] == "scheduler.fire_skipped" and e["kind"] == "brief"]
    assert [e["fire_at"] for e in skipped] == ["2026-11-30T07:00:00+00:00"]
    fires = {(f.fire_at, f.outcome, f.late) for f in await fetch(third, ScheduledFire)}
    assert (utc(2026, 11, 29, 7), "sent", True) in fires
    assert (utc(2026, 11, 30, 7), "skipped", True) in fires
    assert len([m for m in await fetch(third, OutboxMessage) if m.kind == "briefing"]) == 1


async def test_two_schedulers_on_one_postgres_post_each_fire_once_and_fail_over(
    make_app: AppFactory, pg_url: str, clock: ManualClock
) -> None:
    one = await make_app(pg_url)
    two = await make_app(pg_url)
    await operation(one)
    await ok(one, "brief schedule 07:00 --tz UTC", channel="room")
    (row,) = await fetch(one, BriefSchedule)
    a = Scheduler(one.core, node_id="a", leader_retry=0.05)
    b = Scheduler(two.core, node_id="b", leader_retry=0.05)
    try:
        await a.start()
        await b.start()
        assert (a.is_leader, b.is_leader) == (True, False)
        assert a.ready() is None and b.ready() is None

        # Both try the same fire at the same moment: one claim wins, one post.
        due = utc(2026, 11, 29, 7)
        clock.set(due + timedelta(seconds=3))
        results = await asyncio.gather(
            a.fire("brief", row.id or 0, due), b.fire("brief", row.id or 0, due)
        )
        assert sorted(results) == [FireResult.DUPLICATE, FireResult.SENT]
        # Both catch up at once: nothing more (claimed).
        await asyncio.gather(a.run_due(), b.run_due())
        # The standby's job entry point does nothing at all.
        clock.set(due + timedelta(days=1, seconds=3))
        await run_brief(b.key, row.id or 0)
        sent = [m for m in await fetch(one, OutboxMessage) if m.kind == "briefing"]
        assert len(sent) == 1

        # The leader dies: the standby takes the lock within moments and fires.
        await a.stop()
        await wait_until(lambda: b.is_leader, timeout=5)
        await b.settle()
        await run_brief(b.key, row.id or 0)
        sent = [m for m in await fetch(one, OutboxMessage) if m.kind == "briefing"]
        assert len(sent) == 2
        claims = [
            (f.fire_at, f.claimed_by) for f in await fetch(one, ScheduledFire) if f.kind == "brief"
        ]
        # The race for the first fire may go either way; the second is the new leader's.
        assert [t for t, _by in claims] == [due, due + timedelta(days=1)]
        assert claims[0][1] in ("a", "b") and claims[1][1] == "b"
    finally:
        await a.stop()
        await b.stop()


async def test_records_past_review_are_listed_to_the_leads_weekly(
    app: App, clock: ManualClock
) -> None:
    await operation(app)
    await ok(app, 'subject add person "Viktor Kral" --category suspect')
    await ok(app, 'subject add person "Ana V" --category victim')
    await app.console.pop_posts()
    sched = scheduler(app)
    monday = date(2027, 11, 29)  # more than 12 months on: both records are due for review
    assert monday.weekday() == 0
    clock.set(datetime.combine(monday, time(8, 0, 30), tzinfo=UTC))
    assert [(k, r) for k, _, r in await sched.run_due() if k == "review"] == [
        ("review", FireResult.SENT)
    ]
    (post,) = await app.console.pop_posts("room")
    assert post.message.title == "For the leads of OP-NIGHTJAR: 2 record(s) due for review"
    assert "Past their review date: S-1, S-2." in post.text
    assert "Viktor" not in post.text and "Ana" not in post.text  # references only
    assert post.message.tlp == "green"
    assert len(await app.console.pop_posts("lobby")) == 1  # GREEN fits the lobby too
    assert [k for k, _, _ in await sched.run_due() if k == "review"] == []  # once a week


async def test_a_failed_start_leaves_nothing_running_and_can_be_retried(tmp_path: Path) -> None:
    app = build_app(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", tmp_path),
        clock=system_clock,
    )
    sched = scheduler(app)
    try:
        with pytest.raises(OperationalError):  # not migrated yet: no tables to read
            await sched.start()
        assert not sched.is_leader and sched.ready() == "scheduler not running"
        await app.prepare()
        await sched.start()
        assert sched.is_leader and sched.ready() is None
        assert {"sync", "review"} <= set(sched.job_times())
    finally:
        await app.close()


async def test_a_new_database_reports_no_fire_from_before_it_existed(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app  # created at START, a Saturday: last Monday's 08:00 review predates it
    sched = scheduler(app)
    with capture_logs() as logs:
        assert await sched.run_due() == []
        await operation(app)
        await ok(app, "brief schedule 08:00 --days mon", channel="room")
        await ok(app, 'raid plan "Dawn" --at "2026-12-01 09:00"')
        assert await sched.run_due() == []
        clock.set(utc(2026, 11, 30, 8, 0, 30))  # Monday, after the database was made
        fired = {(kind, result) for kind, _, result in await sched.run_due()}
    assert fired == {("review", FireResult.SENT), ("brief", FireResult.SENT)}
    assert not [e for e in logs if e["event"] == "scheduler.fire_skipped"]
    fires = await fetch(app, ScheduledFire)
    assert fires and min(f.fire_at for f in fires) >= START


def test_a_fire_window_excludes_its_start_and_includes_its_end() -> None:
    """`fires_between(start, end)`: start < t <= end. A fire at the window's end is due now
    (the sync at 07:00 sends the 07:00 briefing); one at its start belonged to the window
    before (the previous sync), so consecutive windows never fire a time twice or miss it."""
    trigger = brief_trigger("07:00", "mon-sun", "UTC")
    seven = utc(2027, 3, 24, 7)
    assert list(fires_between(trigger, seven - timedelta(hours=1), seven)) == [seven]
    assert list(fires_between(trigger, seven, seven + timedelta(hours=1))) == []
    day = timedelta(days=1)
    windows = [(seven - day, seven), (seven, seven + day), (seven + day, seven + 2 * day)]
    fired = [t for start, end in windows for t in fires_between(trigger, start, end)]
    assert fired == [seven, seven + day, seven + 2 * day]
