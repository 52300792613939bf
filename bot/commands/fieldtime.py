"""Times as people write them in the field: `14:30`, `5pm`, `17h`, `hier 23h30`, `30/11/2026`.

A small strict grammar, not a guessing parser (README, "From the field", says why):

    [DAY] [TIME]  |  DATE [TIME]  |  the forms of `values.parse_time` (ISO, `20m ago`, `in 2h`)

- DAY is a relative day word in English, Spanish, Portuguese, French or Arabic
  (`yesterday`, `ayer`, `ontem`, `hier`, `أمس`, …);
- TIME is `14:30`, `14h30`, `14.30`, `17h`, `5pm`, `5:30 pm`, `12am` (ASCII digits);
- DATE is `30/11/2026`, `30-11`, `30.11.26`: day-first or month-first is read from the
  numbers when only one reading is a date, else from the member's language (day-first for
  es, pt, fr, ar); an English member writing `03/04/2026` gets a question, never a guess.

A time of day without a day is the most recent past one for a sighting (`Direction.PAST`)
and the next one for a plan (`Direction.FUTURE`). A day without a time of day is asked
about, because any hour would be a guess.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.base.i18n import _, current_language
from bot.base.localtime import format_time
from bot.base.wallclock import fire_instant, readings
from bot.commands.errors import UsageError
from bot.commands.values import MAX_TIME_SPAN, parse_time
from bot.commands.walltime import AmbiguousTime, exact_local, split_zone_word

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

#: Relative day words, by language; each maps to a shift in days from today.
DAY_WORDS: dict[str, int] = {
    # en
    "today": 0,
    "tomorrow": 1,
    "yesterday": -1,
    # es
    "hoy": 0,
    "mañana": 1,
    "manana": 1,
    "ayer": -1,
    "anteayer": -2,
    # pt
    "hoje": 0,
    "amanhã": 1,
    "amanha": 1,
    "ontem": -1,
    "anteontem": -2,
    # fr
    "aujourd'hui": 0,
    "aujourd’hui": 0,
    "demain": 1,
    "hier": -1,
    "avant-hier": -2,
    # ar
    "اليوم": 0,
    "غدا": 1,
    "غداً": 1,
    "أمس": -1,
    "امس": -1,
    "البارحة": -1,
}
#: Languages whose writers put the day first in a numeric date (`30/11/2026`).
DAY_FIRST = frozenset({"es", "pt", "fr", "ar", "it", "de", "nl"})
#: The slack a past time may run ahead of the clock (phones drift).
PAST_SLACK = timedelta(minutes=5)

_CLOCK = re.compile(
    r"^(?P<h>[0-9]{1,2})(?:(?:[:.h](?P<m>[0-5][0-9]))|(?P<hh>h))?\s?(?P<ampm>am|pm|a\.m\.|p\.m\.)?$",
    re.ASCII,
)
_DATE = re.compile(
    r"^(?P<a>[0-9]{1,2})(?P<sep>[/.\-])(?P<b>[0-9]{1,2})(?:(?P=sep)(?P<y>[0-9]{2}|[0-9]{4}))?$",
    re.ASCII,
)
_AMPM = ("am", "pm", "a.m.", "p.m.")


class Direction(enum.Enum):
    """Which way a time of day without a day points."""

    PAST = "past"  # a sighting: the most recent past one
    FUTURE = "future"  # a plan or a raid: the next one


def _help() -> str:
    return _(
        "use 2026-11-28 14:30, 14:30, 5pm, 17h, yesterday 23:30, 30/11/2026 06:00, 20m ago or in 2h"
    )


def time_words(value: str, following: list[str]) -> int:
    """How many of the `following` words belong to a time flag starting with `value`.

    `ayer 23:30`, `30/11/2026 06:00`, `5 pm`, `yesterday 5 pm` are one value each.
    """
    taken = 0
    low = value.lower()
    if (low in DAY_WORDS or _DATE.match(low)) and following and _CLOCK.match(following[0].lower()):
        taken = 1
        low = following[0].lower()
    if len(following) > taken and following[taken].lower() in _AMPM and _CLOCK.match(low):
        taken += 1
    return taken


def _clock(text: str, raw: str) -> time:
    m = _CLOCK.match(text)
    if not m:
        raise UsageError(_("I can't read '{raw}' as a time; {help}.").format(raw=raw, help=_help()))
    hour, minute, ampm = int(m.group("h")), int(m.group("m") or 0), m.group("ampm")
    if ampm:
        if not 1 <= hour <= 12:
            raise UsageError(
                _("'{raw}' is not a time: with am or pm the hour is 1 to 12.").format(raw=raw)
            )
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    elif m.group("m") is None and m.group("hh") is None:
        # A bare number ("5", "17") is not a time anybody writes on purpose.
        raise AmbiguousTime(
            _("Did you mean {h}:00 or a number of minutes ago? Write {h}:00 or {h}m ago.").format(
                h=hour
            )
        )
    if hour > 23:
        raise UsageError(_("'{raw}' is not a time of day; the hour is 0 to 23.").format(raw=raw))
    return time(hour, minute)


def _date(m: re.Match[str], raw: str, lang: str, today: date) -> tuple[date, bool]:
    """The date of a numeric `a/b[/y]` and whether its year was written."""
    a, b = int(m.group("a")), int(m.group("b"))
    year_text = m.group("y")
    year = int(year_text) if year_text else today.year
    if year_text and len(year_text) == 2:
        year += 2000
    readings: list[date] = []
    for day, month in ((a, b), (b, a)):
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found not in readings:
            readings.append(found)
    if not readings:
        raise UsageError(_("'{raw}' is not a date; {help}.").format(raw=raw, help=_help()))
    if len(readings) == 2:
        if lang in DAY_FIRST:
            return readings[0], bool(year_text)
        first, second = readings
        raise AmbiguousTime(
            _(
                "Is '{raw}' {first} or {second}? Write the date as year-month-day, like {iso}."
            ).format(
                raw=raw,
                first=first.strftime("%d %b %Y"),
                second=second.strftime("%d %b %Y"),
                iso=first.isoformat(),
            )
        )
    return readings[0], bool(year_text)


def _earliest(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant clocks in `tz` show the naive `wall` (or jump past it)."""
    return fire_instant(wall, tz)


