"""The inbox: inbound events acknowledged to their platform and not finished yet.

An adapter commits the raw event here (`accept`) before it answers the platform (Telegram's
200, Slack's ack): from then on the event is Taskforce's to finish, whatever happens to the
process. When the command has run and its reply has been handed over, the adapter removes
the row (`done`).

Each row is leased to the process that accepted it, and that process renews its leases
while it is alive. A row whose lease ran out belongs to a process that stopped (kill -9,
OOM, a host gone): any process, the restarted one or a surviving replica, claims it and
hands it to the adapter's recovery handler for its kind, which runs the command again (the
processed-event key makes that at most once: a command that had committed answers with its
stored reply) and delivers the reply. A row that fails `MAX_ATTEMPTS` times is left for an
operator (`taskforce inbox`), never retried in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.base import metrics
from bot.store import tables
from bot.store.engine import Store
from bot.store.fastsql import Prepared
from bot.store.models import InboxItem

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
MAX_ATTEMPTS = 5

_INBOX = tables.INBOX_ITEM
# The two statements every durably acknowledged event runs, built once (`bot.store.fastsql`).
_ACCEPT = Prepared(
    insert(_INBOX).values(
        {
            name: bindparam(name)
            for name in (
                "platform",
                "event_key",
                "kind",
                "payload",
                "received_at",
                "claimed_by",
                "claimed_until",
                "attempts",
            )
        }
    )
)
_DONE = Prepared(
    delete(_INBOX).where(
        _INBOX.c.platform == bindparam("platform"), _INBOX.c.event_key == bindparam("event_key")
    )
)


@dataclass(frozen=True)
class InboxEntry:
    """One acknowledged event, as its adapter stored it."""

    id: int
    platform: str
    event_key: str
    kind: str
    payload: dict[str, Any]
    received_at: datetime
    attempts: int


Recover = Callable[[InboxEntry], Awaitable[None]]


class Inbox:
    """Accepts acknowledged events durably and runs again those a stopped process left."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        lease_seconds: float = 15.0,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = worker_id or f"i-{uuid.uuid4().hex[:12]}"
        self._handlers: dict[str, Recover] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Recover) -> None:
        """Say which adapter finishes events of `kind` left by a stopped process."""
        self._handlers[kind] = handler

    # ------------------------------------------------------------------ the ack path

    async def accept(
        self, platform: str, event_key: str, kind: str, payload: dict[str, Any]
    ) -> bool:
        """Commit one event before its acknowledgement; False if it is already in the inbox
        (a redelivery of an event still being finished: answer it, do not run it again)."""
        now = self.clock()
        try:
            async with self.store.transaction() as session:
                await _ACCEPT.execute(
                    session,
                    {
                        "platform": platform,
                        "event_key": event_key,
                        "kind": kind,
                        "payload": payload,
                        "received_at": now,
                        "claimed_by": self.worker_id,
                        "claimed_until": now + self.lease,
                        "attempts": 0,
                    },
                )
        except IntegrityError:
            return False
        return True

    async def done(self, platform: str, event_key: str) -> None:
        """The event's command has run and its reply has been handed over: forget it."""
        async with self.store.transaction() as session:
            await _DONE.execute(session, {"platform": platform, "event_key": event_key})

    async def answer(
        self, platform: str, event_key: str, deliver: Callable[[], Awaitable[bool]]
    ) -> bool | None:
        """Deliver the answer of an event this process holds, and forget the event once it
        is delivered; None (nothing sent) when another process has taken the event over
        (its lease ran out here): that process answers it.

        On PostgreSQL the row stays locked from the claim of the sending to its delete, in
        one transaction: no other process can take the event over while its answer is on
        its way, and a crash mid-send rolls the claim back, so only the post in flight can
        be repeated by the recovery. SQLite's one process checks, sends, then forgets.
        Returns whether `deliver` says the answer was taken (False: the event is released
        for the recovery to answer later).
        """
        mine = (
            (_INBOX.c.platform == platform)
            & (_INBOX.c.event_key == event_key)
            & (_INBOX.c.claimed_by == self.worker_id)
        )
        if self.store.is_sqlite:
            async with self.store.transaction() as session:
                conn = await session.connection()
                held = (await conn.execute(select(_INBOX.c.id).where(mine))).first()
            if held is None:
                return None
            delivered = await deliver()
        else:
            async with self.store.transaction() as session:
                conn = await session.connection()
                held = (
                    await conn.execute(select(_INBOX.c.id).where(mine).with_for_update())
                ).first()
                if held is None:
                    return None
                delivered = await deliver()
                if delivered:
                    await _DONE.execute(session, {"platform": platform, "event_key": event_key})
            if delivered:
                return True
        if delivered:
            await self.done(platform, event_key)
        else:
            await self.release(platform, event_key)
        return delivered

    async def holds(self, platform: str, event_key: str) -> bool:
        """Whether the event is in the inbox (acknowledged, to be finished)."""
        async with self.store.transaction() as session:
            conn = await session.connection()
            found = await conn.execute(
                select(_INBOX.c.id).where(
                    _INBOX.c.platform == platform, _INBOX.c.event_key == event_key
                )
            )
            return found.first() is not None

    async def release(self, platform: str, event_key: str) -> None:
        """Finishing the event failed here: give up the lease so recovery tries it again."""
        async with self.store.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                update(_INBOX)
                .where(_INBOX.c.platform == platform, _INBOX.c.event_key == event_key)
                .values(claimed_by=None, claimed_until=None)
            )
        self.poke()

    # ------------------------------------------------------------------ recovery

    def start(self, interval: float | None = None) -> None:
        """Renew this process's leases and recover stopped processes' events, in the
        background, every `interval` seconds (a third of the lease by default)."""
        if self._task is None:
            period = interval if interval is not None else self.lease.total_seconds() / 3
            self._task = asyncio.create_task(self._loop(period), name="inbox-recovery")

    async def stop(self) -> None:
        """Stop the background loop (a recovery in progress is cancelled: its row stays)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def poke(self) -> None:
        """Look for events to recover now (tests, after start-up)."""
        self._wake.set()

    async def _loop(self, period: float) -> None:
        while True:
            try:
                await self.renew()
                await self.recover_once()
            except Exception:  # keep going: the next pass tries again
                log.exception("inbox.pass_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), period)
            self._wake.clear()

    async def renew(self) -> None:
        """Extend the leases of the events this process is still finishing."""
        now = self.clock()
        async with self.store.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                update(_INBOX)
                .where(_INBOX.c.claimed_by == self.worker_id)
                .values(claimed_until=now + self.lease)
            )

    async def claim(self, limit: int = 20) -> list[InboxEntry]:
        """Take the lease on events whose process stopped (their lease ran out).

        On SQLite every row some other process claimed is due at once: one process serves a
        SQLite file, so those were left by its previous life and nobody renews them.
        """
        now = self.clock()
        table = _INBOX
        stopped = table.c.claimed_until.is_(None) | (table.c.claimed_until < now)
        if self.store.is_sqlite:
            # Rows of another process (its previous life) are due at once; rows given up
            # for a retry (no owner) wait for their backoff like everywhere.
            stopped = stopped | (table.c.claimed_by != self.worker_id)
        due = (table.c.attempts < MAX_ATTEMPTS) & stopped
        async with self.store.transaction() as session:
            conn = await session.connection()
            rows = (
                await conn.execute(
                    select(table)
                    .where(due)
                    .order_by(table.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await conn.execute(
                    update(table)
                    .where(table.c.id.in_([r.id for r in rows]))
                    .values(
                        claimed_by=self.worker_id,
                        claimed_until=now + self.lease,
                        attempts=table.c.attempts + 1,
                    )
                )
        return [
            InboxEntry(
                id=r.id,
                platform=r.platform,
                event_key=r.event_key,
                kind=r.kind,
                payload=dict(r.payload),
                received_at=r.received_at,
                attempts=r.attempts + 1,
            )
            for r in rows
        ]

    async def recover_once(self) -> int:
        """Finish every event a stopped process left (in the order received); return how many
        were handed to their adapters."""
        handled = 0
        while True:
            entries = await self.claim()
            if not entries:
                return handled
            for entry in entries:
                # A recovery can take a while: this process's own leases are kept meanwhile,
                # or another process would take over events still being answered here.
                await self.renew()
                handler = self._handlers.get(entry.kind)
                if handler is None:
                    log.warning("inbox.no_handler", kind=entry.kind, inbox_id=entry.id)
                    continue
                try:
                    log.info(
                        "inbox.recovering",
                        inbox_id=entry.id,
                        platform=entry.platform,
                        kind=entry.kind,
                        attempt=entry.attempts,
                    )
                    await handler(entry)
                    metrics.INBOX_RECOVERED.labels(entry.platform).inc()
                    handled += 1
                except Exception as exc:
                    # No command text in the log: only the kind of failure.
                    log.warning(
                        "inbox.recovery_failed",
                        inbox_id=entry.id,
                        kind=entry.kind,
                        attempt=entry.attempts,
                        error=type(exc).__name__,
                    )
                    await self._retry_later(entry)

    async def _retry_later(self, entry: InboxEntry) -> None:
        """Give up the lease until a backoff has passed (2, 4, 8… s): `renew` no longer
        extends it, and `claim` takes it again once it is due."""
        backoff = timedelta(seconds=min(2**entry.attempts, 300))
        async with self.store.transaction() as session:
            conn = await session.connection()
            await conn.execute(
                update(_INBOX)
                .where(_INBOX.c.id == entry.id)
                .values(claimed_by=None, claimed_until=self.clock() + backoff)
            )


async def pending(store: Store) -> list[InboxItem]:
    """Every unfinished event, oldest first (the `taskforce inbox` listing)."""
    async with store.transaction() as session:
        return list(
            (await session.exec(select(InboxItem).order_by(col(InboxItem.id)))).scalars().all()  # type: ignore[call-overload]
        )
