"""Telegram callback data for buttons: a command line that always fits in 64 bytes.

A button carries a core command line (`check R-1 3`). When `c:<command>` fits in Telegram's
64-byte callback data it travels inline; otherwise the gateway keeps the command
server-side (`bot/store/buttons.py`) under a token derived from it and the button carries
`t:<token>` (26 bytes).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.gateway import Gateway

CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback_data
INLINE = "c:"
STORED = "t:"


def inline_data(command: str) -> str | None:
    """`c:<command>` if it fits in the callback data, else None."""
    data = INLINE + command
    return data if len(data.encode("utf-8")) <= CALLBACK_LIMIT else None


async def encode_all(gateway: Gateway, commands: Iterable[str]) -> dict[str, str]:
    """Callback data for each command; commands too long to go inline are kept first."""
    out: dict[str, str] = {}
    long: list[str] = []
    for command in commands:
        data = inline_data(command)
        if data is None:
            long.append(command)
        else:
            out[command] = data
    if long:
        tokens = await gateway.keep_button_commands(long)
        out.update({c: STORED + t for c, t in tokens.items()})
    return out


async def decode(gateway: Gateway, data: str) -> str | None:
    """The command line behind a button's callback data (None: unknown or expired)."""
    if data.startswith(INLINE):
        return data[len(INLINE) :] or None
    if data.startswith(STORED):
        return await gateway.button_command(data[len(STORED) :])
    return None
