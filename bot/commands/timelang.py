"""The words of times in en, es, pt, fr and ar, for `bot.commands.fieldtime`'s grammar.

Most come from the Unicode CLDR data that Babel (already the translation library) ships:
relative day words (`ayer`, `hier`, `ontem`, `أمس`, `avant-hier`), weekday and month names
in their wide and abbreviated forms, and the relative-time patterns (`hace {0} min`,
`il y a {0} min`, `há {0} min.`, `قبل {0} دقيقة`, `{0} minutes ago`, `dans {0} h`). What
CLDR does not hold is a short hand table below: the little words people put between a day
and a time (`a las`, `à`, `às`, `at`, `الساعة`), the day-period words that act as am/pm
(`de la tarde`, `du soir`, `مساءً`) and spellings typed without accents (`manana`).

Every language's words are read whatever the member's language (a Spanish officer may
write `hier 23h30`); only the order of a numeric date depends on it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from babel import Locale

#: The languages whose CLDR words the grammar reads.
TIME_LANGUAGES = ("en", "es", "pt", "fr", "ar")

#: Spellings CLDR does not list, typed from phones without accents or with variants.
EXTRA_DAY_WORDS: dict[str, int] = {
    "manana": 1,
    "amanha": 1,
    "aujourd'hui": 0,
    "aujourdhui": 0,
    "غدا": 1,
    "غداً": 1,
    "امس": -1,
    "البارحة": -1,
    "اول امس": -2,
}
#: "Now" in each language.
NOW_WORDS = frozenset({"now", "ahora", "agora", "maintenant", "الآن", "الان"})
#: "One" as a word before a unit (`an hour ago`, `hace una hora`, `il y a une heure`).
ONE_WORDS = {w: "1" for w in ("a", "an", "one", "un", "una", "uno", "um", "uma", "une")}
#: Openings CLDR does not list, and the CLDR opening they mean (`daqui a 2 horas`).
SYNONYMS = (("daqui a ", "em "), ("dentro de una ", "dentro de 1 "))
#: Words that may stand between a day and its time (`ayer a las 23:30`, `hier à 23h30`).
LINK_WORDS: tuple[tuple[str, ...], ...] = (
    ("at",),  # en
    ("a", "las"),  # es
    ("a", "la"),
    ("às",),  # pt
    ("as",),
    ("à",),  # fr, pt
    ("a",),
    ("في", "الساعة"),  # ar
    ("عند", "الساعة"),
    ("الساعة",),
    ("عند",),
    ("في",),
)
#: Words that may stand before a weekday or a date (`on Monday`, `el lunes`, `le 30/11`).
BEFORE_DAY_WORDS = frozenset({"on", "el", "le", "no", "na", "يوم"})
#: Words between a day number, a month name and a year (`30 de noviembre de 2026`).
DATE_LINK_WORDS = frozenset({"de", "del", "of"})
#: Day-period words that act as am (False) or pm (True) after an hour of 1 to 12.
DAY_PERIODS: dict[tuple[str, ...], bool] = {
    ("am",): False,
    ("pm",): True,
    ("a.m.",): False,
    ("p.m.",): True,
    ("de", "la", "mañana"): False,  # es
    ("de", "la", "manana"): False,
    ("de", "la", "madrugada"): False,
    ("de", "la", "tarde"): True,
    ("de", "la", "noche"): True,
    ("da", "manhã"): False,  # pt
    ("da", "manha"): False,
    ("da", "madrugada"): False,
    ("da", "tarde"): True,
    ("da", "noite"): True,
    ("du", "matin"): False,  # fr
    ("de", "l'après-midi"): True,
    ("de", "l’après-midi"): True,
    ("du", "soir"): True,
    ("صباحا",): False,  # ar
    ("صباحًا",): False,
    ("ص",): False,
    ("مساء",): True,
    ("مساءً",): True,
    ("م",): True,
}
#: The night words: their 12 is midnight (`12 de la noche`), not noon.
NIGHT_WORDS = frozenset({"noche", "noite", "soir"})

_UNITS: dict[str, timedelta] = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
_WIDTHS = ("", "-short", "-narrow")
_COUNTS_BY_PLURAL = {"one": 1, "two": 2}


def fold(text: str) -> str:
    """Lower case, single spaces, ASCII digits (`٢٠` → `20`), no-break spaces as spaces."""
    out = []
    for char in unicodedata.normalize("NFC", text.lower()):
        if char.isdigit() and not char.isascii():
            out.append(str(unicodedata.digit(char, 0)))
        elif char in "\u00a0\u202f":
            out.append(" ")
        else:
            out.append(char)
    return " ".join("".join(out).split())


def _unaccented(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _variants(word: str) -> set[str]:
    """A CLDR name as typed: itself, without its final dot, without accents (Latin)."""
    base = fold(word)
    found = {base, base.rstrip(".")}
    if base.isascii() or any("LATIN" in unicodedata.name(c, "") for c in base):
        found |= {_unaccented(w) for w in list(found)}
    return found - {""}


@functools.cache
def day_words() -> dict[str, int]:
    """Relative day words (one or more words) → days from today, in every language."""
    out: dict[str, int] = {}
    for code in TIME_LANGUAGES:
        for shift, word in Locale.parse(code)._data["date_fields"]["day"]["relative"].items():
            for variant in _variants(word):
                out.setdefault(variant, int(shift))
    for word, shift in EXTRA_DAY_WORDS.items():
        out.setdefault(fold(word), shift)
    return out


@functools.cache
def weekdays() -> dict[str, int]:
    """Weekday names (wide and abbreviated, `lunes`, `lun.`, `segunda`) → 0 (Monday)..6."""
    out: dict[str, int] = {}
    for code in TIME_LANGUAGES:
        days = Locale.parse(code).days
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for index, name in days[context][width].items():
                    for variant in _variants(name):
                        out.setdefault(variant, int(index))
                        if variant.endswith("-feira"):  # pt: `segunda` for `segunda-feira`
                            out.setdefault(variant.removesuffix("-feira"), int(index))
                        if variant.startswith("ال"):  # ar: `الاثنين`, `الإثنين`
                            out.setdefault(variant.replace("الإ", "الا"), int(index))
    return out


@functools.cache
def months() -> dict[str, int]:
    """Month names (wide and abbreviated, `noviembre`, `nov.`, `نوفمبر`) → 1..12."""
    out: dict[str, int] = {}
    for code in TIME_LANGUAGES:
        names = Locale.parse(code).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for index, name in names[context][width].items():
                    for variant in _variants(name):
                        out.setdefault(variant, int(index))
    return out


@dataclass(frozen=True)
class Relative:
    """A relative-time pattern of CLDR: its unit, sign, and count when it has no number."""

    unit: timedelta
    sign: int  # -1: ago; +1: from now
    count: int | None  # a pattern without a number (`قبل دقيقتين`): its count


def _pattern(text: str) -> str:
    """A CLDR pattern (`hace {0} min`, `{0} min. ago`) as a regular expression: the dots
    optional, the spaces single, the number ASCII digits (in group `n<i>`, `<i>` filled
    in by `relatives`)."""
    spaced = text.lower().replace("\u00a0", " ").replace("\u202f", " ")
    parts = [re.escape(p).replace(r"\.", r"\.?").replace(r"\ ", " ") for p in spaced.split("{0}")]
    body = "(?P<n@>[0-9]{1,4})".join(parts)
    return body.replace(" ", " ?").strip()


@functools.cache
def relatives() -> tuple[re.Pattern[str], tuple[Relative, ...]]:
    """Every language's relative-time patterns for seconds to weeks, ago and from now, as
    one regular expression (alternative `r<i>` is pattern i) and the patterns' meanings."""
    bodies: dict[str, Relative] = {}
    for code in TIME_LANGUAGES:
        fields = Locale.parse(code)._data["date_fields"]
        for unit, length in _UNITS.items():
            for width in _WIDTHS:
                for way, sign in (("past", -1), ("future", 1)):
                    for plural, text in fields[unit + width][way].items():
                        count = None if "{0}" in text else _COUNTS_BY_PLURAL.get(plural)
                        if "{0}" not in text and count is None:
                            continue
                        bodies.setdefault(_pattern(text), Relative(length, sign, count))
    alternatives = [
        f"(?P<r{i}>{body.replace('(?P<n@>', f'(?P<n{i}>')})" for i, body in enumerate(bodies)
    ]
    return re.compile("^(?:" + "|".join(alternatives) + ")$"), tuple(bodies.values())


