"""Render the neutral `Message` as Slack Block Kit, escaping every piece of text exactly once.

Slack parses `&`, `<` and `>` as control characters (`<!channel>`, `<@U123>`, `<http://x|y>`);
every string that leaves here — mrkdwn and plain_text alike, since Slack decodes those three
entities everywhere — goes through `escape()` once, so user text arrives inert. The core's
own markup (backticks, `*bold*`) is left as mrkdwn formatting. Every mrkdwn object is
`verbatim` and no post asks for `link_names` or `parse`: a bare `@channel`, `@here` or URL
typed by a member stays text.

Block Kit limits respected: header 150 characters, section text 3000, 10 fields per section
(2000 characters each), button label 75 and value 2000, 25 elements per actions block,
50 blocks per message. Longer content is split over several blocks, then cut with a note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.base.messages import Button, Message
from bot.base.tlp import TLP
from bot.contracts import Reply, Visibility

MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_CONTEXT = 3000
MAX_BUTTON_LABEL = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_BLOCKS = 50
MAX_FALLBACK = 3000

ACTION_PREFIX = "tf_cmd"
# Every button carries this action id (numbered: ids must be unique within a block).
ACTION_ID = re.compile(rf"^{ACTION_PREFIX}(:\d+)?$")
MARK_EMOJI = ":rotating_light:"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_UNESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))

Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` for Slack (mrkdwn and plain_text)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def unescape(text: str) -> str:
    """Undo Slack's escaping of text it sends us (slash-command text, message events)."""
    for entity, ch in _UNESCAPES:
        text = text.replace(entity, ch)
    return text


