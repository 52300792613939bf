"""A local time typed by a member, checked against the zone's clock changes.

On the night the clocks go forward a local time can be skipped (02:30 on 28 March 2027 in
Europe/Madrid): it is refused, never moved silently to 03:30. On the night they go back it
comes twice (02:30 CEST, then 02:30 CET): the member is asked which, and answers by adding
the zone's abbreviation (`2027-10-31 02:30 CET`). README, "Times as people write them" and
"Clock-change nights".
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.base.i18n import _
from bot.base.localtime import format_date
from bot.base.wallclock import after_gap, readings, zone_names
from bot.commands.errors import UsageError

#: The abbreviations a zone is read with are those it uses within this span of now.
_ABBREVIATION_SPAN_DAYS = 400
_ABBREVIATION_STEP_DAYS = 15
#: How a zone abbreviation is typed after a time: `CET`, `CEST`, `AEDT` (capitals).
_ZONE_WORD = re.compile(r"[A-Z]{2,5}", re.ASCII)


class AmbiguousTime(UsageError):
    """The input has more than one reading; the sentence is a question to the member.

    `answers` are the inputs the question suggests (`2025-12-05 09:00`): each is read
    without a further question (tests check it)."""

    def __init__(self, message: str, answers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.answers = answers


def abbreviations(tz: ZoneInfo, now: datetime) -> frozenset[str]:
    """The abbreviations (`CET`, `CEST`, `-03`) `tz` shows within about a year of `now`,
    upper-cased."""
    return _abbreviations_around(tz, now.replace(hour=0, minute=0, second=0, microsecond=0))


@functools.lru_cache(maxsize=64)
def _abbreviations_around(tz: ZoneInfo, day: datetime) -> frozenset[str]:
    span, step = _ABBREVIATION_SPAN_DAYS, _ABBREVIATION_STEP_DAYS
    return frozenset(
        (day + timedelta(days=d)).astimezone(tz).tzname() or ""
        for d in range(-span, span + 1, step)
    ) - {""}


def looks_like_zone_word(word: str) -> bool:
    """Whether a word typed after a time is a zone abbreviation (`CET`): 2 to 5 capitals."""
    return _ZONE_WORD.fullmatch(word) is not None


def split_zone_word(text: str, tz: ZoneInfo, now: datetime) -> tuple[str, str | None]:
    """`2027-10-31 02:30 CET` → (`2027-10-31 02:30`, `CET`) when the last word is one of
    `tz`'s abbreviations; the text unchanged and None otherwise."""
    words = text.split(" ")
    if len(words) >= 2 and words[-1].upper() in abbreviations(tz, now):
        return " ".join(words[:-1]), words[-1].upper()
    return text, None


def exact_local(wall: datetime, tz: ZoneInfo, raw: str, zone_word: str | None = None) -> datetime:
    """The one UTC instant at which clocks in `tz` show the naive `wall`.

    `UsageError` when the clocks skip it; `AmbiguousTime` (a question) when they show it
    twice, unless `zone_word` names one of the two."""
    found = readings(wall, tz)
    day, hhmm = format_date(wall), f"{wall:%H:%M}"
    if not found:
        jump = after_gap(wall, tz)
        start = (jump - timedelta(seconds=1)).astimezone(tz) + timedelta(seconds=1)
        raise UsageError(
            _(
                "{day} {time} does not exist in {zone}: that night the clocks jump from "
                "{start} to {end}; give a time before or after the change."
            ).format(
                day=day,
                time=hhmm,
                zone=tz,
                start=f"{start:%H:%M}",
                end=f"{jump.astimezone(tz):%H:%M}",
            )
        )
    names = zone_names(wall, tz)
    if zone_word is not None:
        chosen = [r for r, name in zip(found, names, strict=True) if name.upper() == zone_word]
        if not chosen:
            raise UsageError(
                _("At {time} on {day} {zone} is on {names}, not {word}.").format(
                    time=hhmm, day=day, zone=tz, names=" / ".join(names), word=zone_word
                )
            )
        return chosen[0]
    if len(found) == 2:
        first, second = (f"{hhmm} {name}" for name in names)
        raise AmbiguousTime(
            _(
                "{time} on {day} comes twice in {zone}, as the clocks go back: {first} "
                "({first_utc} UTC) or {second} ({second_utc} UTC)? Add the zone, like "
                "`{example}`."
            ).format(
                time=hhmm,
                day=day,
                zone=tz,
                first=first,
                first_utc=f"{found[0].astimezone(UTC):%H:%M}",
                second=second,
                second_utc=f"{found[1].astimezone(UTC):%H:%M}",
                example=f"{raw} {names[1]}",
            ),
            answers=(f"{raw} {names[0]}", f"{raw} {names[1]}"),
        )
    return found[0]
