"""Times as people write them (issue 16): a table on a fixed clock, and through commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.base.clock import ManualClock
from bot.base.i18n import use_language
from bot.base.localtime import format_time
from bot.commands.errors import UsageError
from bot.commands.fieldtime import PAST_SLACK, AmbiguousTime, Direction, read_time
from bot.serving.app import App
from bot.store.models import BriefSchedule, Raid, Sighting
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


# Issue 29: one grammar per language, each with at least 40 forms officers write, on the
# same fixed clock (Monday 30 November 2026, 05:43 in Madrid). `P`/`F`: sighting/raid.
P, F = PAST, FUTURE
AGO_20 = madrid(30, 5, 23)  # 20 minutes before the clock
AGO_2H = madrid(30, 3, 43)
AGO_1H = madrid(30, 4, 43)
AGO_3D = madrid(27, 5, 43)
IN_2H = madrid(30, 7, 43)
IN_30 = madrid(30, 6, 13)
NOW_SHOWN = madrid(30, 5, 43)
LAST_MONDAY_10 = madrid(23, 10)
SUNDAY_22 = madrid(29, 22)
FRIDAY_9 = madrid(27, 9)
WEDNESDAY_18 = madrid(25, 18)
YESTERDAY_2330 = madrid(29, 23, 30)
YESTERDAY_23 = madrid(29, 23)
YESTERDAY_17 = madrid(29, 17)
TWO_DAYS_AGO_14 = madrid(28, 14)
TODAY_5 = madrid(30, 5)
TOMORROW_6 = madrid(1, 6, month=12)
IN_TWO_DAYS_10 = madrid(2, 10, month=12)

LANGUAGE_TABLES: dict[str, list[tuple[str, Direction, str]]] = {
    "en": [
        ("14:30", P, madrid(29, 14, 30)),
        ("14:30", F, madrid(30, 14, 30)),
        ("14.30", P, madrid(29, 14, 30)),
        ("5pm", P, YESTERDAY_17),
        ("5 pm", P, YESTERDAY_17),
        ("5 p.m.", P, YESTERDAY_17),
        ("5:30 pm", P, madrid(29, 17, 30)),
        ("5:30am", P, madrid(30, 5, 30)),
        ("12am", P, madrid(30, 0)),
        ("12pm", P, madrid(29, 12)),
        ("17.30h", P, madrid(29, 17, 30)),
        ("17:30h", P, madrid(29, 17, 30)),
        ("17h", P, YESTERDAY_17),
        ("17 h", P, YESTERDAY_17),
        ("at 10:00", P, madrid(29, 10)),
        ("yesterday 23:30", P, YESTERDAY_2330),
        ("yesterday at 23:30", P, YESTERDAY_2330),
        ("yesterday at 11pm", P, YESTERDAY_23),
        ("Yesterday 11 pm", P, YESTERDAY_23),
        ("today 05:00", P, TODAY_5),
        ("tomorrow 06:00", F, TOMORROW_6),
        ("tomorrow at 6am", F, TOMORROW_6),
        ("monday 10am", P, LAST_MONDAY_10),
        ("Monday 10am", F, madrid(30, 10)),
        ("on monday 10:00", P, LAST_MONDAY_10),
        ("sunday 22:00", P, SUNDAY_22),
        ("sun 22:00", P, SUNDAY_22),
        ("fri 9am", P, FRIDAY_9),
        ("wednesday 6pm", P, WEDNESDAY_18),
        ("29/11 22:00", P, SUNDAY_22),
        ("11/29 22:00", P, SUNDAY_22),
        ("11/29/2026 22:00", P, SUNDAY_22),
        ("nov 29 10pm", P, SUNDAY_22),
        ("Nov 29, 2026 10pm", P, SUNDAY_22),
        ("29 november 2026 22:00", P, SUNDAY_22),
        ("29 nov at 22:00", P, SUNDAY_22),
        ("20 min ago", P, AGO_20),
        ("20 minutes ago", P, AGO_20),
        ("20m ago", P, AGO_20),
        ("2 hours ago", P, AGO_2H),
        ("2 hr. ago", P, AGO_2H),
        ("an hour ago", P, AGO_1H),
        ("3 days ago", P, AGO_3D),
        ("in 2 hours", F, IN_2H),
        ("in 2h", F, IN_2H),
        ("in 30 min", F, IN_30),
        ("now", P, NOW_SHOWN),
        ("2026-11-28 14:30", P, madrid(28, 14, 30)),
    ],
    "es": [
        ("14:30", P, madrid(29, 14, 30)),
        ("14h30", P, madrid(29, 14, 30)),
        ("17h", P, YESTERDAY_17),
        ("17.30h", P, madrid(29, 17, 30)),
        ("17:30h", P, madrid(29, 17, 30)),
        ("5pm", P, YESTERDAY_17),
        ("a las 10:00", P, madrid(29, 10)),
        ("ayer 23:30", P, YESTERDAY_2330),
        ("ayer a las 23:30", P, YESTERDAY_2330),
        ("Ayer a las 23.30", P, YESTERDAY_2330),
        ("ayer a las 11 de la noche", P, YESTERDAY_23),
        ("ayer a las 5 de la tarde", P, YESTERDAY_17),
        ("Ayer 11pm", P, YESTERDAY_23),
        ("anteayer 14:00", P, TWO_DAYS_AGO_14),
        ("anteayer a las 14:00", P, TWO_DAYS_AGO_14),
        ("hoy a las 5:00", P, TODAY_5),
        ("hoy 05:00", P, TODAY_5),
        ("mañana 6h", F, TOMORROW_6),
        ("mañana a las 6:00", F, TOMORROW_6),
        ("manana 06:00", F, TOMORROW_6),
        ("mañana a las 6 de la mañana", F, TOMORROW_6),
        ("pasado mañana a las 10:00", F, IN_TWO_DAYS_10),
        ("lunes 10:00", P, LAST_MONDAY_10),
        ("el lunes a las 10", P, LAST_MONDAY_10),
        ("el lunes a las 10", F, madrid(30, 10)),
        ("domingo 22:00", P, SUNDAY_22),
        ("dom 22:00", P, SUNDAY_22),
        ("el viernes a las 9:00", P, FRIDAY_9),
        ("miércoles 18h", P, WEDNESDAY_18),
        ("miercoles 18h", P, WEDNESDAY_18),
        ("29/11 22:00", P, SUNDAY_22),
        ("29/11/2026 a las 22:00", P, SUNDAY_22),
        ("03/04/2026 10:00", P, madrid(3, 10, month=4)),
        ("01/12 10:00", P, madrid(1, 10, month=12, year=2025)),
        ("01/12 10:00", F, madrid(1, 10, month=12)),
        ("30.11.26 05:00", P, TODAY_5),
        ("29 de noviembre a las 22:00", P, SUNDAY_22),
        ("29 de noviembre de 2026 a las 22:00", P, SUNDAY_22),
        ("29 nov 22:00", P, SUNDAY_22),
        ("hace 20 min", P, AGO_20),
        ("hace 20 minutos", P, AGO_20),
        ("hace 2 horas", P, AGO_2H),
        ("hace 2 h", P, AGO_2H),
        ("hace una hora", P, AGO_1H),
        ("hace 3 días", P, AGO_3D),
        ("dentro de 2 horas", F, IN_2H),
        ("dentro de 30 min", F, IN_30),
        ("ahora", P, NOW_SHOWN),
    ],
    "pt": [
        ("14:30", P, madrid(29, 14, 30)),
        ("14h30", P, madrid(29, 14, 30)),
        ("17h", P, YESTERDAY_17),
        ("17.30h", P, madrid(29, 17, 30)),
        ("às 10h", P, madrid(29, 10)),
        ("ontem 23:30", P, YESTERDAY_2330),
        ("ontem às 23:30", P, YESTERDAY_2330),
        ("ontem às 23h30", P, YESTERDAY_2330),
        ("ontem as 23:30", P, YESTERDAY_2330),
        ("ontem às 11 da noite", P, YESTERDAY_23),
        ("ontem às 5 da tarde", P, YESTERDAY_17),
        ("anteontem 14:00", P, TWO_DAYS_AGO_14),
        ("anteontem às 14h", P, TWO_DAYS_AGO_14),
        ("hoje às 5:00", P, TODAY_5),
        ("hoje 05h", P, TODAY_5),
        ("amanhã 6h", F, TOMORROW_6),
        ("amanhã às 06:00", F, TOMORROW_6),
        ("amanha 06:00", F, TOMORROW_6),
        ("amanhã às 6 da manhã", F, TOMORROW_6),
        ("depois de amanhã às 10h", F, IN_TWO_DAYS_10),
        ("segunda 10h", P, LAST_MONDAY_10),
        ("segunda-feira às 10:00", P, LAST_MONDAY_10),
        ("na segunda-feira às 10:00", P, LAST_MONDAY_10),
        ("segunda às 10h", F, madrid(30, 10)),
        ("domingo 22h", P, SUNDAY_22),
        ("dom. 22:00", P, SUNDAY_22),
        ("sexta às 9h", P, FRIDAY_9),
        ("sexta-feira 9:00", P, FRIDAY_9),
        ("quarta 18h", P, WEDNESDAY_18),
        ("29/11 22:00", P, SUNDAY_22),
        ("29/11/2026 22h", P, SUNDAY_22),
        ("03/04/2026 10:00", P, madrid(3, 10, month=4)),
        ("30.11.26 05:00", P, TODAY_5),
        ("29 de novembro às 22:00", P, SUNDAY_22),
        ("29 de novembro de 2026 às 22h", P, SUNDAY_22),
        ("29 nov 22:00", P, SUNDAY_22),
        ("há 20 min", P, AGO_20),
        ("há 20 minutos", P, AGO_20),
        ("há 2 horas", P, AGO_2H),
        ("há uma hora", P, AGO_1H),
        ("há 3 dias", P, AGO_3D),
        ("em 2 horas", F, IN_2H),
        ("daqui a 2 horas", F, IN_2H),
        ("em 30 min", F, IN_30),
        ("agora", P, NOW_SHOWN),
    ],
    "fr": [
        ("14:30", P, madrid(29, 14, 30)),
        ("14h30", P, madrid(29, 14, 30)),
        ("14.30", P, madrid(29, 14, 30)),
        ("17h", P, YESTERDAY_17),
        ("17h", F, madrid(30, 17)),
        ("17.30h", P, madrid(29, 17, 30)),
        ("à 10h", P, madrid(29, 10)),
        ("hier 23h30", P, YESTERDAY_2330),
        ("hier à 23h30", P, YESTERDAY_2330),
        ("hier à 23:30", P, YESTERDAY_2330),
        ("Hier a 23h30", P, YESTERDAY_2330),
        ("hier à 11h du soir", P, YESTERDAY_23),
        ("hier 5h de l'après-midi", P, YESTERDAY_17),
        ("avant-hier 14h", P, TWO_DAYS_AGO_14),
        ("avant-hier à 14h", P, TWO_DAYS_AGO_14),
        ("aujourd'hui à 5h", P, TODAY_5),
        ("aujourd’hui 05:00", P, TODAY_5),
        ("demain 6h", F, TOMORROW_6),
        ("demain à 6h", F, TOMORROW_6),
        ("demain à 6h du matin", F, TOMORROW_6),
        ("après-demain à 10h", F, IN_TWO_DAYS_10),
        ("lundi 10h", P, LAST_MONDAY_10),
        ("lundi 10h", F, madrid(30, 10)),
        ("lundi à 10h", P, LAST_MONDAY_10),
        ("le lundi à 10h", P, LAST_MONDAY_10),
        ("dimanche 22h", P, SUNDAY_22),
        ("dim. 22h", P, SUNDAY_22),
        ("vendredi 9h", P, FRIDAY_9),
        ("mercredi 18h", P, WEDNESDAY_18),
        ("29/11 22h", P, SUNDAY_22),
        ("29/11/2026 22h00", P, SUNDAY_22),
        ("03/04/2026 10h", P, madrid(3, 10, month=4)),
        ("30.11.26 05:00", P, TODAY_5),
        ("29 novembre à 22h", P, SUNDAY_22),
        ("29 novembre 2026 à 22h", P, SUNDAY_22),
        ("le 29 novembre à 22h", P, SUNDAY_22),
        ("1er décembre 10h", F, madrid(1, 10, month=12)),
        ("il y a 20 min", P, AGO_20),
        ("il y a 20 minutes", P, AGO_20),
        ("il y a 2 h", P, AGO_2H),
        ("il y a une heure", P, AGO_1H),
        ("il y a 3 jours", P, AGO_3D),
        ("dans 2 h", F, IN_2H),
        ("dans 30 min", F, IN_30),
        ("maintenant", P, NOW_SHOWN),
    ],
    "ar": [
        ("14:30", P, madrid(29, 14, 30)),
        ("٢٣:٣٠", P, YESTERDAY_2330),
        ("17h", P, YESTERDAY_17),
        ("الساعة 10:00", P, madrid(29, 10)),
        ("10 صباحًا", P, madrid(29, 10)),
        ("5 مساءً", P, YESTERDAY_17),
        ("أمس 23:30", P, YESTERDAY_2330),
        ("امس 23:30", P, YESTERDAY_2330),
        ("أمس الساعة 23:30", P, YESTERDAY_2330),
        ("أمس في الساعة 23:30", P, YESTERDAY_2330),
        ("أمس 11 مساءً", P, YESTERDAY_23),
        ("أمس 11 م", P, YESTERDAY_23),
        ("أمس ١١:٠٠ مساءً", P, YESTERDAY_23),
        ("البارحة 23:30", P, YESTERDAY_2330),
        ("أول أمس 14:00", P, TWO_DAYS_AGO_14),
        ("اليوم 05:00", P, TODAY_5),
        ("اليوم الساعة 5:00", P, TODAY_5),
        ("غدا 06:00", F, TOMORROW_6),
        ("غدًا الساعة 6:00", F, TOMORROW_6),
        ("بعد الغد 10:00", F, IN_TWO_DAYS_10),
        ("الاثنين 10:00", P, LAST_MONDAY_10),
        ("الاثنين 10:00", F, madrid(30, 10)),
        ("يوم الاثنين الساعة 10:00", P, LAST_MONDAY_10),
        ("الأحد 22:00", P, SUNDAY_22),
        ("الجمعة 9:00", P, FRIDAY_9),
        ("الأربعاء 18:00", P, WEDNESDAY_18),
        ("29/11 22:00", P, SUNDAY_22),
        ("29/11/2026 22:00", P, SUNDAY_22),
        ("03/04/2026 10:00", P, madrid(3, 10, month=4)),
        ("٢٩/١١/٢٠٢٦ ٢٢:٠٠", P, SUNDAY_22),
        ("29 نوفمبر 22:00", P, SUNDAY_22),
        ("29 نوفمبر 2026 الساعة 22:00", P, SUNDAY_22),
        ("قبل 20 دقيقة", P, AGO_20),
        ("قبل ٢٠ دقيقة", P, AGO_20),
        ("قبل دقيقتين", P, madrid(30, 5, 41)),
        ("قبل ساعة", P, AGO_1H),
        ("قبل ساعتين", P, AGO_2H),
        ("قبل 3 ساعات", P, madrid(30, 2, 43)),
        ("قبل 3 أيام", P, AGO_3D),
        ("خلال ساعتين", F, IN_2H),
        ("خلال 30 دقيقة", F, IN_30),
        ("الآن", P, NOW_SHOWN),
        ("20m ago", P, AGO_20),
    ],
}
LANGUAGE_ROWS = [(lang, *row) for lang, rows in LANGUAGE_TABLES.items() for row in rows]


def test_each_language_has_at_least_forty_forms() -> None:
    assert {lang: len(rows) >= 40 for lang, rows in LANGUAGE_TABLES.items()} == dict.fromkeys(
        ("en", "es", "pt", "fr", "ar"), True
    )


@pytest.mark.parametrize(("lang", "typed", "direction", "shown"), LANGUAGE_ROWS)
def test_each_language_reads_what_officers_write(
    lang: str, typed: str, direction: Direction, shown: str
) -> None:
    when = read_time(typed, NOW, MADRID, lang=lang, direction=direction)
    assert format_time(when, MADRID) == shown


# Each question, in each language, with the answers it suggests: every answer is taken
# as suggested (the "2026-12-05 09:00", offered then refused as in the future).
LANGUAGE_QUESTIONS = [
    ("en", "yesterday", P),
    ("en", "today", P),
    ("en", "today", F),
    ("en", "monday", P),
    ("en", "03/04/2026 10:00", P),
    ("en", "05/12 09:00", P),  # 5 Dec (last year's, for a sighting) or 12 May
    ("en", "05/12 09:00", F),
    ("en", "12/05/2026 10:00", P),  # 5 Dec 2026 is ahead: only 12 May is offered
    ("en", "05/12", P),
    ("en", "30/11/2026", P),
    ("en", "5", P),
    ("es", "ayer", P),
    ("es", "hoy", P),
    ("es", "el lunes", F),
    ("es", "30/11", P),
    ("es", "29 de noviembre", P),
    ("pt", "ontem", P),
    ("pt", "sexta", P),
    ("pt", "30/11/2026", F),
    ("fr", "hier", P),
    ("fr", "lundi", P),
    ("fr", "aujourd'hui", P),
    ("fr", "30/11", P),
    ("ar", "أمس", P),
    ("ar", "الأحد", P),
    ("ar", "اليوم", P),
    ("ar", "30/11", P),
]


@pytest.mark.parametrize(("lang", "typed", "direction"), LANGUAGE_QUESTIONS)
def test_every_question_suggests_answers_that_are_taken(
    lang: str, typed: str, direction: Direction
) -> None:
    with pytest.raises(AmbiguousTime) as raised:
        read_time(typed, NOW, MADRID, lang=lang, direction=direction)
    question = raised.value
    assert question.answers, str(question)
    for answer in question.answers:
        assert answer in str(question)
        when = read_time(answer, NOW, MADRID, lang=lang, direction=direction)
        if direction is PAST:
            assert when <= NOW + PAST_SLACK, (typed, answer)
        else:
            assert when > NOW, (typed, answer)


@pytest.mark.parametrize(
    ("typed", "lang", "sentence"),
    [
        ("ayer a las 12 de la noche", "es", "'ayer a las 12 de la noche': write midnight as 00:00"),
        ("hier à 25h", "fr", "'hier à 25h' is not a time of day; the hour is 0 to 23."),
        ("hace veinte min", "es", "I can't read 'hace veinte min' as a time;"),
        ("lundi prochain 10h", "fr", "I can't read 'lundi prochain 10h' as a time;"),
        ("ontem às 13 da tarde", "pt", "'ontem às 13 da tarde' is not a time: with am or pm"),
        ("31 de febrero 10:00", "es", "'31 de febrero 10:00' is not a date;"),
        ("قبل عشرين دقيقة", "ar", "I can't read 'قبل عشرين دقيقة' as a time;"),
    ],
)
def test_each_language_refuses_what_it_cannot_read(typed: str, lang: str, sentence: str) -> None:
    with pytest.raises(UsageError) as raised:
        read_time(typed, NOW, MADRID, lang=lang)
    assert not isinstance(raised.value, AmbiguousTime)
    assert str(raised.value).startswith(sentence)


@pytest.mark.parametrize(
    ("lang", "flag", "shown"),
    [
        ("es", "--when hace 20 min", AGO_20),
        ("es", "--when ayer a las 23:30", YESTERDAY_2330),
        ("pt", "--when ontem às 23:30", YESTERDAY_2330),
        ("fr", "--when hier à 23h30", YESTERDAY_2330),
        ("fr", "--when il y a 20 min", AGO_20),
        ("fr", "--when lundi 10h", LAST_MONDAY_10),
        ("en", "--when 17.30h", madrid(29, 17, 30)),
        ("ar", "--when قبل 20 دقيقة", AGO_20),
        ("es", "--when 29 de noviembre a las 22:00", SUNDAY_22),
    ],
)
async def test_a_sighting_takes_each_languages_time_unquoted(
    app: App, clock: ManualClock, lang: str, flag: str, shown: str
) -> None:
    await _madrid_op(app, clock)
    await ok(app, f"me lang {lang}", who="mia")
    await ok(app, f"sighting S-1 at Vigo {flag} --grade B2", who="mia")
    [stored] = await fetch(app, Sighting)
    with use_language("en"):
        assert format_time(stored.observed_at.replace(tzinfo=UTC), MADRID) == shown
    assert stored.reporter_grade == "B2"  # the time took its words, not the next flag's


async def test_the_answer_a_date_question_suggests_is_taken(app: App, clock: ManualClock) -> None:
    """The issue's bug: asked about `05/12 09:00`, the member typed the suggested answer and
    was told it was in the future."""
    clock.set(datetime(2026, 12, 5, 8, 30, tzinfo=UTC))
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    before = await snapshot(app.store)
    question = await refused(app, "sighting S-1 at Vigo --when 05/12 09:00", who="mia")
    assert question.startswith("Is '05/12 09:00' 05 Dec 2025 or 12 May 2026?")
    assert changed_tables(before, await snapshot(app.store)) == {}
    suggested = re.findall(r"`([^`]+)`", question)
    assert suggested == ["2025-12-05 09:00", "2026-05-12 09:00"]
    for answer in suggested:
        await ok(app, f"sighting S-1 at Vigo --when {answer}", who="mia")
    assert len(await fetch(app, Sighting)) == 2


@pytest.mark.parametrize(
    "coords", ["36,1600, -5,3480", "36,1600 -5,3480", "36,1600;-5,3480", "36.16, -5.348"]
)
async def test_comma_decimal_coordinates(app: App, clock: ManualClock, coords: str) -> None:
    await _madrid_op(app, clock)
    await ok(app, "me lang es", who="mia")
    await ok(app, f"sighting S-1 at Tarifa --coords {coords} --grade B2", who="mia")
    [stored] = await fetch(app, Sighting)
    assert (stored.lat, stored.lon) == (36.16, -5.348)
    assert stored.reporter_grade == "B2"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("7pm", "19:00"), ("19h", "19:00"), ("7:30 pm", "19:30"), ("19.30h", "19:30")],
)
async def test_brief_schedule_takes_a_time_as_people_write_it(
    app: App, clock: ManualClock, typed: str, stored: str
) -> None:
    await _madrid_op(app, clock)
    await ok(app, f"brief schedule {typed} --tz Europe/Madrid", channel="room")
    [row] = await fetch(app, BriefSchedule)
    assert row.time_of_day == stored


async def test_brief_schedule_refuses_a_bare_number(app: App, clock: ManualClock) -> None:
    await _madrid_op(app, clock)
    assert (await refused(app, "brief schedule 7", channel="room")).startswith(
        "'7' is not a time of day; use HH:MM, like 07:00."
    )
    assert await fetch(app, BriefSchedule) == []


async def test_a_pin_takes_comma_decimal_coordinates(app: App, clock: ManualClock) -> None:
    await _madrid_op(app, clock)
    await ok(app, "me lang es", who="mia")
    await ok(app, "sighting S-1 --grade B2", who="mia", channel="room")  # waits for its place
    await ok(app, "pin 36,1600, -5,3480", who="mia", channel="room")
    [stored] = await fetch(app, Sighting)
    assert (stored.lat, stored.lon) == (36.16, -5.348)
