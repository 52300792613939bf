"""The transactional outbox and its delivery worker.

A command writes `OutboxMessage` rows in its own transaction (`enqueue`); nothing is sent
from inside a command. The worker claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
the write lock on SQLite), sends them through the sender of their platform, and marks them
sent together with their `disclose` audit entries: sends that finish while one such
transaction is being written are settled together in the next (one turn per audit chain
for many posts, instead of one each). Failures are retried with exponential
backoff, at least the platform's retry-after, until `outbox_max_attempts`; then the row is
`dead`. A claim is a lease: a worker killed between claim and send leaves a row that any
worker takes again once the lease runs out. Delivery is at-least-once only in one case: a
crash after the platform accepted a post and before the row was marked sent; at most the
posts of one claimed batch (`TASKFORCE_OUTBOX_BATCH`, 50) can be in that state at once. A graceful
stop is not such a case: the send in flight finishes (even if the caller of `stop()` is
cancelled) and is settled; rows not yet sent, including one waiting for its channel's
pace, are released untried (no attempt counted: they never left).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import col, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base import metrics
from bot.base.config import Settings
from bot.base.messages import Message
from bot.contracts import Sender, SendError
from bot.store import audit, tables
from bot.store.engine import Store, core_rows
from bot.store.fastsql import Prepared
from bot.store.models import OutboxMessage

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def enqueue(
    session: AsyncSession,
    *,
    now: datetime,
    platform: str,
    channel_key: str,
    message: Message,
    operation_id: int | None,
    tlp: str,
    kind: str = "post",
    object_ref: str | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Add one post to the outbox inside the caller's transaction."""
    row = OutboxMessage(
        operation_id=operation_id,
        platform=platform,
        channel_key=channel_key,
        kind=kind,
        object_ref=object_ref,
        tlp=tlp,
        payload=message.to_json(),
        status="pending",
        next_attempt_at=not_before or now,
        created_at=now,
    )
    session.add(row)
    return row