def _latest(wall: datetime, tz: ZoneInfo) -> datetime:
    """The last instant clocks in `tz` show the naive `wall` (or jump past it)."""
    return (readings(wall, tz) or (fire_instant(wall, tz),))[-1]


def read_time(
    raw: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    lang: str = "en",
    direction: Direction = Direction.PAST,
) -> datetime:
    """Read a time as people write it, in zone `tz` and language `lang`; aware UTC.

    Raises `AmbiguousTime` (a question) when the input has two readings, `UsageError`
    when it has none."""
    text, zone_word = split_zone_word(" ".join(raw.strip().split()), tz, now)
    low = text.lower()
    words = low.split(" ")
    local_now = now.astimezone(tz)
    wall: datetime | None = None  # the local time read, naive: checked against the zone last
    if words[0] in DAY_WORDS and len(words) <= 3:
        day = local_now.date() + timedelta(days=DAY_WORDS[words[0]])
        if len(words) == 1:
            raise AmbiguousTime(
                _("At what time {day}? Add the time, like {day} 23:30.").format(day=text)
            )
        wall = datetime.combine(day, _clock("".join(words[1:]), raw))
    elif (m := _DATE.match(words[0])) and len(words) <= 3:
        day, with_year = _date(m, raw, lang, local_now.date())
        if len(words) == 1:
            raise AmbiguousTime(
                _("At what time on {day}? Add the time, like {raw} 06:00.").format(
                    day=day.strftime("%d %b %Y"), raw=text
                )
            )
        wall = datetime.combine(day, _clock("".join(words[1:]), raw))
        if not with_year:
            wall = _nearest_year(wall, now, tz, direction)
    elif len(words) <= 2 and _CLOCK.match("".join(words)):
        at = _clock("".join(words), raw)
        wall = datetime.combine(local_now.date(), at)
        one_day = timedelta(days=1)
        if direction is Direction.PAST:
            while _earliest(wall, tz) > now + PAST_SLACK:
                wall -= one_day
        else:
            while _latest(wall, tz) <= now:
                wall += one_day
    if wall is None:
        return parse_time(text, now, tz, zone_word)  # its sentences name the same forms
    when = exact_local(wall, tz, text, zone_word)
    if abs(when - now) > MAX_TIME_SPAN:
        raise UsageError(_("'{raw}' is too far from today; {help}.").format(raw=raw, help=_help()))
    return when


def _nearest_year(wall: datetime, now: datetime, tz: ZoneInfo, direction: Direction) -> datetime:
    """A date written without a year: this year's, or the adjacent one in `direction`."""
    if direction is Direction.PAST and _earliest(wall, tz) > now + PAST_SLACK:
        return _shift_year(wall, -1)
    if direction is Direction.FUTURE and _latest(wall, tz) <= now:
        return _shift_year(wall, 1)
    return wall


def _shift_year(wall: datetime, years: int) -> datetime:
    try:
        return wall.replace(year=wall.year + years)
    except ValueError:  # 29 February
        return wall.replace(year=wall.year + years, day=28)


def member_language(ctx: CommandContext) -> str:
    """The language the actor writes in: theirs if set, else the reply language."""
    if ctx.actor is not None and ctx.actor.language:
        return ctx.actor.language
    return current_language()


def resolved(when: datetime, tz: ZoneInfo) -> str:
    """How a read time is echoed back, so a wrong reading is seen at once."""
    return format_time(when, tz)
