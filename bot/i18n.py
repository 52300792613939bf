"""Translation of user-facing sentences (issue 16 fills the catalogue).

The contract every module follows, so the catalogue can be extracted with `pybabel`:

- wrap each user-facing sentence in `_()` *before* formatting, with named placeholders:
  `_("Sighting {ref} recorded.").format(ref=ref)` — never `_(f"…")`;
- text built at import time (help summaries, usage lines, button labels in tables) is
  marked with `N_()` and translated where it is shown, with `_()` on the stored value;
- counts use `ngettext(singular, plural, n)`;
- command words, references (OP-X, S-1, R-2), TLP labels and user-typed text are never
  translated.

The language is the one of the member the reply is for, set per command by the dispatcher
(`use_language`); until a catalogue exists every language reads English.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFAULT_LANGUAGE = "en"

_language: ContextVar[str] = ContextVar("taskforce_language", default=DEFAULT_LANGUAGE)


def current_language() -> str:
    """The language replies are being written in (ISO 639-1)."""
    return _language.get()


@contextmanager
def use_language(code: str | None) -> Iterator[None]:
    """Write the sentences built inside the block in `code` (None: the default)."""
    token = _language.set(code or DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def _(message: str) -> str:
    """`message` in the current language (English until its translation exists)."""
    return message


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it now (import-time text)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a counted sentence, in the current language."""
    return singular if n == 1 else plural
