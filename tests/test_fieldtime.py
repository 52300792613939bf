"""Times as people write them (issue 16): a table on a fixed clock, and through commands."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.base.clock import ManualClock
from bot.base.localtime import format_time
from bot.commands.errors import UsageError
from bot.commands.fieldtime import AmbiguousTime, Direction, read_time
from bot.serving.app import App
from bot.store.models import Raid, Sighting
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import fetch, ok, operation, refused

MADRID = ZoneInfo("Europe/Madrid")
# Monday 30 November 2026, 05:43 in Madrid (04:43 UTC): the "14:30 at 05:43".
NOW = datetime(2026, 11, 30, 4, 43, tzinfo=UTC)
PAST, FUTURE = Direction.PAST, Direction.FUTURE


def madrid(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> str:
    """A Madrid wall-clock time as the reply shows it."""
    return format_time(datetime(year, month, day, hour, minute, tzinfo=MADRID), MADRID)


TABLE = [
    # (typed, language, direction, resolved in Madrid)
    ("14:30", "en", PAST, madrid(29, 14, 30)),
    ("14:30", "en", FUTURE, madrid(30, 14, 30)),
    ("05:40", "en", PAST, madrid(30, 5, 40)),
    ("05:46", "en", PAST, madrid(30, 5, 46)),  # within the 5 minutes phones drift
    ("05:40", "en", FUTURE, madrid(1, 5, 40, month=12)),
    ("14h30", "fr", PAST, madrid(29, 14, 30)),
    ("5pm", "en", PAST, madrid(29, 17)),
    ("5 pm", "en", PAST, madrid(29, 17)),
    ("5:30am", "en", PAST, madrid(30, 5, 30)),
    ("12am", "en", PAST, madrid(30, 0)),
    ("12pm", "en", PAST, madrid(29, 12)),
    ("17h", "fr", PAST, madrid(29, 17)),
    ("17h", "fr", FUTURE, madrid(30, 17)),
    ("yesterday 23:30", "en", PAST, madrid(29, 23, 30)),
    ("hier 23h30", "fr", PAST, madrid(29, 23, 30)),
    ("ayer 23:30", "es", PAST, madrid(29, 23, 30)),
    ("Ayer 11pm", "es", PAST, madrid(29, 23)),
    ("ontem 23:30", "pt", PAST, madrid(29, 23, 30)),
    ("أمس 23:30", "ar", PAST, madrid(29, 23, 30)),
    ("tomorrow 05:30", "en", FUTURE, madrid(1, 5, 30, month=12)),
    ("mañana 6h", "es", FUTURE, madrid(1, 6, month=12)),
    ("30/11/2026 05:00", "es", PAST, madrid(30, 5)),
    ("30/11/2026 05:00", "en", PAST, madrid(30, 5)),  # 30 is no month: one reading
    ("11/30/2026 05:00", "en", PAST, madrid(30, 5)),  # 30 is no month: one reading
    ("03/04/2026 10:00", "es", PAST, madrid(3, 10, month=4)),
    ("03/04/2026 10:00", "fr", PAST, madrid(3, 10, month=4)),
    ("30.11.26 05:00", "pt", PAST, madrid(30, 5)),
    ("29/11 22:00", "es", PAST, madrid(29, 22)),
    ("01/12 10:00", "es", PAST, madrid(1, 10, month=12, year=2025)),  # no year: the last one
    ("01/12 10:00", "es", FUTURE, madrid(1, 10, month=12)),
    ("2026-11-28 14:30", "en", PAST, madrid(28, 14, 30)),  # the ISO form still reads
    ("20m ago", "en", PAST, madrid(30, 5, 23)),
    ("in 2h", "en", FUTURE, madrid(30, 7, 43)),
]


@pytest.mark.parametrize(("typed", "lang", "direction", "shown"), TABLE)
def test_time_table(typed: str, lang: str, direction: Direction, shown: str) -> None:
    clock = ManualClock(NOW)
    when = read_time(typed, clock(), MADRID, lang=lang, direction=direction)
    assert format_time(when, MADRID) == shown


QUESTIONS = [
    ("03/04/2026 10:00", "en", "Is '03/04/2026 10:00' 03 Apr 2026 or 04 Mar 2026?"),
    ("yesterday", "en", "At what time yesterday? Add the time, like yesterday 23:30."),
    ("hier", "fr", "At what time hier? Add the time, like hier 23:30."),
    ("30/11/2026", "es", "At what time on 30 Nov 2026?"),
    ("5", "en", "Did you mean 5:00 or a number of minutes ago?"),
]


@pytest.mark.parametrize(("typed", "lang", "start"), QUESTIONS)
def test_ambiguous_input_gets_a_question(typed: str, lang: str, start: str) -> None:
    with pytest.raises(AmbiguousTime) as raised:
        read_time(typed, NOW, MADRID, lang=lang)
    sentence = str(raised.value)
    assert sentence.startswith(start)
    assert sentence.count("?") == 1


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("25:00", "'25:00' is not a time of day; the hour is 0 to 23."),
        ("13pm", "'13pm' is not a time: with am or pm the hour is 1 to 12."),
        ("31/02/2026 10:00", "'31/02/2026 10:00' is not a date;"),
        ("ayer a las nueve", "I can't read 'ayer a las nueve' as a time;"),
        ("half past five", "I can't read 'half past five' as a time;"),
        ("30/11/3026 10:00", "'30/11/3026 10:00' is too far from today;"),
    ],
)
def test_unreadable_input_is_refused(typed: str, sentence: str) -> None:
    with pytest.raises(UsageError) as raised:
        read_time(typed, NOW, MADRID, lang="es")
    assert not isinstance(raised.value, AmbiguousTime)
    assert str(raised.value).startswith(sentence)


async def _madrid_op(app: App, clock: ManualClock) -> None:
    clock.set(NOW)
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "me tz Europe/Madrid", who="mia")


@pytest.mark.parametrize(
    ("flag", "shown"),
    [
        ("--when 14:30", madrid(29, 14, 30)),
        ("--when hier 23h30", madrid(29, 23, 30)),
        ("--when ayer 5 pm", madrid(29, 17)),
        ("--when 30/11/2026 05:00", madrid(30, 5)),
        ("--when 17h", madrid(29, 17)),
    ],
)
async def test_a_sighting_reply_shows_the_time_as_read(
    app: App, clock: ManualClock, flag: str, shown: str
) -> None:
    await _madrid_op(app, clock)
    reply = await ok(app, f"sighting S-1 at Vigo {flag} --grade B2", who="mia")
    assert dict(reply.message.fields)["Seen"] == shown
    [stored] = await fetch(app, Sighting)
    assert stored.observed_at == datetime.strptime(shown[:21], "%a %d %b %Y %H:%M").replace(
        tzinfo=MADRID
    ).astimezone(UTC)
    assert stored.reporter_grade == "B2"  # the time took its words, not the next flag's


async def test_the_member_language_decides_day_first_and_english_is_asked(
    app: App, clock: ManualClock
) -> None:
    await _madrid_op(app, clock)
    before = await snapshot(app.store)
    question = await refused(app, "sighting S-1 at Vigo --when 03/04/2026 10:00", who="mia")
    assert question.startswith("Is '03/04/2026 10:00' 03 Apr 2026 or 04 Mar 2026?")
    assert changed_tables(before, await snapshot(app.store)) == {}
    await ok(app, "me lang es", who="mia")
    await ok(app, "sighting S-1 at Vigo --when 03/04/2026 10:00", who="mia")  # in Spanish
    [sighting] = await fetch(app, Sighting)
    seen = datetime(2026, 4, 3, 10, tzinfo=MADRID)  # day first, as a Spanish reader means it
    assert sighting.observed_at.replace(tzinfo=UTC) == seen.astimezone(UTC)


async def test_a_raid_time_of_day_is_the_next_one(app: App, clock: ManualClock) -> None:
    await _madrid_op(app, clock)
    reply = await ok(app, 'raid plan "Dock" --at 05:30 --tz Europe/Madrid')
    [raid] = await fetch(app, Raid)
    assert raid.at == datetime(2026, 12, 1, 5, 30, tzinfo=MADRID).astimezone(UTC)
    assert madrid(1, 5, 30, month=12) in reply.message.plain_text()
