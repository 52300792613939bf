"""Times as people write them in the field, in en, es, pt, fr and ar: `14:30`, `5pm`,
`17.30h`, `hier à 23h30`, `ayer a las 23:30`, `lundi 10h`, `hace 20 min`, `30/11/2026`.

A small strict grammar, not a guessing parser (README, "From the field", says why). Its
words (day words, weekdays, months, relative-time patterns) are CLDR's, read through Babel
by `bot.commands.timelang`:

    NOW  |  RELATIVE  |  [LINK] TIME  |  DAY [LINK] TIME  |  DAY   (asked: at what time?)
    |  the forms of `values.parse_time` (ISO `2026-11-28 14:30`, `20m ago`, `in 2h`)

- RELATIVE is a CLDR pattern of any of the languages (`20 min ago`, `il y a 20 min`,
  `há 20 min`, `قبل 20 دقيقة`, `dentro de 2 horas`);
- DAY is a relative day word (`yesterday`, `ayer`, `avant-hier`, `أمس`), a weekday
  (`lundi`, `el lunes`, `segunda`), a numeric date (`30/11/2026`, `30-11`, `30.11.26`) or a
  named one (`29 de noviembre`, `Nov 29, 2026`); a numeric date is day-first or month-first
  as its numbers allow, else as the member's language writes it (day-first for es, pt, fr,
  ar); an English member writing `03/04/2026` gets a question, never a guess;
- LINK is the little word before a time (`at`, `a las`, `às`, `à`, `الساعة`);
- TIME is `14:30`, `14h30`, `14.30`, `17h`, `17.30h`, `5pm`, `5:30 pm`, `11 de la noche`,
  `5 da tarde`, `11h du soir`, `11 مساءً` (digits of any script).

A time of day without a day is the most recent past one for a sighting (`Direction.PAST`)
and the next one for a plan (`Direction.FUTURE`); a weekday likewise. A day without a time
of day is asked about, because any hour would be a guess; every question carries the
answers it suggests (`AmbiguousTime.answers`), and each is read without a further question.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.base.i18n import _, current_language
from bot.base.localtime import format_date, format_time
from bot.base.wallclock import fire_instant, readings
from bot.commands import timelang
from bot.commands.errors import UsageError
from bot.commands.values import MAX_TIME_SPAN, parse_time
from bot.commands.walltime import AmbiguousTime, exact_local, split_zone_word

if TYPE_CHECKING:
    from bot.commands.context import CommandContext

#: Relative day words in every language (CLDR via Babel, `bot.commands.timelang`).
DAY_WORDS: dict[str, int] = timelang.day_words()
#: Languages whose writers put the day first in a numeric date (`30/11/2026`).
DAY_FIRST = frozenset({"es", "pt", "fr", "ar", "it", "de", "nl"})
#: The slack a past time may run ahead of the clock (phones drift).
PAST_SLACK = timedelta(minutes=5)

_CLOCK = re.compile(
    r"^(?P<h>[0-9]{1,2})(?:(?:[:.h](?P<m>[0-5][0-9])(?:h|min)?)|(?P<hh>h|hs))?$", re.ASCII
)
_GLUED_PERIOD = re.compile(r"^(?P<clock>[0-9][0-9:.h]*?)\s?(?P<p>am|pm|a\.m\.|p\.m\.)$", re.ASCII)
_DATE = re.compile(
    r"^(?P<a>[0-9]{1,2})(?P<sep>[/.\-])(?P<b>[0-9]{1,2})(?:(?P=sep)(?P<y>[0-9]{2}|[0-9]{4}))?$",
    re.ASCII,
)
_YEAR = re.compile(r"^[0-9]{4}$", re.ASCII)
_DAY_NUMBER = re.compile(r"^(?P<d>[0-9]{1,2})(?:er|º|°)?,?$")
#: The longest a time value runs, in words (`30 de noviembre de 2026 a las 11 de la noche`).
MAX_TIME_WORDS = 12


class Direction(enum.Enum):
    """Which way a time of day without a day points."""

    PAST = "past"  # a sighting: the most recent past one
    FUTURE = "future"  # a plan or a raid: the next one


def _help() -> str:
    return _(
        "use 2026-11-28 14:30, 14:30, 5pm, 17h, yesterday 23:30, 30/11/2026 06:00, 20m ago or in 2h"
    )


@dataclass(frozen=True)
class _Clock:
    """A time of day as written: hour, minutes, whether `h` was written, am/pm."""

    hour: int
    minute: int | None
    with_h: bool
    pm: bool | None  # None: a 24-hour clock
    night: bool  # `de la noche`, `da noite`, `du soir`: 12 is midnight


@dataclass(frozen=True)
class _Day:
    """The day part: a shift from today, a weekday, or a date (numeric or named)."""

    kind: str  # "shift", "weekday", "numeric", "named"
    shift: int = 0
    weekday: int = 0
    date: re.Match[str] | None = None
    day: int = 0
    month: int = 0
    year: str | None = None


@dataclass(frozen=True)
class _Reading:
    """What the words say, before it is placed on the calendar."""

    day: _Day | None
    clock: _Clock | None
    day_text: str  # the day part as typed, for questions


def _take(words: list[str], i: int, table: Iterable[tuple[str, ...]]) -> int:
    """How many words from `i` one entry of `table` spans (the longest), else 0."""
    best = 0
    for entry in table:
        if tuple(words[i : i + len(entry)]) == entry and len(entry) > best:
            best = len(entry)
    return best


def _clock_words(words: list[str]) -> _Clock | None:
    """`14:30`, `17.30h`, `5pm`, `5 pm`, `11 de la noche`, `10 h` as a clock, else None."""
    if not words:
        return None
    first, rest = words[0], words[1:]
    pm: bool | None = None
    night = False
    glued = _GLUED_PERIOD.match(first)
    if glued:
        first, pm = glued.group("clock"), glued.group("p").startswith("p")
    elif rest and rest[0] in ("h", "hs"):
        first, rest = first + "h", rest[1:]
    m = _CLOCK.match(first)
    if not m:
        return None
    if rest:
        if pm is not None:
            return None
        span = _take(rest, 0, timelang.DAY_PERIODS)
        if span != len(rest):
            return None
        period = tuple(rest)
        pm, night = timelang.DAY_PERIODS[period], period[-1] in timelang.NIGHT_WORDS
    return _Clock(int(m.group("h")), _minute(m), bool(m.group("hh")), pm, night)


def _minute(m: re.Match[str]) -> int | None:
    return int(m.group("m")) if m.group("m") else None


def _day_words(words: list[str]) -> tuple[_Day, int] | None:
    """The day part at the start of `words` and how many words it takes, else None."""
    i = 1 if words and words[0] in timelang.BEFORE_DAY_WORDS and len(words) > 1 else 0
    for span in (3, 2, 1):
        joined = " ".join(words[i : i + span])
        if len(words) >= i + span and joined in DAY_WORDS and i == 0:
            return _Day("shift", shift=DAY_WORDS[joined]), span
    if not words[i:]:
        return None
    word = words[i]
    if word in timelang.weekdays():
        return _Day("weekday", weekday=timelang.weekdays()[word]), i + 1
    if m := _DATE.match(word):
        return _Day("numeric", date=m), i + 1
    return _named_date(words, i)


def _named_date(words: list[str], i: int) -> tuple[_Day, int] | None:
    """`30 nov`, `30 de noviembre de 2026`, `nov 30, 2026`, `30 نوفمبر` at `i`."""
    months = timelang.months()
    links = timelang.DATE_LINK_WORDS

    def year_at(j: int) -> tuple[str | None, int]:
        k = j + int(j < len(words) and words[j] in links)
        if k < len(words) and _YEAR.match(words[k].rstrip(",")):
            return words[k].rstrip(","), k + 1
        return None, j

    if (d := _DAY_NUMBER.match(words[i])) and i + 1 < len(words):
        j = i + 1 + int(words[i + 1] in links)
        if j < len(words) and words[j].rstrip(",") in months:
            year, end = year_at(j + 1)
            day = _Day(
                "named", day=int(d.group("d")), month=months[words[j].rstrip(",")], year=year
            )
            return day, end
    if words[i] in months and i + 1 < len(words) and (d := _DAY_NUMBER.match(words[i + 1])):
        year, end = year_at(i + 2)
        return _Day("named", day=int(d.group("d")), month=months[words[i]], year=year), end
    return None


def _syntax(text: str) -> _Reading | None:
    """The reading of `text` (folded) by the grammar's shape alone, else None."""
    words = text.split(" ")
    if len(words) > MAX_TIME_WORDS:
        return None
    found = _day_words(words)
    if found is None:  # `at 10:00`, `a las 10:00`, `الساعة 10:00`
        clock = _clock_words(words[_take(words, 0, timelang.LINK_WORDS) :])
        return _Reading(None, clock, "") if clock else None
    day, i = found
    day_text = " ".join(words[:i])
    lone = _clock_words(words) if day.kind == "numeric" and i == len(words) == 1 else None
    if lone and lone.hour <= 23:  # `14.30`: a time of day, not a date
        return _Reading(None, lone, "")
    if i == len(words):
        return _Reading(day, None, day_text)
    i += _take(words, i, timelang.LINK_WORDS)
    clock = _clock_words(words[i:])
    if clock and clock.minute is None and clock.pm is None:  # `lunes a las 10`: an hour
        clock = _Clock(clock.hour, None, True, None, False)
    return _Reading(day, clock, day_text) if clock else None


