"""The outbox: written with the command, delivered once, retried, given up on, never doubled."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text as sql

from bot.base.clock import ManualClock
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError
from bot.commands.registry import REGISTRY, Command, OpMode, Registry
from bot.contracts import Reply, SendError
from bot.core.access import TLP
from bot.serving.app import App
from bot.store.engine import Store
from bot.store.outbox import OutboxWorker, enqueue
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot

OP = "OP-NIGHT-HARBOUR"


async def outbox_rows(app: App) -> list[dict[str, Any]]:
    """Every outbox row, oldest first."""
    async with app.store.engine.connect() as conn:
        rows = (await conn.execute(sql("SELECT * FROM outboxmessage ORDER BY id"))).mappings()
        return [dict(r) for r in rows.all()]


async def disclosures(app: App) -> list[dict[str, Any]]:
    """The audit entries of sent posts."""
    async with app.store.engine.connect() as conn:
        rows = await conn.execute(
            sql("SELECT * FROM auditentry WHERE action = 'disclose' ORDER BY id")
        )
        return [dict(r) for r in rows.mappings().all()]


async def linked_op(app: App) -> None:
    """OP-NIGHT-HARBOUR, linked to console channel `room`."""
    for line, channel in (('op new "Night Harbour"', "hq"), ("op link", "room")):
        reply = await app.console.push(line, as_="admin", channel=channel)
        assert reply.ok, reply.message.plain_text()


async def status_change(app: App, status: str = "active") -> None:
    """A command that posts once to `room`."""
    reply = await app.console.push(f"op status {status}", as_="admin", channel="room")
    assert reply.ok, reply.message.plain_text()


# ------------------------------------------------------------- written with the command


def _with_test_commands(app: App) -> None:
    async def fan(ctx: CommandContext, fail: BaseException | None) -> Reply:
        await ctx.fanout(Message(title="drill"), tlp=TLP.GREEN, kind="drill")
        if fail is not None:
            raise fail
        return Reply(Message(lines=["posted"]))

    async def fan_ok(ctx: CommandContext) -> Reply:
        return await fan(ctx, None)

    async def fan_refused(ctx: CommandContext) -> Reply:
        return await fan(ctx, CommandError("Refused after the fan-out."))

    async def fan_crash(ctx: CommandContext) -> Reply:
        return await fan(ctx, RuntimeError("crash after the fan-out"))

    registry = Registry()
    for cmd in REGISTRY.all():
        registry.add(cmd)
    for name, handler in (
        ("fan ok", fan_ok),
        ("fan refused", fan_refused),
        ("fan crash", fan_crash),
    ):
        registry.add(Command(name, name, "test", handler, op=OpMode.REQUIRED))
    app.core.registry = registry


async def test_rows_commit_and_roll_back_with_the_command(any_app: App) -> None:
    app = any_app
    await linked_op(app)
    _with_test_commands(app)
    for line, sentence in (
        ("fan refused", "Refused after the fan-out."),
        ("fan crash", "Something went wrong on our side and nothing was changed"),
    ):
        before = await snapshot(app.store)
        reply = await app.console.push(line, as_="admin", channel="room")
        assert not reply.ok and reply.message.plain_text().startswith(sentence)
        assert changed_tables(before, await snapshot(app.store)) == {}
        assert await app.console.pop_posts() == []
    reply = await app.console.push("fan ok", as_="admin", channel="room")
    assert reply.ok
    rows = await outbox_rows(app)
    assert [(r["kind"], r["channel_key"], r["status"]) for r in rows] == [
        ("drill", "room", "pending")
    ]
    assert [p.message.title for p in await app.console.pop_posts("room")] == ["drill"]


# ------------------------------------------------------------------ retries and death


async def test_fails_twice_then_delivers_once(any_app: App, clock: ManualClock) -> None:
    app = any_app
    await linked_op(app)
    sender = app.console.sender
    sender.fail_next = [SendError("gateway down"), SendError("gateway down")]
    await status_change(app)
    assert await app.worker.drain() == 1  # first try fails
    assert await app.console.pop_posts() == []
    row = (await outbox_rows(app))[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "gateway down")
    clock.advance(seconds=0.9)
    assert await app.worker.drain() == 0  # backoff 1 s (base) not over yet
    clock.advance(seconds=0.1)
    assert await app.worker.drain() == 1  # second try fails; backoff doubles to 2 s
    clock.advance(seconds=1.9)
    assert await app.worker.drain() == 0
    clock.advance(seconds=0.1)
    posts = await app.console.pop_posts("room")
    assert [p.message.title for p in posts] == [f"{OP} is now active"]
    row = (await outbox_rows(app))[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 3, None)
    assert row["sent_at"] is not None
    clock.advance(hours=1)
    assert await app.worker.drain() == 0
    assert await app.console.pop_posts() == []
    assert [(d["command"], d["channel"]) for d in await disclosures(app)] == [
        ("post:op-status", "console:room")
    ]


async def test_retry_after_is_honoured(app: App, clock: ManualClock) -> None:
    await linked_op(app)
    app.console.sender.fail_next = [SendError("rate limited", retry_after=30)]
    await status_change(app)
    await app.worker.drain()
    clock.advance(seconds=29)
    assert await app.console.pop_posts() == []
    clock.advance(seconds=1)
    assert len(await app.console.pop_posts("room")) == 1


async def test_backoff_grows_to_a_bound(app: App) -> None:
    worker = app.worker
    assert [worker.backoff(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert worker.backoff(30, None) == app.settings.outbox_max_backoff
    assert worker.backoff(1, 90.0) == 90.0


async def test_after_max_attempts_a_row_is_dead(
    make_app: AppFactory, sqlite_url: str, clock: ManualClock
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_OUTBOX_MAX_ATTEMPTS=3)
    await linked_op(app)
    app.console.sender.fail_next = [SendError("down")] * 2 + [RuntimeError("still down")]
    await status_change(app)
    for _ in range(3):
        await app.worker.drain()
        clock.advance(minutes=5)
    row = (await outbox_rows(app))[0]
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert row["last_error"] == "RuntimeError"  # the class only: its text may quote user text
    clock.advance(days=1)
    assert await app.worker.drain() == 0
    assert await app.console.pop_posts() == []
    assert await disclosures(app) == []


async def test_a_permanent_error_is_dead_at_once(app: App) -> None:
    await linked_op(app)
    app.console.sender.fail_next = [SendError("channel_not_found", permanent=True)]
    await status_change(app)
    await app.worker.drain()
    assert [(r["status"], r["attempts"]) for r in await outbox_rows(app)] == [("dead", 1)]


# ------------------------------------------------------------------------ leases


async def test_a_worker_killed_between_claim_and_send(app: App, clock: ManualClock) -> None:
    await linked_op(app)
    await status_change(app)
    doomed = OutboxWorker(app.store, app.settings, app.senders, clock, worker_id="doomed")
    claimed = await doomed.claim(10)
    assert len(claimed) == 1
    del doomed  # killed: it never sends, never releases
    assert await app.worker.drain() == 0
    clock.advance(seconds=app.settings.outbox_claim_seconds)
    assert await app.worker.drain() == 0  # the lease has not run out yet
    clock.advance(seconds=1)
    posts = await app.console.pop_posts("room")
    assert [p.message.title for p in posts] == [f"{OP} is now active"]
    row = (await outbox_rows(app))[0]
    assert (row["status"], row["attempts"], row["claimed_by"]) == (
        "sent",
        1,
        app.worker.worker_id,
    )
    assert await app.worker.drain() == 0


class GatedSender:
    """A sender whose first send hangs until released, then fails (a slow timeout)."""

    platform = "console"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def min_interval(self, channel_key: str) -> float:
        """No pacing."""
        return 0.0

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Hang, then time out."""
        self.entered.set()
        await self.release.wait()
        raise SendError("timed out")


