"""Clock-change nights: every fire computation ends, and a schedule fires once a day.

The walk runs every half-hour schedule through two years of six zones with the trigger the
bot registers with APScheduler, in a worker process with a time budget: a computation that
loops fails the test instead of hanging it. The expected fire of each local day is worked
out minute by minute from zoneinfo alone on the nights the offset changes.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.base.clock import ManualClock
from bot.core.recurrence import (
    MAX_FIRES,
    LocalTimeTrigger,
    StalledTrigger,
    brief_trigger,
    clock_change_ahead,
    fires_between,
    last_fire,
)
from bot.serving.app import App
from bot.store.models import BriefSchedule, Raid, ScheduledFire, Sighting
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import fetch, ok, operation, refused
from tests.scheduling import scheduler
from tests.test_scheduler import briefings

ZONES = (
    "Europe/Madrid",
    "Europe/Lisbon",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Asia/Beirut",
    "UTC",
)
FIRST_DAY = date(2027, 1, 1)
DAYS = 730
WALK_BUDGET = 240.0  # seconds, on a loaded 2-core machine; it takes about 15 s alone
HALF_HOURS = tuple(time(h, m) for h in range(24) for m in (0, 30))


def _changes_offset(day: date, tz: ZoneInfo) -> bool:
    """Whether the offset at local midnight differs from the next midnight's."""
    here = datetime.combine(day, time(), tzinfo=tz).utcoffset()
    there = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).utcoffset()
    return here != there


def _scanned(day: date, tz: ZoneInfo) -> list[tuple[time, datetime]]:
    """Each UTC minute whose local date is `day`, in order, with the local clock's reading."""
    start = datetime.combine(day, time(), tzinfo=UTC) - timedelta(hours=15)
    out = []
    for minute in range(54 * 60):
        instant = start + timedelta(minutes=minute)
        local = instant.astimezone(tz)
        if local.date() == day:
            out.append((local.time(), instant))
    return out


def _expected(day: date, at: time, tz: ZoneInfo, scans: dict[date, list]) -> datetime | None:
    """The first instant of local `day` at which the clock reads `at` or later."""
    if day not in scans:
        return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
    return next((instant for shown, instant in scans[day] if shown >= at), None)


def walk(zone_name: str) -> list[str]:
    """Every half-hour daily schedule of `zone_name` over `DAYS` days: the problems found."""
    tz = ZoneInfo(zone_name)
    days = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
    scans = {}
    for day in days:
        if _changes_offset(day, tz):
            scans[day] = _scanned(day, tz)
            scans[day + timedelta(days=1)] = _scanned(day + timedelta(days=1), tz)
    start = datetime.combine(FIRST_DAY, time(), tzinfo=tz).astimezone(UTC) - timedelta(hours=1)
    end = datetime.combine(days[-1], time(23, 59), tzinfo=tz).astimezone(UTC)
    problems: list[str] = []
    for at in HALF_HOURS:
        trigger = brief_trigger(f"{at:%H:%M}", "*", zone_name)
        by_day: dict[date, list[datetime]] = {}
        for fire in fires_between(trigger, start, end):
            by_day.setdefault(fire.astimezone(tz).date(), []).append(fire.astimezone(UTC))
        for day in days:
            want = _expected(day, at, tz, scans)
            got = by_day.get(day, [])
            if got != ([want] if want else []):
                problems.append(f"{zone_name} {at:%H:%M} on {day}: {got} instead of {want}")
    return problems


def test_every_half_hour_fires_once_a_day_for_two_years_in_six_zones() -> None:
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pending = pool.map_async(walk, ZONES)
        try:
            problems = [p for found in pending.get(timeout=WALK_BUDGET) for p in found]
        except multiprocessing.TimeoutError:
            pool.terminate()
            pytest.fail(f"the two-year walk took more than {WALK_BUDGET:.0f} s: a loop?")
    assert problems == []


def test_the_walk_sees_the_changes_it_checks() -> None:
    # The zones used do change their clocks in these two years (Sao Paulo no longer does).
    changing = {
        name
        for name in ZONES
        if any(_changes_offset(FIRST_DAY + timedelta(days=n), ZoneInfo(name)) for n in range(DAYS))
    }
    assert changing == {"Europe/Madrid", "Europe/Lisbon", "Australia/Sydney", "Asia/Beirut"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_briefing_in_the_repeated_hour_fires_once_at_the_first_reading() -> None:
    trigger = brief_trigger("02:30", "*", "Europe/Madrid")
    fires = list(fires_between(trigger, utc(2027, 10, 30), utc(2027, 11, 1, 12)))
    assert fires == [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)]
    # What APScheduler asks after running the job at the first 02:30: the next day's.
    after = trigger.get_next_fire_time(utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 45))
    assert after == utc(2027, 11, 1, 1, 30)
    assert last_fire(trigger, utc(2027, 10, 31, 1, 45), timedelta(days=7)) == utc(
        2027, 10, 31, 0, 30
    )