def fit(raw: str, limit: int) -> str:
    """`raw` escaped, cut (with `…`) so the escaped form is at most `limit` characters.

    Cutting before escaping keeps an entity like `&amp;` from being split in half.
    """
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in raw:
        piece = _ESCAPES.get(ch, ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack turns no bare URL, `@channel`, `@here`, `#channel` or `@name` in the
    # text into a link or a mention (the escaping above takes care of `<…>` forms).
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def headline(message: Message) -> str:
    """The title with its mark in front (`MATCH — …`), unescaped."""
    if message.mark and message.title:
        return f"{message.mark} — {message.title}"
    return message.mark or message.title


def _header(message: Message) -> list[Block]:
    head = headline(message)
    if not head:
        return []
    blocks: list[Block] = []
    if message.mark:
        # An emoji in the header is what makes a MATCH stand out in a busy channel.
        room = MAX_HEADER - len(MARK_EMOJI) - 1
        blocks.append({"type": "header", "text": _plain(f"{MARK_EMOJI} {fit(head, room)}")})
    else:
        blocks.append({"type": "header", "text": _plain(fit(head, MAX_HEADER))})
    return blocks


def _fields(message: Message) -> list[Block]:
    blocks: list[Block] = []
    items = [
        _mrkdwn(f"*{fit(label, 200)}*\n{fit(value, MAX_FIELD - 210)}")
        for label, value in message.fields
    ]
    for start in range(0, len(items), MAX_FIELDS):
        blocks.append({"type": "section", "fields": items[start : start + MAX_FIELDS]})
    return blocks


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    """Escaped lines joined into texts of at most `limit` characters (long lines split)."""
    out: list[str] = []
    current = ""
    for line in lines:
        escaped = escape(line) or " "
        while len(escaped) > limit:
            cut = limit
            amp = escaped.rfind("&", cut - 5, cut)  # do not split an entity
            if amp != -1 and ";" not in escaped[amp:cut]:
                cut = amp
            if current:
                out.append(current)
                current = ""
            out.append(escaped[:cut])
            escaped = escaped[cut:]
        if current and len(current) + 1 + len(escaped) > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{escaped}" if current else escaped
    if current:
        out.append(current)
    return out


def _lines(message: Message) -> list[Block]:
    return [
        {"type": "section", "text": _mrkdwn(text)} for text in _chunks(message.lines, MAX_SECTION)
    ]


def context_text(message: Message) -> str:
    """The context line: TLP label first (bold), then refs; escaped."""
    parts: list[str] = []
    if message.tlp:
        try:
            label = TLP(message.tlp).label
        except ValueError:
            label = f"TLP:{message.tlp.upper()}"
        parts.append(f"*{escape(label)}*")
    if message.context:
        parts.append(fit(message.context, MAX_CONTEXT - 40))
    return "  ·  ".join(parts)


def _context(message: Message) -> list[Block]:
    text = context_text(message)
    return [{"type": "context", "elements": [_mrkdwn(text)]}] if text else []


def button_element(button: Button, index: int) -> dict[str, Any] | None:
    """One Block Kit button whose value is the command it runs (None if it cannot fit)."""
    if len(button.command) > MAX_BUTTON_VALUE:
        return None  # a cut command would run something else: leave the button out
    return {
        "type": "button",
        "text": _plain(fit(button.label, MAX_BUTTON_LABEL)),
        "action_id": f"{ACTION_PREFIX}:{index}",
        "value": button.command,
    }


def _actions(message: Message) -> list[Block]:
    elements = [
        el for i, b in enumerate(message.buttons) if (el := button_element(b, i)) is not None
    ]
    return [
        {"type": "actions", "elements": elements[start : start + MAX_ACTIONS]}
        for start in range(0, len(elements), MAX_ACTIONS)
    ]


def _cut_note(hidden: int) -> Block:
    return {
        "type": "context",
        "elements": [_mrkdwn(f"… {hidden} more block(s) not shown: the message is too long.")],
    }


def render_blocks(message: Message, budget: int = MAX_BLOCKS) -> list[Block]:
    """The message as at most `budget` Block Kit blocks.

    The header, context line and buttons always stay; fields and lines are cut if needed.
    """
    head = _header(message)
    tail = _context(message) + _actions(message)
    body = _fields(message) + _lines(message)
    room = budget - len(head) - len(tail)
    if len(body) > room:
        keep = max(room - 1, 0)
        body = [*body[:keep], _cut_note(len(body) - keep)]
    return [*head, *body, *tail][:budget]


def fallback_text(message: Message) -> str:
    """The plain `text` Slack shows in notifications and where blocks cannot be shown."""
    head = headline(message)
    first = head or (message.lines[0] if message.lines else "") or "Taskforce"
    if message.mark:
        first = f"[{message.mark}] {message.title}".strip()
    return fit(first, MAX_FALLBACK)


def render(messages: Sequence[Message]) -> tuple[str, list[Block]]:
    """One or more messages as (fallback text, blocks), separated by dividers, ≤ 50 blocks."""
    if not messages:
        return " ", []
    blocks: list[Block] = []
    remaining = MAX_BLOCKS
    for i, message in enumerate(messages):
        if i:
            if remaining < 3:
                blocks.append(_cut_note(len(messages) - i))
                break
            blocks.append({"type": "divider"})
            remaining -= 1
        part = render_blocks(message, budget=remaining - (1 if i < len(messages) - 1 else 0))
        blocks.extend(part)
        remaining -= len(part)
    return fallback_text(messages[0]), blocks[:MAX_BLOCKS]


def is_public(reply: Reply) -> bool:
    """Whether the reply may be shown to the whole channel (never when confidential)."""
    return reply.visibility is Visibility.CHANNEL and not reply.confidential


def response_payload(reply: Reply) -> dict[str, Any]:
    """The body of a slash-command answer (ack or `response_url`)."""
    text, blocks = render([reply.message, *reply.extra])
    return {
        "response_type": "in_channel" if is_public(reply) else "ephemeral",
        "text": text,
        "blocks": blocks,
        # Answers take no `link_names` or `parse` (they default to off there).
        "unfurl_links": False,
        "unfurl_media": False,
    }


# Posting options that keep user text inert: no name linking, no parsing of the text, no
# previews of links it may contain.
INERT: dict[str, Any] = {
    "link_names": False,
    "parse": "none",
    "unfurl_links": False,
    "unfurl_media": False,
}