def time_words(value: str, following: list[str]) -> int:
    """How many of the `following` words belong to a time flag starting with `value`.

    `ayer 23:30`, `ayer a las 23:30`, `hace 20 min`, `30/11/2026 06:00`, `5 pm`, `lundi
    10h` are one value each: the longest run of words the grammar reads."""
    flag = next((i for i, word in enumerate(following) if word.startswith("--")), len(following))
    for taken in range(min(flag, MAX_TIME_WORDS - 1), 0, -1):
        text = timelang.fold(" ".join([value, *following[:taken]]))
        if timelang.relative(text) is not None or _syntax(text) is not None:
            return taken
    return 0


def read_clock(raw: str) -> time:
    """A time of day alone, as people write it (`07:00`, `7pm`, `19h`, `19.30h`, `7 de la
    tarde`) for a schedule; a bare number or anything else is refused in one sentence."""
    clock = _clock_words(timelang.fold(raw).split(" "))
    bare = clock is not None and clock.minute is None and not clock.with_h and clock.pm is None
    if clock is None or bare or clock.hour > 23:
        raise UsageError(_("'{raw}' is not a time of day; use HH:MM, like 07:00.").format(raw=raw))
    return _clock(clock, raw)


def _clock(clock: _Clock, raw: str) -> time:
    hour, minute, pm = clock.hour, clock.minute or 0, clock.pm
    if pm is not None:
        if not 1 <= hour <= 12:
            raise UsageError(
                _("'{raw}' is not a time: with am or pm the hour is 1 to 12.").format(raw=raw)
            )
        if clock.night and hour == 12:
            raise UsageError(
                _("'{raw}': write midnight as 00:00 of the day it begins.").format(raw=raw)
            )
        hour = hour % 12 + (12 if pm else 0)
    elif clock.minute is None and not clock.with_h:
        # A bare number ("5", "17") is not a time anybody writes on purpose.
        raise AmbiguousTime(
            _("Did you mean {h}:00 or a number of minutes ago? Write {h}:00 or {h}m ago.").format(
                h=hour
            ),
            answers=(f"{hour}:00", f"{hour}m ago"),
        )
    if hour > 23:
        raise UsageError(_("'{raw}' is not a time of day; the hour is 0 to 23.").format(raw=raw))
    return time(hour, minute)


