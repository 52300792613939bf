"""Shell-like tokenizer: quotes group words; curly quotes from phone keyboards count too.

A quote only opens at the start of a word, so `O'Brien` stays one word as typed.
"""

from __future__ import annotations

from bot.base.i18n import _
from bot.commands.errors import UsageError

_PAIRS = {'"': '"', "'": "'", "“": "”", "”": "”", "„": "“", "‘": "’", "’": "’", "«": "»"}
_CLOSERS = {
    '"': {'"'},
    "'": {"'"},
    "“": {"”", "“"},
    "”": {"”"},
    "„": {"“", "”"},
    "‘": {"’", "‘"},
    "’": {"’"},
    "«": {"»"},
}


def tokenize(line: str) -> list[str]:
    """Split a command line into words; raise `UsageError` on an unclosed quote."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        word: list[str] = []
        quoted = False
        while i < n and not line[i].isspace():
            ch = line[i]
            if ch in _PAIRS and not word:
                closers = _CLOSERS[ch]
                j = i + 1
                while j < n and line[j] not in closers:
                    j += 1
                if j >= n:
                    raise UsageError(
                        _("A quote is not closed; put a matching quote after the text.")
                    )
                word.append(line[i + 1 : j])
                quoted = True
                i = j + 1
                continue
            if ch == "\\" and i + 1 < n:
                word.append(line[i + 1])
                i += 2
                continue
            word.append(ch)
            i += 1
        if word or quoted:
            tokens.append("".join(word))
    return tokens
