"""Telegram callback data for buttons: a command line that always fits in 64 bytes.

A button carries a core command line (`check R-1 3`). When `c:<command>` fits in Telegram's
64-byte callback data it travels inline; otherwise the command is stored server-side
(`ButtonCommand`) under a token derived from it and the button carries `t:<token>` (26
bytes). The token is a hash of the command, so the same command always maps to the same
row and re-rendering a message writes nothing new.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.models import ButtonCommand
from bot.store import Store

CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback_data
INLINE = "c:"
STORED = "t:"


def token_for(command: str) -> str:
    """A 24-character URL-safe token derived from the command line."""
    digest = hashlib.sha256(command.encode("utf-8")).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def inline_data(command: str) -> str | None:
    """`c:<command>` if it fits in the callback data, else None."""
    data = INLINE + command
    return data if len(data.encode("utf-8")) <= CALLBACK_LIMIT else None


async def encode_all(store: Store, commands: Iterable[str], now: datetime) -> dict[str, str]:
    """Callback data for each command; commands too long to go inline are stored first."""
    out: dict[str, str] = {}
    to_store: dict[str, str] = {}
    for command in commands:
        data = inline_data(command)
        if data is None:
            token = token_for(command)
            to_store[token] = command
            data = STORED + token
        out[command] = data
    if to_store:
        await _store_tokens(store, to_store, now)
    return out


async def _store_tokens(store: Store, tokens: dict[str, str], now: datetime) -> None:
    for attempt in range(2):
        try:
            async with store.transaction() as session:
                known = set(
                    (
                        await session.exec(
                            select(ButtonCommand.token).where(
                                col(ButtonCommand.token).in_(list(tokens))
                            )
                        )
                    ).all()
                )
                for token, command in tokens.items():
                    if token not in known:
                        session.add(ButtonCommand(token=token, command=command, created_at=now))
            return
        except IntegrityError:
            # Another process stored the same command at the same moment: look again.
            if attempt:
                raise


async def decode(store: Store, data: str) -> str | None:
    """The command line behind a button's callback data (None: unknown or expired)."""
    if data.startswith(INLINE):
        return data[len(INLINE) :] or None
    if data.startswith(STORED):
        token = data[len(STORED) :]
        async with store.transaction() as session:
            row = (
                await session.exec(select(ButtonCommand).where(ButtonCommand.token == token))
            ).first()
        return row.command if row else None
    return None