def _day_readings(day: _Day, raw: str, today: date) -> tuple[list[date], bool]:
    """The dates a numeric or named day can be (this year's when none is written) and
    whether its year was written."""
    if day.kind == "named":
        pairs, year_text = [(day.day, day.month)], day.year
    else:
        assert day.date is not None
        a, b = int(day.date.group("a")), int(day.date.group("b"))
        pairs, year_text = [(a, b), (b, a)], day.date.group("y")
    year = int(year_text) if year_text else today.year
    if year_text and len(year_text) == 2:
        year += 2000
    found: list[date] = []
    for d, month in pairs:
        try:
            candidate = date(year, month, d)
        except ValueError:
            continue
        if candidate not in found:
            found.append(candidate)
    if not found:
        raise UsageError(_("'{raw}' is not a date; {help}.").format(raw=raw, help=_help()))
    return found, bool(year_text)


def read_time(
    raw: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    lang: str = "en",
    direction: Direction = Direction.PAST,
) -> datetime:
    """Read a time as people write it, in zone `tz` and language `lang`; aware UTC.

    Raises `AmbiguousTime` (a question, with the answers it suggests) when the input has
    two readings, `UsageError` when it has none."""
    text, zone_word = split_zone_word(" ".join(raw.strip().split()), tz, now)
    low = timelang.fold(text)
    if low in timelang.NOW_WORDS:
        return now
    span = timelang.relative(low)
    if span is not None:
        if abs(span) > MAX_TIME_SPAN:
            raise UsageError(
                _("'{raw}' is too far from today; {help}.").format(raw=raw, help=_help())
            )
        return now + span
    reading = _syntax(low)
    if reading is None:
        return parse_time(text, now, tz, zone_word)  # its sentences name the same forms
    wall = _place(reading, text, raw, now, tz, lang, direction)
    when = exact_local(wall, tz, text, zone_word)
    if abs(when - now) > MAX_TIME_SPAN:
        raise UsageError(_("'{raw}' is too far from today; {help}.").format(raw=raw, help=_help()))
    return when


