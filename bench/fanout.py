"""Benchmark 2, fan-out: one sighting into an operation linked to 200 channels.

Half the channels are Slack channels, half Telegram groups; both fakes answer at once with
no rate limit, and the real senders are built with no pace. Measured: from dispatching the
sighting until the outbox worker has delivered every post (the fake has answered each),
as posts per second. Baseline: plain httpx posting the very bodies the fakes received
(recorded by the fake) to the same fakes with the same concurrency (the worker's batch).
Run in one process with the fake in another, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlmodel import col, func, select

from bench.common import (
    SIGNING_SECRET,
    Row,
    Server,
    Sizes,
    log_to_file,
    median,
    postgres_reachable,
    scratch_postgres,
)
from bench.fakeapi import fake_api, fetch, reset
from bench.scenario import (
    link_many,
    prepared_app,
    slack_invocation,
    sqlite_path,
)
from bot.commands.dispatch import dispatch
from bot.serving.app import App
from bot.store.models import OutboxMessage

NAME = "2 fan-out"
TARGET = 0.8  # the issue "The command path at the speed of the database": >= 0.8x plain httpx
SIGHTING = 'sighting S-1 at "Algeciras port, quay 4" --grade B2 --note "fan-out round {n}"'
TELEGRAM_TOKEN = "4242:bench"


def platform_settings(fake_url: str) -> dict[str, str]:
    """Slack and Telegram on, both APIs at the fake, and no pace on either."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{fake_url}/api/",
        "SLACK_POST_INTERVAL": "0",
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": "bench-webhook-secret",
        "TELEGRAM_API_URL": f"{fake_url}/bot",
        "TELEGRAM_CHAT_INTERVAL": "0",
        "TELEGRAM_GROUP_INTERVAL": "0",
    }


@contextlib.asynccontextmanager
async def fanout_app(db_url: str, fake_url: str, channels: int) -> AsyncIterator[App]:
    """OP-BENCH linked to `channels` channels (half Slack, half Telegram), senders wired.

    The real adapters are built and started as `taskforce serve` does (Slack's auth.test
    and Telegram's getMe go to the fake); their senders are the outbox worker's.
    """
    from bot.serving.server import build_adapters

    app = await prepared_app(db_url, link_channel=False, **platform_settings(fake_url))
    adapters = build_adapters(app)
    try:
        for adapter in adapters:
            if adapter.sender.min_interval("CFAN0000") or adapter.sender.min_interval("-1"):
                raise RuntimeError(f"the {adapter.platform} sender still has a pace")
            app.add_sender(adapter.sender)
            await adapter.start()
        platforms = {a.platform for a in adapters}
        if platforms != {"slack", "telegram"}:
            raise RuntimeError(f"expected Slack and Telegram adapters, got {sorted(platforms)}")
        telegram = channels // 2
        await link_many(app, channels - telegram, telegram)
        yield app
    finally:
        for adapter in adapters:
            await adapter.stop()
        await app.close()


async def _pending(app: App) -> int:
    async with app.store.transaction() as session:
        stmt = select(func.count()).select_from(OutboxMessage)
        return int((await session.exec(stmt.where(col(OutboxMessage.status) != "sent"))).one())


async def one_round(app: App, n: int, expected: int) -> float:
    """Dispatch one sighting and deliver every post; return the seconds it took."""
    started = time.perf_counter()
    reply = await dispatch(app.core, slack_invocation(SIGHTING.format(n=n)))
    if not reply.ok:
        raise RuntimeError(f"fan-out sighting refused: {reply.message.plain_text()}")
    await app.worker.drain()
    elapsed = time.perf_counter() - started
    left = await _pending(app)
    if left:
        raise RuntimeError(f"{left} posts not delivered after the drain")
    return elapsed


def baseline_client(fake: Server, concurrency: int) -> httpx.AsyncClient:
    """Plain httpx with as many connections as the worker sends posts at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=fake.url, limits=limits, timeout=30)


async def replay(
    client: httpx.AsyncClient, recorded: list[dict[str, str]], concurrency: int
) -> float:
    """Post the recorded bodies, `concurrency` at a time; return the seconds it took."""
    bodies = [(r["path"], r["content_type"], base64.b64decode(r["body"])) for r in recorded]
    gate = asyncio.Semaphore(concurrency)

    async def post(path: str, ctype: str, body: bytes) -> None:
        async with gate:
            resp = await client.post(path, content=body, headers={"content-type": ctype})
            resp.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(post(*b) for b in bodies))
    return time.perf_counter() - started


def _delivered(stats: dict[str, Any]) -> int:
    return int(stats["slack"]) + int(stats["telegram"])


async def run_backend(sizes: Sizes, db_url: str, fake: Server, backend: str) -> Row:
    """Rounds of Taskforce and of the baseline, alternating; medians compared."""
    async with fanout_app(db_url, fake.url, sizes.channels) as app:
        concurrency = app.settings.outbox_batch
        client = baseline_client(fake, concurrency)
        # A warm-up round of each: clients connect, caches fill.
        reset(fake)
        await one_round(app, 0, sizes.channels)
        await replay(client, fetch(fake, "requests"), concurrency)
        tf_times: list[float] = []
        base_times: list[float] = []
        for n in range(1, sizes.fanout_rounds + 1):
            reset(fake)
            tf_times.append(await one_round(app, n, sizes.channels))
            got = _delivered(fetch(fake, "stats"))
            if got != sizes.channels:
                raise RuntimeError(f"the fakes received {got} posts, not {sizes.channels}")
            recorded = fetch(fake, "requests")
            reset(fake)
            base_times.append(await replay(client, recorded, concurrency))
        await client.aclose()
    tf_rate = sizes.channels / median(tf_times)
    base_rate = sizes.channels / median(base_times)
    return Row(
        NAME,
        f"{backend}, {sizes.channels} channels (Slack + Telegram)",
        tf_rate,
        "posts/s",
        base_rate,
        target=f"≥ {TARGET}× baseline",
        met=tf_rate / base_rate >= TARGET,
        note=(
            f"median of {sizes.fanout_rounds} rounds; sighting dispatch + worker drain "
            f"{median(tf_times) * 1000:.0f} ms; concurrency {concurrency} (outbox batch)"
        ),
    )


def run(sizes: Sizes) -> list[Row]:
    """Benchmark 2 on SQLite and (when reachable) on PostgreSQL."""

    async def go() -> list[Row]:
        log_to_file("fanout")
        rows: list[Row] = []
        with fake_api("fanout-fake") as fake:
            path = sqlite_path("fanout")
            rows.append(await run_backend(sizes, f"sqlite:///{path}", fake, "SQLite"))
            if sizes.postgres and postgres_reachable(sizes.pg_admin_url):
                with scratch_postgres(sizes.pg_admin_url) as url:
                    rows.append(await run_backend(sizes, url, fake, "PostgreSQL"))
        return rows

    return asyncio.run(go())
