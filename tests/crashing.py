"""Helpers for the crash tests (tests/test_inbox_crash.py): read a served process's database
from outside, make the fake Telegram API fail every call for a while, count what each chat got.

Nothing here stops a process gracefully: the tests kill -9 and look at what is left.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from tests.fakes.telegram_api import FakeBotAPI, SentMessage


class Database:
    """The served processes' database, read (and written) directly: SQLite file or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        """A SQLite file (its URL for `taskforce serve` is `.serve_url`)."""
        return cls(f"sqlite:///{path}")

    @property
    def serve_url(self) -> str:
        """The TASKFORCE_DATABASE_URL of the served processes."""
        return self.url

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[1]
            with sqlite3.connect(path, timeout=30) as conn:
                return conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall()
        plain = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run `sql` (placeholders `%s`) in a thread; every row."""
        return await asyncio.to_thread(self._rows, sql, params)

    async def count(self, sql: str, params: Sequence[object] = ()) -> int:
        """The first column of the first row (a `count(*)`)."""
        found = await self.rows(sql, params)
        return int(found[0][0]) if found else 0

    async def inbox_depth(self) -> int:
        """Rows in the inbox (acknowledged, not finished)."""
        return await self.count("SELECT count(*) FROM inboxitem")

    async def sightings(self) -> Counter[str]:
        """How many sightings each location has."""
        return Counter(str(loc) for (loc,) in await self.rows("SELECT location FROM sighting"))

    async def processed(self, platform: str, prefix: str = "") -> Counter[str]:
        """How many processed-event rows each key (of `platform`, starting with `prefix`) has."""
        found = await self.rows(
            "SELECT event_key FROM processedevent WHERE platform = %s", (platform,)
        )
        return Counter(str(k) for (k,) in found if str(k).startswith(prefix))

    async def outbox_open(self) -> int:
        """Outbox rows not sent yet (pending or sending)."""
        return await self.count(
            "SELECT count(*) FROM outboxmessage WHERE status IN ('pending', 'sending')"
        )

    async def outbox_statuses(self) -> dict[str, int]:
        """Outbox rows by status."""
        found = await self.rows("SELECT status, count(*) FROM outboxmessage GROUP BY status")
        return {str(s): int(n) for s, n in found}


# ------------------------------------------------------------------- the fake Bot API

ALWAYS = 100_000


def fail_every(fake: FakeBotAPI, method: str, error_code: int = 500) -> None:
    """Every call of `method` fails with `error_code` until `heal` (Telegram down)."""
    for _ in range(ALWAYS):
        fake.fail_next(method, error_code)


def heal(fake: FakeBotAPI) -> None:
    """Undo `fail_every`: calls succeed again."""
    fake._failures.clear()


def failed_calls(fake: FakeBotAPI, method: str) -> int:
    """Calls of `method` the fake answered with an error."""
    return sum(1 for c in fake.calls(method) if not c.ok)


def mentions(texts: Iterable[str], places: Iterable[str]) -> Counter[str]:
    """For each place ("Pier 7"), how many of `texts` name it (Pier 7, not Pier 70)."""
    patterns = {p: re.compile(re.escape(p) + r"(?!\d)") for p in places}
    counts: Counter[str] = Counter({p: 0 for p in patterns})
    for text in texts:
        for place, pattern in patterns.items():
            if pattern.search(text):
                counts[place] += 1
    return counts


def fanout_posts(fake: FakeBotAPI, chat_id: int) -> list[str]:
    """What the outbox posted to a chat (posts, not replies to a command), as users see it."""
    return [m.plain for m in fake.sent(chat_id) if m.reply_to is None]


def replies(fake: FakeBotAPI, chat_id: int) -> list[SentMessage]:
    """Replies to commands in a chat (sent as a reply to the command's message)."""
    return [m for m in fake.sent(chat_id) if m.reply_to is not None]
