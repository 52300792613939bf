"""Each language's punctuation around what the renderers add.

The renderers write a field as `Label: value`. French puts a (narrow no-break) space before
the colon — `Statut : en préparation` — so a French reply's labels end with U+202F, added
once by the core after the reply is written, as the Arabic marks are (`bot.base.bidi`). The
catalogue's own sentences carry their punctuation themselves (docs/glossary.md).
"""

from __future__ import annotations

from dataclasses import replace

from bot.base.messages import Message

#: NARROW NO-BREAK SPACE: French typography's space before `:` `;` `!` `?`.
NNBSP = "\u202f"


def french_message(message: Message) -> Message:
    """`message` with its field labels ready for a French colon (`Statut : …`)."""
    return replace(
        message,
        fields=[(f"{k.rstrip()}{NNBSP}" if k else k, v) for k, v in message.fields],
    )
