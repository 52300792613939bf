"""Button commands kept server-side, for platforms whose button payload is small.

A button carries a core command line. When a platform cannot carry it whole (Telegram's
64-byte callback data), the adapter asks the gateway to keep it under a token derived from
the command (`ButtonCommand`); the same command always maps to the same row, so
re-rendering a message writes nothing new.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.store.engine import Store
from bot.store.models import ButtonCommand


def token_for(command: str) -> str:
    """A 24-character URL-safe token derived from the command line."""
    digest = hashlib.sha256(command.encode("utf-8")).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode("ascii")


async def keep(store: Store, commands: list[str], now: datetime) -> dict[str, str]:
    """Store each command under its token (once); return command → token."""
    tokens = {token_for(c): c for c in commands}
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
            break
        except IntegrityError:
            # Another process stored the same command at the same moment: look again.
            if attempt:
                raise
    return {c: t for t, c in tokens.items()}


async def lookup(store: Store, token: str) -> str | None:
    """The command kept under `token` (None: unknown)."""
    async with store.transaction() as session:
        row = (
            await session.exec(select(ButtonCommand).where(ButtonCommand.token == token))
        ).first()
    return row.command if row else None