async def test_a_late_failure_does_not_undo_another_workers_send(
    app: App, clock: ManualClock
) -> None:
    await linked_op(app)
    await status_change(app)
    gate = GatedSender()
    slow = OutboxWorker(app.store, app.settings, {"console": gate}, clock, worker_id="slow")
    task = asyncio.create_task(slow.run_once())
    await gate.entered.wait()
    clock.advance(seconds=app.settings.outbox_claim_seconds + 1)
    assert len(await app.console.pop_posts("room")) == 1  # the lease ran out: sent by another
    gate.release.set()
    await task
    clock.advance(hours=1)
    assert await app.console.pop_posts() == []
    assert [(r["status"], r["attempts"]) for r in await outbox_rows(app)] == [("sent", 1)]


# -------------------------------------------------------------- two workers at once


class CountingSender:
    """Counts every post per channel key."""

    platform = "console"

    def __init__(self, sent: Counter[str]) -> None:
        self.sent = sent

    def min_interval(self, channel_key: str) -> float:
        """No pacing."""
        return 0.0

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Count, after yielding so that the workers interleave."""
        await asyncio.sleep(0)
        self.sent[message.title] += 1
        return message.title


async def _enqueue(store: Store, clock: ManualClock, n: int, prefix: str) -> None:
    async with store.transaction() as session:
        for i in range(n):
            enqueue(
                session,
                now=clock(),
                platform="console",
                channel_key=f"ch-{i % 7}",
                message=Message(title=f"{prefix}-{i}"),
                operation_id=None,
                tlp="green",
            )


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_two_workers_never_take_the_same_row(
    make_app: AppFactory, clock: ManualClock, backend: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("pg_url" if backend == "postgresql" else "sqlite_url"))
    app = await make_app(url)
    other = Store(url)  # a second process: its own engine and pool on the same database
    try:
        sent: Counter[str] = Counter()
        w1 = OutboxWorker(app.store, app.settings, {"console": CountingSender(sent)}, clock)
        w2 = OutboxWorker(other, app.settings, {"console": CountingSender(sent)}, clock)

        await _enqueue(app.store, clock, 60, "claim")
        batches = await asyncio.gather(*(w.claim(5) for w in (w1, w2) for _ in range(15)))
        ids = [c.id for batch in batches for c in batch]
        assert len(ids) == len(set(ids))
        assert len(ids) > 0

        # Every row sent exactly once by the two workers draining side by side.
        await _enqueue(app.store, clock, 80, "send")
        clock.advance(seconds=app.settings.outbox_claim_seconds + 1)  # the claims above lapse
        await asyncio.gather(w1.drain(), w2.drain())
        rows = await outbox_rows(app)
        assert {r["status"] for r in rows} == {"sent"}
        assert len(rows) == 140
        titles = [json.loads(p) if isinstance(p, str) else p for p in (r["payload"] for r in rows)]
        assert sorted(sent) == sorted(t["title"] for t in titles)
        assert set(sent.values()) == {1}
        assert len(await disclosures(app)) == 140
        assert {r["claimed_by"] for r in rows} <= {w1.worker_id, w2.worker_id}
    finally:
        await other.dispose()


async def test_outbox_rows_wait_for_their_time(app: App, clock: ManualClock) -> None:
    async with app.store.transaction() as session:
        enqueue(
            session,
            now=clock(),
            platform="console",
            channel_key="room",
            message=Message(title="later"),
            operation_id=None,
            tlp="green",
            not_before=clock() + timedelta(minutes=5),
        )
    assert await app.console.pop_posts() == []
    clock.advance(minutes=5)
    assert [p.message.title for p in await app.console.pop_posts("room")] == ["later"]


def test_a_stored_post_comes_back_with_everything_it_carries() -> None:
    """Every field of a message survives the outbox (all but the attachments, which are
    delivered by their command, and the secret flag, which is never stored)."""
    from dataclasses import fields

    from bot.base.messages import Button, Message

    message = Message(
        title="T",
        fields=[("Seen", "now")],
        lines=["a", "b"],
        context="OP-X/SG-1",
        buttons=[Button("Subject S-1", "subject show OP-X/S-1")],
        mark="MATCH",
        tlp="amber",
        images=["ab/abcdef.jpg"],
    )
    kept = {f.name for f in fields(Message)} - {"attachments", "secret"}
    assert set(message.to_json()) == kept  # a new field must be carried (or named here)
    assert Message.from_json(message.to_json()) == message
