"""Wall-clock times in a named zone across daylight-saving changes.

A local time has one reading on most days, none in the hour the clocks skip (spring
forward: 02:30 on 28 March 2027 in Madrid) and two in the hour they repeat (fall back:
02:30 CEST, then 02:30 CET, on 31 October 2027). Briefings fire at the first reading, or
when the clocks jump past a skipped one; typed times in a gap are refused and in an
overlap asked about (README, "Times as people write them" and "Clock-change nights").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: Halvings enough to find a transition to the second inside any gap of up to 2**40 s.
_MAX_HALVINGS = 40


def readings(wall: datetime, tz: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants at which clocks in `tz` show the naive `wall`, oldest first: one,
    none (a skipped time) or two (a repeated one)."""
    found: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return tuple(sorted(found))


def after_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant the clocks jumped past the skipped `wall` (the first valid time after
    it); `wall` itself if it is not skipped."""
    found = readings(wall, tz)
    if found:
        return found[0]
    before, after = sorted(wall.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    # `before` reads with the offset after the jump and lies before it; `after` the other
    # way round: the jump is in (before, after]. Halve to the second.
    early_offset = before.astimezone(tz).utcoffset()
    for _ in range(_MAX_HALVINGS):
        if after - before <= timedelta(seconds=1):
            break
        middle = (before + (after - before) / 2).replace(microsecond=0)
        if middle.astimezone(tz).utcoffset() == early_offset:
            before = middle
        else:
            after = middle
    return after


def fire_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """When something set for the naive `wall` in `tz` happens: its first reading (once, in a
    repeated hour), or the moment the clocks jump past it (a skipped hour)."""
    found = readings(wall, tz)
    return found[0] if found else after_gap(wall, tz)


def zone_names(wall: datetime, tz: ZoneInfo) -> tuple[str, ...]:
    """The zone abbreviations of each reading of `wall` (`('CEST', 'CET')` in an overlap)."""
    return tuple(r.astimezone(tz).tzname() or str(tz) for r in readings(wall, tz))