_ARABIC = re.compile("[\u0600-\u06ff]")


def _edge(word: str) -> str:
    return "#" if word.isdigit() or word == "{0}" else word.rstrip(".")


@functools.cache
def _edges() -> tuple[frozenset[str], frozenset[str]]:
    """The first and last words of every relative-time pattern (`hace`, `ago`, `#` for the
    number): a text that starts and ends with none of them is not one (a quick test
    before the long expression)."""
    firsts, lasts = set(), set()
    for code in TIME_LANGUAGES:
        fields = Locale.parse(code)._data["date_fields"]
        for unit in _UNITS:
            for width in _WIDTHS:
                for way in ("past", "future"):
                    for text in fields[unit + width][way].values():
                        words = fold(text).split(" ")
                        firsts.add(_edge(words[0]))
                        lasts.add(_edge(words[-1]))
    return frozenset(firsts), frozenset(lasts)


def relative(text: str) -> timedelta | None:
    """`hace 20 min`, `il y a 2 h`, `há 20 min`, `قبل 20 دقيقة`, `20 min ago`, `dans 2 h`
    → a signed span from now; None when `text` is not one."""
    folded = fold(text)
    for said, cldr in SYNONYMS:
        if folded.startswith(said):
            folded = cldr + folded.removeprefix(said)
    words = folded.split(" ")
    one = " ".join(ONE_WORDS.get(word, word) for word in words)
    one_not_a = " ".join(word if word == "a" else ONE_WORDS.get(word, word) for word in words)
    pattern, meanings = relatives()
    firsts, lasts = _edges()
    for candidate in (
        folded,
        one,
        one_not_a,
        *((folded + " واحدة", folded + " واحد") if _ARABIC.search(folded) else ()),
    ):  # ar: `قبل ساعة`
        edges = candidate.split(" ")
        if _edge(edges[0]) not in firsts and _edge(edges[-1]) not in lasts:
            continue
        m = pattern.match(candidate)
        if m and m.lastgroup:
            index = int(m.lastgroup[1:])
            rel = meanings[index]
            count = rel.count if rel.count is not None else int(m.group(f"n{index}"))
            return rel.sign * count * rel.unit
    return None