def test_a_briefing_in_the_skipped_hour_fires_when_the_clocks_jump() -> None:
    trigger = brief_trigger("02:30", "mon-fri,sun", "Europe/Madrid")
    fires = list(fires_between(trigger, utc(2027, 3, 26), utc(2027, 3, 29, 12)))
    # Friday 02:30 CET, Sunday 03:00 CEST (the jump), Monday 02:30 CEST; no Saturday.
    assert fires == [utc(2027, 3, 26, 1, 30), utc(2027, 3, 28, 1, 0), utc(2027, 3, 29, 0, 30)]
    assert str(fires[1].astimezone(ZoneInfo("Europe/Madrid")).time()) == "03:00:00"


def test_a_trigger_that_gives_the_same_time_again_stops_the_walk() -> None:
    # APScheduler's plain cron trigger answers 02:30 CET again for every second of the
    # repeated hour: fires_between refuses to go round instead of freezing the loop.
    plain = CronTrigger(hour=2, minute=30, timezone="Europe/Madrid")
    with pytest.raises(StalledTrigger):
        list(fires_between(plain, utc(2027, 10, 30), utc(2027, 11, 1)))


def test_fires_between_yields_at_most_its_cap() -> None:
    every_day = LocalTimeTrigger(time(7, 0), "*", "UTC")
    fires = list(fires_between(every_day, utc(2027, 1, 1), utc(2060, 1, 1)))
    assert len(fires) == MAX_FIRES


# ------------------------------------------------------------ through the commands


def gap_sentence(day: str) -> str:
    return (
        f"{day} 02:30 does not exist in Europe/Madrid: that night the clocks jump from 02:00 "
        "to 03:00; give a time before or after the change."
    )


async def refused_writing_nothing(app: App, line: str, who: str = "admin") -> str:
    """The sentence refusing `line`, after checking that no table changed."""
    before = await snapshot(app.store)
    sentence = await refused(app, line, who=who)
    assert changed_tables(before, await snapshot(app.store)) == {}
    return sentence


async def madrid_member(app: App, clock: ManualClock, now: datetime) -> None:
    """The operation at `now`, a subject S-1, and member mia writing times in Madrid."""
    clock.set(now)
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "me tz Europe/Madrid", who="mia")


async def test_a_raid_in_the_skipped_hour_is_refused_with_a_sentence_and_nothing_written(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2027, 3, 20, 12))
    await operation(app)
    for typed in ('"2027-03-28 02:30"', "28/03/2027 02:30", "2027-03-28 02:30"):
        line = f'raid plan "Dock" --at {typed} --tz Europe/Madrid'
        assert await refused_writing_nothing(app, line) == gap_sentence("28 Mar 2027")
    await ok(app, 'raid plan "Dock" --at "2027-03-28 03:30" --tz Europe/Madrid')
    [raid] = await fetch(app, Raid)
    assert raid.at.replace(tzinfo=UTC) == utc(2027, 3, 28, 1, 30)


async def test_a_sighting_in_the_skipped_hour_is_refused(app: App, clock: ManualClock) -> None:
    await madrid_member(app, clock, utc(2027, 3, 28, 9))
    sentence = await refused_writing_nothing(app, "sighting S-1 at Vigo --when 02:30", "mia")
    assert sentence == gap_sentence("28 Mar 2027")


async def test_a_raid_in_the_repeated_hour_gets_the_question_and_the_zone_answers_it(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2027, 10, 20, 12))
    await operation(app)
    line = 'raid plan "Dock" --at "2027-10-31 02:30" --tz Europe/Madrid'
    assert await refused_writing_nothing(app, line) == (
        "02:30 on 31 Oct 2027 comes twice in Europe/Madrid, as the clocks go back: 02:30 CEST "
        "(00:30 UTC) or 02:30 CET (01:30 UTC)? Add the zone, like `2027-10-31 02:30 CET`."
    )
    await ok(app, 'raid plan "Dock" --at "2027-10-31 02:30 CET" --tz Europe/Madrid')
    await ok(app, 'raid plan "Pier" --at 31/10/2027 02:30 CEST --tz Europe/Madrid')
    first, second = await fetch(app, Raid)
    assert first.at.replace(tzinfo=UTC) == utc(2027, 10, 31, 1, 30)
    assert second.at.replace(tzinfo=UTC) == utc(2027, 10, 31, 0, 30)
    wrong = await refused(app, 'raid plan "Quay" --at "2027-07-01 02:30 CET" --tz Europe/Madrid')
    assert wrong == "At 02:30 on 01 Jul 2027 Europe/Madrid is on CEST, not CET."


