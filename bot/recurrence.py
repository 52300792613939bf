"""Recurring times: briefing days and HH:MM in a named zone, as APScheduler cron triggers.

Pure functions shared by the `brief` commands (to show the next fire) and the scheduler (to
register jobs and to find fires missed while the bot was down). The trigger carries the
schedule's own time zone, so 07:00 Europe/Madrid stays 07:00 local across DST changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

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


def brief_trigger(time_of_day: str, days: str, timezone: str) -> CronTrigger:
    """A cron trigger at HH:MM on `days` (cron day_of_week) in `timezone`."""
    hour, minute = (int(x) for x in time_of_day.split(":"))
    return CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=timezone)


def fires_between(trigger: CronTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every fire time of `trigger` with start < t <= end, oldest first."""
    t = trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
    while t is not None and t <= end:
        yield t
        t = trigger.get_next_fire_time(None, t + timedelta(seconds=1))


def last_fire(trigger: CronTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The newest fire time at or before `now` within `lookback` (None if none)."""
    latest = None
    for t in fires_between(trigger, now - lookback, now):
        latest = t
    return latest


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The first fire time after `now`."""
    return trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
