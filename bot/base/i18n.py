"""Translation of user-facing sentences: one gettext catalogue (Babel), five languages.

The contract every module follows, so the catalogue can be extracted with `pybabel`:

- wrap each user-facing sentence in `_()` *before* formatting, with named placeholders:
  `_("There is no subject {ref} in {code}.").format(ref=ref, code=code)` — never `_(f"…")`,
  and never `_()` inside an f-string (the extractor cannot see it there);
- text built at import time (help summaries, usage lines, button labels in tables) is
  marked with `N_()` and translated where it is shown, with `_()` on the stored value;
- counts use `ngettext(singular, plural, n)`;
- command words, references (OP-X, S-1, R-2), TLP labels and user-typed text are never
  translated.

The language is the one of the member the reply is for, set per command by the dispatcher
(`use_language`). The catalogue lives in `bot/locale/<lang>/LC_MESSAGES/taskforce.po`
(compiled `.mo` beside it, committed); each language's translations are loaded once. A
sentence without a translation reads in English.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from gettext import NullTranslations
from pathlib import Path

from babel.support import Translations

DEFAULT_LANGUAGE = "en"
DOMAIN = "taskforce"
LOCALE_DIR = Path(__file__).parent.parent / "locale"

# The languages replies can be written in (ISO 639-1), each with its own name for itself.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "pt": "Português",
    "fr": "Français",
    "ar": "العربية",
}
# Posts to channels and groups (the outbox) are written in this language: a channel is
# shared by members of several agencies and languages. Replies to a command are in the
# actor's language, even when the channel sees them.
CHANNEL_LANGUAGE = DEFAULT_LANGUAGE
# Written right to left: replies get the directional marks of `bot.base.bidi`.
RTL_LANGUAGES = frozenset({"ar"})

_language: ContextVar[str] = ContextVar("taskforce_language", default=DEFAULT_LANGUAGE)


def current_language() -> str:
    """The language replies are being written in (ISO 639-1)."""
    return _language.get()


def supported(code: str | None) -> str | None:
    """The supported language a code or platform locale names, or None.

    `fr`, `fr-CA`, `pt_BR`, `es-419`, `AR` all name one of `LANGUAGES`; anything else
    (and None, or an empty string) names none.
    """
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def pick_language(*candidates: str | None) -> str:
    """The first candidate that is a supported language, else English."""
    for code in candidates:
        found = supported(code)
        if found:
            return found
    return DEFAULT_LANGUAGE


def is_rtl(code: str | None = None) -> bool:
    """Whether `code` (default: the current language) is written right to left."""
    return (code or current_language()) in RTL_LANGUAGES


@contextmanager
def use_language(code: str | None) -> Iterator[None]:
    """Write the sentences built inside the block in `code` (None: the default)."""
    token = _language.set(supported(code) or DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def switch_language(code: str | None) -> None:
    """Change the language inside a `use_language` block (which restores the outer one).

    The dispatcher starts a command in the platform's locale and switches once it knows
    the member (their `me lang`, or their agency's language).
    """
    _language.set(supported(code) or DEFAULT_LANGUAGE)


@functools.cache
def translations(code: str) -> NullTranslations:
    """The compiled catalogue of `code`, loaded once (English: no catalogue)."""
    if code == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [code], DOMAIN)


def _(message: str) -> str:
    """`message` in the current language (English when its translation is missing)."""
    code = _language.get()
    if code == DEFAULT_LANGUAGE or not message:
        return message
    return translations(code).gettext(message)


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it now (import-time text)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a counted sentence, in the current language."""
    code = _language.get()
    if code == DEFAULT_LANGUAGE:
        return singular if n == 1 else plural
    return translations(code).ngettext(singular, plural, n)