async def test_the_question_is_asked_in_the_members_language(app: App, clock: ManualClock) -> None:
    await madrid_member(app, clock, utc(2027, 10, 31, 9))
    await ok(app, "me lang es", who="mia")
    question = await refused_writing_nothing(app, "sighting S-1 at Vigo --when 02:30", "mia")
    assert "CEST" in question and "CET" in question and "comes twice" not in question
    await ok(app, "sighting S-1 at Vigo --when 02:30 CEST", who="mia")
    [sighting] = await fetch(app, Sighting)
    assert sighting.observed_at.replace(tzinfo=UTC) == utc(2027, 10, 31, 0, 30)


async def test_brief_schedule_and_list_say_what_the_clock_change_nights_do(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2027, 1, 10, 12))
    await operation(app)
    reply = await ok(app, "brief schedule 02:30 --tz Europe/Madrid", channel="room")
    skipped = (
        "On 28 Mar 2027 the clocks skip 02:30 in Europe/Madrid: that day's briefing comes at "
        "03:00 CEST (01:00 UTC), when they jump."
    )
    assert skipped in reply.message.lines
    listed = await ok(app, "brief list", channel="room")
    assert skipped in listed.message.lines
    clock.set(utc(2027, 4, 1, 12))
    repeated = (
        "On 31 Oct 2027 02:30 comes twice in Europe/Madrid: the briefing goes once, at the "
        "first, 02:30 CEST (00:30 UTC)."
    )
    assert repeated in (await ok(app, "brief list", channel="room")).message.lines
    reply = await ok(app, "brief schedule 07:00 --tz Europe/Madrid", channel="room")
    assert not any("clocks" in line for line in reply.message.lines)


# ------------------------------------------------------------ through the real scheduler


@pytest.mark.timeout(120)
async def test_the_real_scheduler_sends_a_0230_briefing_once_on_the_night_the_clocks_go_back(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2027, 10, 30, 20))
    await operation(app, people=False)
    await ok(app, "brief schedule 02:30 --tz Europe/Madrid", channel="room")
    sched = scheduler(app)
    await sched.start()  # the real APScheduler, with the jobs registered from the tables
    try:
        (row,) = await fetch(app, BriefSchedule)
        job = sched.aps.get_job(f"brief:{row.id}")
        assert job is not None
        # The night replayed minute by minute, as APScheduler runs it: each due run of the
        # job (then its next run time from the job's own trigger), and the periodic sync's
        # catch-up, which looks back 7 days.
        next_run = job.trigger.get_next_fire_time(None, clock())
        minute = utc(2027, 10, 30, 23)
        while minute < utc(2027, 10, 31, 4):
            clock.set(minute + timedelta(seconds=2))
            while next_run is not None and next_run <= clock():
                await job.func(*job.args)
                next_run = job.trigger.get_next_fire_time(next_run, clock())
            await sched.run_due()
            minute += timedelta(minutes=1)
        assert next_run == utc(2027, 11, 1, 1, 30)
        fires = [f for f in await fetch(app, ScheduledFire) if f.kind == "brief"]
        assert [(f.fire_at.replace(tzinfo=UTC), f.outcome) for f in fires] == [
            (utc(2027, 10, 31, 0, 30), "sent")
        ]
        assert len(await briefings(app)) == 1
    finally:
        await sched.stop()


@pytest.mark.parametrize(
    ("at", "zone_name", "day", "skipped", "fires_local"),
    [
        ("02:30", "Europe/Madrid", date(2027, 10, 31), False, "02:30"),
        ("00:30", "Asia/Beirut", date(2028, 3, 26), True, "01:00"),  # skipped at midnight
        ("23:30", "Asia/Beirut", date(2027, 10, 30), False, "23:30"),  # repeated before it
        ("02:30", "Australia/Sydney", date(2027, 4, 4), False, "02:30"),
        ("01:30", "Europe/Lisbon", date(2027, 10, 31), False, "01:30"),
        ("07:00", "Europe/Madrid", None, False, ""),
        ("02:30", "UTC", None, False, ""),
        ("02:30", "America/Sao_Paulo", None, False, ""),
    ],
)
def test_the_next_clock_change_night_of_a_schedule(
    at: str, zone_name: str, day: date | None, skipped: bool, fires_local: str
) -> None:
    change = clock_change_ahead(brief_trigger(at, "*", zone_name), utc(2027, 4, 1))
    if day is None:
        assert change is None
        return
    assert change is not None
    local = change.fires_at.astimezone(ZoneInfo(zone_name))
    assert (change.day, change.skipped, f"{local:%H:%M}") == (day, skipped, fires_local)
    assert local.date() == day
