"""Right-to-left replies (Arabic) that read correctly on Telegram and Slack.

An Arabic sentence carries left-to-right inserts that are never translated: references
(`OP-NIGHTJAR/S-1`), TLP labels (`TLP:AMBER`), command words (`me lang es`), times, and
what members typed. Left to the Unicode bidirectional algorithm alone, a line that starts
with such an insert is laid out left to right, and neutral characters between inserts
(`-`, `/`, `:`, spaces, parentheses) drift to the wrong side. So, in a right-to-left reply:

- every line starts with RIGHT-TO-LEFT MARK (U+200F), which makes the paragraph right to
  left on clients that take the direction from the first strong character (Telegram,
  Slack's `dir="auto"` text);
- every left-to-right run is wrapped in LEFT-TO-RIGHT ISOLATE … POP DIRECTIONAL ISOLATE
  (U+2066 … U+2069), so it is laid out as one unit and nothing around it moves.

The marks are invisible and added by the core once, after the reply is written (dispatch),
so both renderers and the console get the same text. Inbound text drops these marks
(`bot.contracts.normalise_text`): a reference copied out of an Arabic reply works when
typed back.
"""

from __future__ import annotations

import re
import unicodedata

from bot.base.messages import Button, Message

RLM = "\u200f"
LRI = "\u2066"
PDI = "\u2069"

_BARE_LINK = re.compile(r"https?://\S+")
_LTR = frozenset({"L", "EN"})
_RTL = frozenset({"R", "AL", "AN"})


def isolate_ltr(text: str) -> str:
    """`text` with each left-to-right run (from its first to its last strong left-to-right
    character or digit, with no right-to-left letter inside) wrapped in LRI … PDI.

    A run takes the dashes of a flag it starts with (`--force`, never `--⁦force⁩`), and
    never splits a bracketed group: a run that would hold an opening bracket whose closer
    lies in the Arabic text ends before it (`⁦17⁩ (⁦10⁩ منها)`, never `⁦17 (10⁩ منها)`).
    Outside the runs, the Arabic text takes Arabic punctuation (`،` `؛` `؟`)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if unicodedata.bidirectional(text[i]) not in _LTR and not _FLAG_START.match(text, i):
            out.append(_ARABIC_PUNCTUATION.get(text[i], text[i]))
            i += 1
            continue
        end = last = i
        while end < n and text[end] != "\n" and unicodedata.bidirectional(text[end]) not in _RTL:
            if unicodedata.bidirectional(text[end]) in _LTR:
                last = end
            end += 1
        last = _close_brackets(text, i, last)
        last = _before_open_bracket(text, i, last)
        out.append(f"{LRI}{text[i : last + 1]}{PDI}")
        i = last + 1
    return "".join(out)


#: A flag's dashes before its Latin name (`--force`, `-v`).
_FLAG_START = re.compile(r"-+[A-Za-z]")
#: Latin punctuation in Arabic text, and its Arabic form.
_ARABIC_PUNCTUATION = {",": "،", ";": "؛", "?": "؟"}


def _before_open_bracket(text: str, start: int, last: int) -> int:
    """`last`, or the end of the run before its first bracket left unpaired (an opener
    whose closer lies after the run, or a closer whose opener lies before it): the
    bracketed group is then laid out as Arabic text."""
    depth: list[int] = []
    stray: int | None = None  # a closing bracket whose opener lies before the run
    for k in range(start, last + 1):
        ch = text[k]
        if ch in _PAIRS.values():
            depth.append(k)
        elif ch in _PAIRS and depth and text[depth[-1]] == _PAIRS[ch]:
            depth.pop()
        elif ch in _PAIRS and stray is None:
            stray = k
    cuts = [k for k in (depth[0] if depth else None, stray) if k is not None]
    if not cuts:
        return last
    cut = min(cuts) - 1
    while cut > start and text[cut] == " ":
        cut -= 1
    return max(cut, start)


_PAIRS = {")": "(", "]": "[", ">": "<", "}": "{"}


def _close_brackets(text: str, start: int, last: int) -> int:
    """Extend a run ending at `last` over the closing brackets that pair with openers inside
    it (`<code>`, `[OP]`): a bracket left outside would be mirrored to the wrong side."""
    depth: dict[str, int] = {}
    for ch in text[start : last + 1]:
        if ch in _PAIRS.values():
            depth[ch] = depth.get(ch, 0) + 1
        elif ch in _PAIRS and depth.get(_PAIRS[ch], 0):
            depth[_PAIRS[ch]] -= 1
    while last + 1 < len(text) and depth.get(_PAIRS.get(text[last + 1], ""), 0):
        depth[_PAIRS[text[last + 1]]] -= 1
        last += 1
    return last


def rtl_line(text: str) -> str:
    """One line (or several) laid out right to left, left-to-right inserts isolated. A line
    that is only a link is left bare: marks inside it could end up in the address a client
    opens (a one-time sign-in link would then fail), and alone on its line it needs none."""
    if not text:
        return text
    return "\n".join(
        RLM + isolate_ltr(part) if part and not _BARE_LINK.fullmatch(part) else part
        for part in text.split("\n")
    )


def rtl_message(message: Message) -> Message:
    """`message` with right-to-left layout marks on its title, fields, lines, context and
    button labels (button commands are left alone: they are what the button runs)."""
    return Message(
        title=rtl_line(message.title),
        fields=[(rtl_line(k), rtl_line(v)) for k, v in message.fields],
        lines=[rtl_line(line) for line in message.lines],
        context=rtl_line(message.context),
        buttons=[Button(rtl_line(b.label), b.command) for b in message.buttons],
        mark=message.mark,
        tlp=message.tlp,
        attachments=list(message.attachments),
    )
