"""Finding subjects by name: normalised search keys, spelling variants, duplicates.

Every name and alias of a subject is stored once more as search keys (`SubjectKey`), one
row per word plus one for the whole name run together (so a plate typed `1234ABC` finds
`1234 ABC`):

- `token`: the word transliterated to Latin (`anyascii`: Cyrillic, Greek, Arabic, …),
  accents dropped, lower case, letters and digits only (`Петров` → `petrov`, `Zoë` → `zoe`);
- `skel`: its consonant skeleton, for spellings that sound alike (`Petrow`, `Petrov` →
  `ptrv`; `Mohamed`, `Muhammad`, `محمد` → `mhmd`).

A search looks words up in those indexes (exact, word prefix, skeleton) and scores
near-spellings with `rapidfuzz` among words that share their first two letters; every hit
says why it matched. Access is not decided here: callers filter the subjects found with
the same reading rules as every other read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anyascii import anyascii
from rapidfuzz import fuzz
from sqlalchemy import bindparam, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import _
from bot.store import tables
from bot.store.models import Subject, SubjectKey

MAX_QUERY_WORDS = 6
MAX_ROWS_PER_WORD = 5000  # index rows read per query word and way of matching
FUZZY_CUTOFF = 82.0
SKELETON_MIN = 3

# Scores: what a query word is worth by the way it matched.
EXACT, PREFIX, SOUNDS, FUZZY_WEIGHT = 100.0, 90.0, 86.0, 0.85

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Spelling variants across transliteration systems, applied before vowels are dropped.
_SKELETON_RULES = (
    ("tch", "ch"),
    ("sch", "sh"),
    ("kh", "h"),
    ("ph", "f"),
    ("ck", "k"),
    ("dj", "j"),
    ("ou", "u"),
    ("w", "v"),
    ("q", "k"),
    ("x", "ks"),
    ("c", "k"),
    ("y", "i"),
    ("j", "i"),
)
_VOWELS = set("aeiou")


def fold(text: str) -> list[str]:
    """The words of `text` in Latin letters, lower case, no accents or punctuation."""
    return [w for w in _NON_ALNUM.split(anyascii(text).lower()) if w]


def skeleton(word: str) -> str:
    """The consonant skeleton of a folded word: its first letter, then its consonants,
    repeats collapsed. Words with digits (plates, numbers) are their own skeleton."""
    if any(ch.isdigit() for ch in word):
        return word
    for old, new in _SKELETON_RULES:
        word = word.replace(old, new)
    if not word:
        return ""
    out = [word[0]]
    for ch in word[1:]:
        if ch in _VOWELS or (ch == "h" and out[-1] in "ktsdgz"):
            continue
        if ch != out[-1]:
            out.append(ch)
    return "".join(out)


def non_latin(text: str) -> bool:
    """Whether `text` has letters of another script (Cyrillic, Greek, Arabic, …)."""
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in text)


def key_rows(
    operation_id: int, subject_id: int, name: str, aliases: Sequence[str]
) -> list[dict[str, object]]:
    """The search keys of one name and its aliases, as rows of `subjectkey`."""
    out: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for part, source in [("name", name), *(("alias", a) for a in aliases)]:
        words = fold(source)
        if len(words) > 1:
            words.append("".join(words))
        for word in words:
            word = word[:200]
            if (part, word) in seen:
                continue
            seen.add((part, word))
            out.append(
                {
                    "operation_id": operation_id,
                    "subject_id": subject_id,
                    "part": part,
                    "source": source[:200],
                    "token": word,
                    "skel": skeleton(word)[:200],
                }
            )
    return out


def subject_keys(
    subject: Subject, strong: Sequence[tuple[str, str]] = ()
) -> list[SubjectKey]:
    """The search keys of a subject's name and aliases (its id must be known), and its
    normalised keys (`strong`: (part, token) pairs, `bot.core.entities.strong_keys`),
    looked up by exact token."""
    rows = key_rows(subject.operation_id, subject.id or 0, subject.name, subject.aliases)
    for part, token in strong:
        rows.append(
            {
                "operation_id": subject.operation_id,
                "subject_id": subject.id or 0,
                "part": part[:8],
                "source": subject.name[:200],
                "token": token[:200],
                "skel": token[:200],
            }
        )
    return [SubjectKey(**row) for row in rows]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- search


@dataclass
class Hit:
    """How one query word matched one subject."""

    score: float
    how: str  # exact, prefix, sounds, fuzzy
    field: str  # name, alias
    source: str


@dataclass
class Found:
    """A subject that matched every word of the query, with its score and the reason."""

    subject_id: int
    score: float
    hits: list[Hit] = field(default_factory=list)

    def reason(self, query: str) -> str:
        """Why it matched, in words: `alias 'Vanya'`, `spelling close to name 'Petrov'`."""
        weakest = min(self.hits, key=lambda h: h.score)
        if weakest.field not in ("name", "alias"):  # a normalised key: phone, account, …
            return _("same {kind} as '{source}'").format(
                kind=weakest.field, source=weakest.source
            )
        named = _("name '{source}'") if weakest.field == "name" else _("alias '{source}'")
        where = named.format(source=weakest.source)
        # The stored name is an argument, never part of a format string (issue 32).
        text = {
            "exact": "{where}",
            "prefix": _("partial: {where}"),
            "sounds": _("sounds like {where}"),
            "fuzzy": _("spelling close to {where}"),
        }[weakest.how].format(where=where)
        if non_latin(query) or non_latin(weakest.source):
            text += " " + _("(transliterated)")
        return text


_T = tables.SUBJECT_KEY
_BY_RANGE = select(_T.c.subject_id, _T.c.part, _T.c.source, _T.c.token).where(
    _T.c.operation_id == bindparam("op_id"),
    _T.c.token >= bindparam("low"),
    _T.c.token < bindparam("high"),
)
_FROM = select(_T.c.subject_id, _T.c.part, _T.c.source, _T.c.token).where(
    _T.c.operation_id == bindparam("op_id"), _T.c.token >= bindparam("low")
)
_BY_SKELETON = select(_T.c.subject_id, _T.c.part, _T.c.source, _T.c.token).where(
    _T.c.operation_id == bindparam("op_id"), _T.c.skel == bindparam("skel")
)


_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


def after_prefix(prefix: str) -> str | None:
    """The first string of digits and lower-case letters after every one starting with
    `prefix` (`petrov` → `petrow`, `abz` → `ac`): the upper bound of an index range scan.

    Only digits and letters are used, which sort the same in every collation (PostgreSQL's
    `en_US` ignores punctuation, so `prefix + "{"` would not do). None for `zzz`: no
    upper bound.
    """
    while prefix:
        last = _ALNUM.find(prefix[-1])
        if 0 <= last < len(_ALNUM) - 1:
            return prefix[:-1] + _ALNUM[last + 1]
        prefix = prefix[:-1]
    return None


Rows = list[tuple[int, str, str, str]]


class _Reader:
    """Index reads for one query, optionally only among some subjects; notes whether a
    read stopped at `MAX_ROWS_PER_WORD` (then a word is too common to be read in full)."""

    def __init__(
        self, session: AsyncSession, op_id: int, within: Sequence[int] | None = None
    ) -> None:
        self.session, self.op_id, self.within = session, op_id, within
        self.truncated = False

    async def rows(self, stmt: Any, params: dict[str, object]) -> Rows:
        stmt = stmt.limit(MAX_ROWS_PER_WORD)
        if self.within is not None:
            stmt = stmt.where(_T.c.subject_id.in_(list(self.within)))
        conn = await self.session.connection()
        result = await conn.execute(stmt, {"op_id": self.op_id, **params})
        out = [(r[0], r[1], r[2], r[3]) for r in result.all()]
        self.truncated = self.truncated or len(out) >= MAX_ROWS_PER_WORD
        return out

    async def starting_with(self, prefix: str) -> Rows:
        """Index rows of the tokens that start with `prefix` (one range scan)."""
        high = after_prefix(prefix)
        if high is None:
            rows = await self.rows(_FROM, {"low": prefix})
            return [r for r in rows if r[3].startswith(prefix)]
        return await self.rows(_BY_RANGE, {"low": prefix, "high": high})


async def _word_hits(index: _Reader, word: str, *, prefix: bool) -> dict[int, Hit]:
    """The best hit per subject for one folded query word."""
    best: dict[int, Hit] = {}

    def keep(subject_id: int, hit: Hit) -> None:
        if subject_id not in best or best[subject_id].score < hit.score:
            best[subject_id] = hit

    for sid, fld, source, token in await index.starting_with(word):
        if token == word:
            keep(sid, Hit(EXACT, "exact", fld, source))
        elif prefix:
            keep(sid, Hit(PREFIX - min(len(token) - len(word), 9) / 10, "prefix", fld, source))
    sk = skeleton(word)
    if len(sk) >= SKELETON_MIN and not any(ch.isdigit() for ch in word):
        for sid, fld, source, token in await index.rows(_BY_SKELETON, {"skel": sk}):
            keep(sid, Hit(SOUNDS + fuzz.ratio(word, token) / 100, "sounds", fld, source))
    if len(word) >= 4 and not any(ch.isdigit() for ch in word):
        for sid, fld, source, token in await index.starting_with(word[:2]):
            score = fuzz.ratio(word, token, score_cutoff=FUZZY_CUTOFF)
            if score:
                keep(sid, Hit(score * FUZZY_WEIGHT, "fuzzy", fld, source))
    return best


async def find(
    session: AsyncSession, op_id: int, query: str, *, prefix: bool = True
) -> list[Found]:
    """Subjects of operation `op_id` whose names or aliases match every word of `query`
    (or the query run together, as a plate), best first. No access check.

    A word too common to read in full (`Mohamed` among 100,000 subjects) is read again
    among the subjects that match the other words.
    """
    words = list(dict.fromkeys(fold(query)))[:MAX_QUERY_WORDS]
    if not words:
        return []
    per_word: list[dict[int, Hit]] = []
    common_words: list[int] = []
    for n, word in enumerate(words):
        index = _Reader(session, op_id)
        per_word.append(await _word_hits(index, word, prefix=prefix))
        if index.truncated:
            common_words.append(n)
    rare = [hits for n, hits in enumerate(per_word) if n not in common_words]
    if common_words and rare:
        candidates = set(rare[0])
        for word_hits in rare[1:]:
            candidates &= set(word_hits)
        for n in common_words:
            index = _Reader(session, op_id, sorted(candidates))
            per_word[n] = await _word_hits(index, words[n], prefix=prefix) if candidates else {}
    found: dict[int, Found] = {}
    common = set(per_word[0])
    for word_hits in per_word[1:]:
        common &= set(word_hits)
    for sid in common:
        hits = [h[sid] for h in per_word]
        found[sid] = Found(sid, sum(h.score for h in hits) / len(hits), hits)
    if len(words) > 1:
        whole = "".join(words)
        whole_hits = await _word_hits(_Reader(session, op_id), whole, prefix=False)
        for sid, hit in whole_hits.items():
            if hit.how == "exact" and (sid not in found or found[sid].score < hit.score):
                found[sid] = Found(sid, hit.score, [hit])
    return sorted(found.values(), key=lambda f: (-f.score, f.subject_id))


_BY_TOKENS = select(_T.c.subject_id, _T.c.part, _T.c.source, _T.c.token).where(
    _T.c.operation_id == bindparam("op_id"),
    _T.c.token.in_(bindparam("tokens", expanding=True)),
)


async def find_keys(session: AsyncSession, op_id: int, tokens: Sequence[str]) -> list[Found]:
    """Subjects of operation `op_id` holding one of the normalised keys `tokens` exactly
    (`phone:+34612345678`), through the (operation, token) index. No access check."""
    if not tokens:
        return []
    conn = await session.connection()
    result = await conn.execute(_BY_TOKENS, {"op_id": op_id, "tokens": list(tokens)})
    found: dict[int, Found] = {}
    for sid, part, source, _token in result.all():
        found.setdefault(sid, Found(sid, EXACT + 1, [Hit(EXACT + 1, "exact", part, source)]))
    return sorted(found.values(), key=lambda f: f.subject_id)


# ------------------------------------------------------------------------ duplicates

DUPLICATE_CUTOFF = 88.0


def _same_words(a: list[str], b: list[str]) -> bool:
    """Two folded names alike: same numbers, and letters that match exactly, by sound, or
    by spelling (token-sorted similarity)."""
    digits_a = sorted(w for w in a if any(c.isdigit() for c in w))
    digits_b = sorted(w for w in b if any(c.isdigit() for c in w))
    if digits_a != digits_b:
        return False
    if sorted(a) == sorted(b) or "".join(a) == "".join(b):
        return True
    letters_a = [w for w in a if not any(c.isdigit() for c in w)]
    letters_b = [w for w in b if not any(c.isdigit() for c in w)]
    if not letters_a or len(letters_a) != len(letters_b):
        return False
    if sorted(skeleton(w) for w in letters_a) == sorted(skeleton(w) for w in letters_b) and all(
        len(skeleton(w)) >= SKELETON_MIN for w in letters_a
    ):
        return True
    return fuzz.token_sort_ratio(" ".join(letters_a), " ".join(letters_b)) >= DUPLICATE_CUTOFF


def alike(names: Iterable[str], subject: Subject) -> str | None:
    """Which of `subject`'s names or aliases is alike one of `names` (None: none)."""
    mine = [("name", subject.name), *(("alias", a) for a in subject.aliases)]
    for given in names:
        words = fold(given)
        if not words:
            continue
        for kind, source in mine:
            if _same_words(words, fold(source)):
                return f"{kind} '{source}'"
    return None