def _place(
    reading: _Reading,
    text: str,
    raw: str,
    now: datetime,
    tz: ZoneInfo,
    lang: str,
    direction: Direction,
) -> datetime:
    """The naive local wall time a reading names (checked against the zone by the caller)."""
    local_now = now.astimezone(tz)
    today = local_now.date()
    day = reading.day
    if reading.clock is None:
        raise _what_time(reading, text, now, tz, lang, direction)
    at = _clock(reading.clock, raw)
    if day is None:
        return _step(datetime.combine(today, at), timedelta(days=1), now, tz, direction)
    if day.kind == "shift":
        return datetime.combine(today + timedelta(days=day.shift), at)
    if day.kind == "weekday":
        start = datetime.combine(today + timedelta(days=day.weekday - today.weekday()), at)
        return _step(start, timedelta(days=7), now, tz, direction)
    dates, with_year = _day_readings(day, raw, today)
    walls = [datetime.combine(d, at) for d in dates]
    if not with_year:
        walls = [_nearest_year(w, now, tz, direction) for w in walls]
    if len(walls) == 2 and lang not in DAY_FIRST:
        _ask_which(walls, raw, now, tz, direction)
    return walls[0]


def _step(
    wall: datetime, step: timedelta, now: datetime, tz: ZoneInfo, direction: Direction
) -> datetime:
    """`wall` moved by whole `step`s to the most recent past (or the next) one."""
    if direction is Direction.PAST:
        while _earliest(wall, tz) > now + PAST_SLACK:
            wall -= step
        while _earliest(wall + step, tz) <= now + PAST_SLACK:
            wall += step
    else:
        while _latest(wall, tz) <= now:
            wall += step
        while _latest(wall - step, tz) > now:
            wall -= step
    return wall


def _fits(wall: datetime, now: datetime, tz: ZoneInfo, direction: Direction) -> bool:
    """Whether `wall` lies on the side of now that `direction` asks for."""
    if direction is Direction.PAST:
        return _earliest(wall, tz) <= now + PAST_SLACK
    return _latest(wall, tz) > now


def _ask_which(
    walls: list[datetime], raw: str, now: datetime, tz: ZoneInfo, direction: Direction
) -> None:
    """Ask which of two readings of a numeric date is meant, suggesting only answers that
    will be taken (a sighting's answer is not in the future)."""
    fitting = [w for w in walls if _fits(w, now, tz, direction)] or walls
    answers = tuple(f"{w:%Y-%m-%d %H:%M}" for w in fitting)
    if len(fitting) == 1:
        raise AmbiguousTime(
            _("Did you mean {day}? Write `{answer}`.").format(
                day=fitting[0].strftime("%d %b %Y"), answer=answers[0]
            ),
            answers=answers,
        )
    first, second = fitting
    raise AmbiguousTime(
        _("Is '{raw}' {first} or {second}? Write `{first_answer}` or `{second_answer}`.").format(
            raw=raw,
            first=first.strftime("%d %b %Y"),
            second=second.strftime("%d %b %Y"),
            first_answer=answers[0],
            second_answer=answers[1],
        ),
        answers=answers,
    )


def _what_time(
    reading: _Reading,
    text: str,
    now: datetime,
    tz: ZoneInfo,
    lang: str,
    direction: Direction,
) -> AmbiguousTime:
    """The question for a day without a time, with an example answer that will be taken."""
    day = reading.day
    assert day is not None
    local_now = now.astimezone(tz)
    today = local_now.date()
    dates, with_year = [today], True
    if day.kind in ("numeric", "named"):
        dates, with_year = _day_readings(day, text, today)
    example_clock = time(23, 30) if direction is Direction.PAST else time(6)
    if (day.kind == "shift" and day.shift == 0) or (day.kind != "shift" and today in dates):
        hour = local_now.hour if direction is Direction.PAST else min(local_now.hour + 1, 23)
        example_clock = time(hour)
    example = f"{reading.day_text} {example_clock:%H:%M}"
    walls = [datetime.combine(d, example_clock) for d in dates]
    if not with_year:
        walls = [_nearest_year(w, now, tz, direction) for w in walls]
    if len(walls) == 2 and lang not in DAY_FIRST:
        _ask_which(walls, text, now, tz, direction)
    on = walls[0].date()
    if day.kind in ("numeric", "named"):
        return AmbiguousTime(
            _("At what time on {day}? Add the time, like {example}.").format(
                day=format_date(datetime.combine(on, example_clock)), example=example
            ),
            answers=(example,),
        )
    return AmbiguousTime(
        _("At what time {day}? Add the time, like {example}.").format(
            day=reading.day_text, example=example
        ),
        answers=(example,),
    )


def _earliest(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant clocks in `tz` show the naive `wall` (or jump past it)."""
    return fire_instant(wall, tz)


def _latest(wall: datetime, tz: ZoneInfo) -> datetime:
    """The last instant clocks in `tz` show the naive `wall` (or jump past it)."""
    return (readings(wall, tz) or (fire_instant(wall, tz),))[-1]


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
