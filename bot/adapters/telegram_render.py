"""Render a neutral `Message` as Telegram HTML, and split it at Telegram's size limit.

All user text is escaped here, once (`html.escape`): nothing a member types can become
markup. Tags never span a line break in what `render_html` produces, so `split_html` can cut
between lines without leaving a tag open; a single over-long line is cut between characters,
closing and reopening its tags, never inside a tag or an entity.
"""

from __future__ import annotations

import html
import re

from bot.base.messages import Button, Message

MESSAGE_LIMIT = 4096  # characters of text per message
BUTTONS_PER_ROW = 3
MARK_ICON = "🔴"

_ATOM = re.compile(r"<[^>]*>|&#?\w+;|[^<&]", re.S)
_TAG = re.compile(r"</?([a-zA-Z-]+)[^>]*>")


def escape(text: str) -> str:
    """User text as Telegram HTML text (`<`, `>` and `&` escaped)."""
    return html.escape(text, quote=False)


def _wrap(tag: str, text: str) -> list[str]:
    """`text` inside `<tag>`, one balanced element per line (tags never span lines)."""
    return [f"<{tag}>{escape(part)}</{tag}>" if part else "" for part in text.split("\n")]


def render_html(message: Message) -> str:
    """The message as Telegram HTML: mark, bold title, bold field labels, lines, italic context."""
    out: list[str] = []
    if message.mark:
        out.extend(f"{MARK_ICON} {line}" for line in _wrap("b", message.mark))
    if message.title:
        out.extend(_wrap("b", message.title))
    for label, value in message.fields:
        value_lines = value.split("\n")
        out.append(f"<b>{escape(label)}:</b> {escape(value_lines[0])}")
        out.extend(escape(v) for v in value_lines[1:])
    out.extend(escape(line) for line in message.lines)
    if message.context:
        out.extend(_wrap("i", message.context))
    text = "\n".join(out).strip("\n")
    return text or escape(message.plain_text()) or "(empty)"


def button_rows(buttons: list[Button]) -> list[list[Button]]:
    """Buttons laid out in rows of at most `BUTTONS_PER_ROW`."""
    return [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut `text` into parts of at most `limit` characters, on line boundaries when possible.

    Expects HTML whose tags never span a line break (what `render_html` produces).
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        pieces = [line] if len(line) <= limit else _split_line(line, limit)
        for piece in pieces:
            extra = len(piece) + (1 if current else 0)
            if current and size + extra > limit:
                parts.append("\n".join(current))
                current, size = [], 0
                extra = len(piece)
            current.append(piece)
            size += extra
    if current:
        parts.append("\n".join(current))
    return [p for p in parts if p.strip()]


def _split_line(line: str, limit: int) -> list[str]:
    """Cut one over-long line between atoms, closing open tags and reopening them after."""
    parts: list[str] = []
    opened: list[tuple[str, str]] = []  # (name, opening tag) of the tags open right now
    current = ""
    for atom in _ATOM.findall(line):
        closing = "".join(f"</{name}>" for name, _ in reversed(opened))
        if len(current) + len(atom) + len(closing) > limit and current:
            parts.append(current + closing)
            current = "".join(tag for _, tag in opened)
        current += atom
        tag = _TAG.fullmatch(atom)
        if tag:
            name = tag.group(1).lower()
            if atom.startswith("</"):
                if opened and opened[-1][0] == name:
                    opened.pop()
            else:
                opened.append((name, atom))
    if current:
        parts.append(current)
    return parts