_OUTBOX = tables.OUTBOX_MESSAGE
# The claim, as plain rows (it runs for every batch of posts): the due rows of the worker's
# platforms, oldest first, locked (PostgreSQL: skipping rows another worker holds), then
# their lease taken in one executemany.
_CLAIMABLE = (
    sa_select(
        _OUTBOX.c.id,
        _OUTBOX.c.platform,
        _OUTBOX.c.channel_key,
        _OUTBOX.c.payload,
        _OUTBOX.c.attempts,
        _OUTBOX.c.operation_id,
        _OUTBOX.c.object_ref,
        _OUTBOX.c.kind,
    )
    .where(
        or_(
            (_OUTBOX.c.status == "pending") & (_OUTBOX.c.next_attempt_at <= bindparam("now")),
            (_OUTBOX.c.status == "sending") & (_OUTBOX.c.claimed_until < bindparam("now")),
        ),
        _OUTBOX.c.platform.in_(bindparam("platforms", expanding=True)),
    )
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_TAKE_LEASE = (
    sa_update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(status="sending", claimed_by=bindparam("worker"), claimed_until=bindparam("lease"))
)
# The columns `outbox_row` gives, named: the insert runs at the driver (`bot.store.fastsql`).
_ROW_COLUMNS = (
    "operation_id",
    "platform",
    "channel_key",
    "kind",
    "object_ref",
    "tlp",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_INSERT_OUTBOX = Prepared(insert(_OUTBOX).values({k: bindparam(k) for k in _ROW_COLUMNS}))
_MARK_SENT = Prepared(
    sa_update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        status="sent",
        sent_at=bindparam("row_sent_at"),
        attempts=bindparam("row_attempts"),
        platform_message_id=bindparam("row_message_id"),
        claimed_until=None,
        last_error=None,
    )
)


def outbox_row(
    *,
    now: datetime,
    platform: str,
    channel_key: str,
    payload: dict[str, object],
    operation_id: int | None,
    tlp: str,
    kind: str = "post",
    object_ref: str | None = None,
    not_before: datetime | None = None,
) -> dict[str, object]:
    """The column values of one pending post (for `enqueue_rows`)."""
    return {
        "operation_id": operation_id,
        "platform": platform,
        "channel_key": channel_key,
        "kind": kind,
        "object_ref": object_ref,
        "tlp": tlp,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }


async def enqueue_rows(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Add posts to the outbox inside the caller's transaction (one statement each at the
    driver on SQLite, one executemany on PostgreSQL)."""
    if rows:
        await _INSERT_OUTBOX.execute(session, rows)


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds the lease on."""

    id: int
    platform: str
    channel_key: str
    payload: dict[str, object]
    attempts: int
    operation_id: int | None
    object_ref: str | None
    kind: str


_Settle = tuple[Claimed, str | None, datetime, "asyncio.Future[None]"]


class OutboxWorker:
    """Claims, sends and settles outbox rows; one per process."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        senders: dict[str, Sender],
        clock: Clock,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.senders = senders
        self.clock = clock
        self.worker_id = worker_id or f"w-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._halt = asyncio.Event()  # set by stop(): cuts a pacing wait short
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_post: dict[tuple[str, str], float] = {}
        self._channel_locks: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._to_settle: list[_Settle] = []
        self._settler: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def notify(self) -> None:
        """Wake the worker: new rows were committed."""
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in the background."""
        if self._task is None:
            self._stopping = False
            self._halt.clear()
            self._task = asyncio.create_task(self._loop(), name="outbox-worker")

    async def stop(self) -> None:
        """Finish the sends in flight, release unsent claims, and stop.

        Cancelling the caller does not cancel the worker: a send cut off mid-request may
        have been posted with no record of it. The cancellation goes on once the worker
        has finished.
        """
        self._stopping = True
        self._halt.set()
        self._wake.set()
        task = self._task
        if task is None:
            return
        interrupted = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():  # our caller was cancelled, not the worker
                    interrupted = True
        self._task = None
        if interrupted:
            raise asyncio.CancelledError

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except Exception:  # keep delivering: one bad batch must not stop the worker
                log.exception("outbox.loop_error")
                handled = 0
            if handled == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_seconds)
                self._wake.clear()

    # ------------------------------------------------------------------- one pass

    async def run_once(self) -> int:
        """Claim one batch of due rows and deliver it; return how many were handled."""
        claimed = await self.claim(self.settings.outbox_batch)
        if not claimed:
            return 0
        groups: dict[tuple[str, str], list[Claimed]] = defaultdict(list)
        for row in claimed:
            groups[(row.platform, row.channel_key)].append(row)
        await asyncio.gather(*(self._deliver_channel(key, rows) for key, rows in groups.items()))
        return len(claimed)

    async def drain(self, max_rounds: int = 1000) -> int:
        """Deliver everything due now (tests, CLI, shutdown); return how many were handled."""
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            if n == 0:
                break
            total += n
        return total

    async def claim(self, limit: int, platforms: Iterable[str] | None = None) -> list[Claimed]:
        """Take the lease on up to `limit` due rows of platforms this worker can send to."""
        names = sorted(platforms if platforms is not None else self.senders)
        if not names:
            return []
        now = self.clock()
        lease = now + timedelta(seconds=self.settings.outbox_claim_seconds)
        async with self.store.transaction() as session:
            rows = await core_rows(
                session,
                _CLAIMABLE,
                {"now": now, "platforms": names, "limit": limit},
            )
            if not rows:
                return []
            conn = await session.connection()
            await conn.execute(
                _TAKE_LEASE,
                [{"row_id": r.id, "worker": self.worker_id, "lease": lease} for r in rows],
            )
            return [
                Claimed(
                    id=r.id,
                    platform=r.platform,
                    channel_key=r.channel_key,
                    payload=dict(r.payload),
                    attempts=r.attempts,
                    operation_id=r.operation_id,
                    object_ref=r.object_ref,
                    kind=r.kind,
                )
                for r in rows
            ]

    async def _deliver_channel(self, key: tuple[str, str], rows: list[Claimed]) -> None:
        # One channel at a time, in order, at the platform's pace; other channels go on.
        async with self._channel_locks[key]:
            for row in rows:
                if not self._stopping:
                    await self._pace(key)
                if self._stopping:
                    await self._release(row)
                    continue
                await self._deliver(row)
                # The pace runs from when the platform answered, not from when the send
                # began: after a slow request the next post still waits the full interval
                # (the platform counts arrivals).
                self._last_post[key] = asyncio.get_running_loop().time()

    async def _pace(self, key: tuple[str, str]) -> None:
        sender = self.senders[key[0]]
        interval = sender.min_interval(key[1])
        if interval <= 0:
            return
        loop = asyncio.get_running_loop()
        last = self._last_post.get(key)
        if last is not None:
            wait = last + interval - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._halt.wait(), wait)

    async def _deliver(self, row: Claimed) -> None:
        sender = self.senders[row.platform]
        try:
            message_id = await sender.send(
                row.channel_key, Message.from_json(row.payload), key=f"taskforce.{row.id}"
            )
        except SendError as exc:
            await self._failed(row, exc.reason, exc.retry_after, exc.permanent)
        except Exception as exc:
            # The exception's class only: its text may quote the message (user text), and
            # last_error and the logs never carry user text.
            await self._failed(row, type(exc).__name__, None, isinstance(exc, UnicodeError))
        else:
            await self._sent(row, message_id)

    async def _sent(self, row: Claimed, message_id: str | None) -> None:
        """Mark the row sent with its `disclose` audit entry, together with whatever other
        channels' sends finished meanwhile (one transaction, one turn per audit chain)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_settle.append((row, message_id, self.clock(), fut))
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_all(), name="outbox-settle")
        await asyncio.shield(fut)

    async def _settle_all(self) -> None:
        while self._to_settle:
            batch, self._to_settle = self._to_settle, []
            try:
                await self._settle(batch)
            except Exception as exc:
                # The rows stay `sending`: once their lease runs out they are sent again
                # (the one case of a repeated post, as after a crash).
                log.error("outbox.settle_failed", posts=len(batch), error=type(exc).__name__)
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
                continue
            for row, *_rest, fut in batch:
                if not fut.done():
                    fut.set_result(None)
                metrics.OUTBOX.labels(row.platform, "sent").inc()
                log.info("outbox.sent", outbox_id=row.id, platform=row.platform, kind=row.kind)

    async def _settle(self, batch: list[_Settle]) -> None:
        async with self.store.transaction() as session:
            await _MARK_SENT.execute(
                session,
                [
                    {
                        "row_id": row.id,
                        "row_sent_at": at,
                        "row_attempts": row.attempts + 1,
                        "row_message_id": message_id,
                    }
                    for row, message_id, at, _ in batch
                ],
            )
            await audit.append_entries(
                session,
                [
                    audit.Entry(
                        at=at,
                        actor="taskforce",
                        action=audit.Action.DISCLOSE,
                        command=f"post:{row.kind}",
                        operation_id=row.operation_id,
                        object_ref=row.object_ref,
                        channel=f"{row.platform}:{row.channel_key}",
                    )
                    for row, _, at, _ in batch
                ],
            )

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before the next try after `attempts` failures."""
        base = self.settings.outbox_base_backoff * (2 ** max(attempts - 1, 0))
        delay = min(base, self.settings.outbox_max_backoff)
        return max(delay, retry_after or 0.0)

    async def _failed(
        self, row: Claimed, reason: str, retry_after: float | None, permanent: bool
    ) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        dead = permanent or attempts >= self.settings.outbox_max_attempts
        values: dict[str, object] = {
            "attempts": attempts,
            "last_error": reason[:1000],
            "claimed_until": None,
            "claimed_by": None,
            "status": "dead" if dead else "pending",
        }
        if not dead:
            values["next_attempt_at"] = now + timedelta(seconds=self.backoff(attempts, retry_after))
        async with self.store.transaction() as session:
            # Only while the lease is still ours: if it ran out and another worker has since
            # sent the row, setting it back to pending would post it twice.
            result = await session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == row.id,
                    col(OutboxMessage.status) == "sending",
                    col(OutboxMessage.claimed_by) == self.worker_id,
                )
                .values(**values)
            )
        if not result.rowcount:
            log.warning("outbox.lease_lost", outbox_id=row.id, platform=row.platform)
            return
        metrics.OUTBOX.labels(row.platform, "dead" if dead else "retried").inc()
        log.warning(
            "outbox.failed",
            outbox_id=row.id,
            platform=row.platform,
            attempts=attempts,
            dead=dead,
            reason=reason[:200],
            retry_after=retry_after,
        )

    async def _release(self, row: Claimed) -> None:
        async with self.store.transaction() as session:
            await session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == row.id, col(OutboxMessage.claimed_by) == self.worker_id
                )
                .values(status="pending", claimed_by=None, claimed_until=None)
            )


OPEN_STATUSES = ("pending", "sending", "dead")


async def list_open(store: Store, ids: list[int] | None = None) -> list[OutboxMessage]:
    """Rows not delivered yet (pending, sending) or given up on (dead), oldest first."""
    async with store.transaction() as session:
        stmt = select(OutboxMessage).where(col(OutboxMessage.status).in_(OPEN_STATUSES))
        if ids:
            stmt = stmt.where(col(OutboxMessage.id).in_(ids))
        return list((await session.exec(stmt.order_by(col(OutboxMessage.id)))).all())


async def retry_dead(store: Store, now: datetime, ids: list[int] | None = None) -> int:
    """Put dead rows (all, or the given ids) back to pending; return how many."""
    async with store.transaction() as session:
        stmt = update(OutboxMessage).where(col(OutboxMessage.status) == "dead")
        if ids:
            stmt = stmt.where(col(OutboxMessage.id).in_(ids))
        result = await session.exec(
            stmt.values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
        )
        return int(result.rowcount or 0)
