"""Recurring times: briefing days and HH:MM in a named zone, as APScheduler triggers.

Pure functions shared by the `brief` commands (to show the next fire) and the scheduler (to
register jobs and to find fires missed while the bot was down). The trigger carries the
schedule's own time zone, so 07:00 Europe/Madrid stays 07:00 local across DST changes, and
fires once on each scheduled day whatever the clocks do that night: at the first 02:30 when
the hour repeats, at 03:00 when 02:30 is skipped (README, "Clock-change nights"). Every computation
here moves strictly forward and is bounded: APScheduler's own cron arithmetic returns the
same instant again inside a repeated hour, which looped forever on the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.base.wallclock import fire_instant, readings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ALIASES = {
    "daily": "*",
    "everyday": "*",
    "every-day": "*",
    "*": "*",
    "weekdays": "mon-fri",
    "workdays": "mon-fri",
    "weekends": "sat,sun",
    "weekend": "sat,sun",
}
_FULL = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
    "tues": "tue",
    "thur": "thu",
    "thurs": "thu",
}
#: Days looked at for the next fire: any weekday comes within a week, twice over for a day
#: a zone skipped entirely (Pacific/Apia, 30 December 2011).
MAX_DAYS_AHEAD = 15
#: The most fires one `fires_between` yields (the catch-up looks back 7 days: 8 at most).
MAX_FIRES = 10_000
#: How far ahead `clock_change_ahead` looks for a night that moves a schedule.
CHANGE_HORIZON = timedelta(days=366)
DAYS_HELP = "use daily, mon-fri, weekends, or a list like mon,wed,fri"


def parse_days(raw: str) -> str:
    """`daily` → `*`, `Mon-Fri` → `mon-fri`, `monday,wed` → `mon,wed`; ValueError otherwise."""
    text = re.sub(r"\s+", "", raw.strip().lower())
    if text in _ALIASES:
        return _ALIASES[text]
    parts: list[str] = []
    for token in text.split(","):
        ends = token.split("-")
        if not token or len(ends) > 2:
            raise ValueError(f"'{raw}' is not a set of days; {DAYS_HELP}.")
        days = [_FULL.get(e, e) for e in ends]
        if any(d not in DAYS for d in days):
            raise ValueError(f"'{raw}' is not a set of days; {DAYS_HELP}.")
        parts.append("-".join(days))
    return ",".join(dict.fromkeys(parts))


class StalledTrigger(RuntimeError):
    """A trigger gave a fire time that is not after the previous one."""


class LocalTimeTrigger(CronTrigger):
    """HH:MM on cron `days` in a zone, once on each of those days, as an APScheduler trigger.

    A cron trigger (its fields, `str`, day parsing), with its own next-fire arithmetic: on
    the local date, the first instant the clocks show HH:MM; when they skip it, the instant
    they jump past it; a date they skip entirely has no fire.
    """

    def __init__(self, at: time, days: str, timezone: str) -> None:
        super().__init__(day_of_week=days, hour=at.hour, minute=at.minute, timezone=timezone)
        self.at = at
        self.zone = ZoneInfo(timezone)  # CronTrigger keeps it too, untyped

    def fire_on(self, day: date) -> datetime | None:
        """The fire of local date `day` (aware, UTC), None when `day` is not scheduled."""
        weekday = self.fields[self.FIELD_NAMES.index("day_of_week")]
        stamp = datetime.combine(day, time())
        if weekday.get_next_value(stamp) != stamp.weekday():
            return None
        fire = fire_instant(datetime.combine(day, self.at), self.zone)
        return fire if fire.astimezone(self.zone).date() == day else None

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first fire at or after `now` (after `previous_fire_time` when given, as
        APScheduler asks after a run), in UTC: a time inside a repeated hour, kept in its
        zone, is never `==` to any other zone's (PEP 495). None if none is found within
        `MAX_DAYS_AHEAD` days."""
        start = now
        if previous_fire_time is not None:
            start = min(now, previous_fire_time + timedelta(microseconds=1))
        first = start.astimezone(self.zone).date()
        for offset in range(MAX_DAYS_AHEAD):
            fire = self.fire_on(first + timedelta(days=offset))
            if fire is not None and fire >= start:
                return fire
        return None


def brief_trigger(time_of_day: str, days: str, timezone: str) -> LocalTimeTrigger:
    """The trigger of a schedule at HH:MM on `days` (cron day_of_week) in `timezone`."""
    hour, minute = (int(x) for x in time_of_day.split(":"))
    return LocalTimeTrigger(time(hour, minute), days, timezone)


def fires_between(trigger: BaseTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every fire time of `trigger` with start < t <= end, oldest first; at most `MAX_FIRES`.

    `StalledTrigger` if the trigger gives a time not after the previous one (APScheduler's
    plain cron trigger does, in a repeated hour): never an endless loop."""
    t = trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
    for _ in range(MAX_FIRES):
        if t is None or t > end:
            return
        yield t
        following = trigger.get_next_fire_time(None, t + timedelta(microseconds=1))
        if following is not None and following <= t:
            raise StalledTrigger(f"{trigger} gave {following.isoformat()} after {t.isoformat()}")
        t = following


def last_fire(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The newest fire time at or before `now` within `lookback` (None if none)."""
    latest = None
    for t in fires_between(trigger, now - lookback, now):
        latest = t
    return latest


def next_fire(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The first fire time after `now`."""
    return trigger.get_next_fire_time(None, now + timedelta(microseconds=1))


@dataclass(frozen=True)
class ClockChange:
    """A scheduled day whose HH:MM the clocks skip (`fires_at` is when it fires instead) or
    show twice (`fires_at` is the first, the only fire)."""

    day: date
    skipped: bool
    fires_at: datetime


def clock_change_ahead(trigger: LocalTimeTrigger, now: datetime) -> ClockChange | None:
    """The next scheduled day within `CHANGE_HORIZON` on which the clocks skip or repeat the
    schedule's time, if any (what `brief schedule` and `brief list` warn about).

    Only the local days around a change of the zone's offset are looked at: a day's step
    through the horizon, then at most three days per change."""
    tz = trigger.zone
    previous = now.astimezone(tz).utcoffset()
    for step in range(1, CHANGE_HORIZON.days + 1):
        instant = now + timedelta(days=step)
        offset = instant.astimezone(tz).utcoffset()
        if offset == previous:
            continue
        previous = offset
        around = (instant - timedelta(days=1)).astimezone(tz).date()
        for day in (around + timedelta(days=d) for d in (-1, 0, 1)):
            fire = trigger.fire_on(day)
            if fire is None or fire <= now:
                continue
            found = readings(datetime.combine(day, trigger.at), tz)
            if len(found) != 1:
                return ClockChange(day, not found, fire)
    return None
