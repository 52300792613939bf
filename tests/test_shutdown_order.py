"""A graceful stop never posts twice: the outbox finishes its sends before the clients close.

The served app (real PTB over the webhook, a fake Bot API) queues a post; the fake takes
the post and holds its answer. Shutdown starts while the answer is outstanding. The post
must end `sent`, once — and a restart on the same database must not send it again. Were
the Telegram client closed under the send, the answer would be lost, the row set back to
pending, and the next start would post it a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.adapters.telegram import TelegramAdapter
from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.serving.server import create_app
from bot.store.models import OutboxMessage
from tests.conftest import AppFactory
from tests.fakes.telegram_api import FakeBotAPI, UpdateFactory, group_chat, post_update, tg_user
from tests.serving import serving, wait_until

SECRET = "s3cret-Token_1"
ADMIN = tg_user(111, "Ana")
ROOM_ID, FEED_ID = -1001, -1002
ROOM, FEED = group_chat(ROOM_ID, "Harbour"), group_chat(FEED_ID, "Harbour feed")
LIMIT = 30.0  # seconds; only reached when something hangs


class Running:
    """One App served by uvicorn in this loop until `shutdown()` (the real lifespan)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.asgi = create_app(app.settings, app=app)
        adapter = next(a for a in self.asgi.state.adapters if a.platform == "telegram")
        assert isinstance(adapter, TelegramAdapter)
        self.adapter = adapter
        self.url = ""
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _serve(self) -> None:
        async with serving(self.asgi) as url:
            self.url = url
            self._up.set()
            await self._down.wait()

    async def start(self) -> Running:
        """Serve, and return once start-up has completed."""
        self._task = asyncio.create_task(self._serve())
        up = asyncio.create_task(self._up.wait())
        await asyncio.wait({self._task, up}, timeout=LIMIT, return_when="FIRST_COMPLETED")
        up.cancel()
        if self._task.done():
            self._task.result()
        assert self._up.is_set(), "the server did not start"
        return self

    def begin_shutdown(self) -> asyncio.Task[None]:
        """Start the graceful shutdown (as SIGTERM does); the task ends when it is done."""
        assert self._task is not None
        self._down.set()
        return self._task


def telegram_settings(fake: FakeBotAPI) -> dict[str, Any]:
    """The app pointed at the fake, Ana (telegram 111) admin."""
    return fake.settings(SECRET, TASKFORCE_ADMINS="telegram:111")


async def make_served_app(make_app: AppFactory, db_url: str, fake: FakeBotAPI) -> App:
    app = await make_app(db_url, **telegram_settings(fake))
    app.extras.pop("scheduler", None)  # no catch-up posts of its own in the fake's counts
    return app


async def outbox(app: App) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    async with app.store.transaction() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


def on_call(
    obj: object,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    before: asyncio.Event | None = None,
    after: asyncio.Event | None = None,
) -> None:
    """Set `before` when `obj.name()` is called and `after` once it has returned."""
    original: Callable[[], Awaitable[None]] = getattr(obj, name)

    async def observed() -> None:
        if before is not None:
            before.set()
        await original()
        if after is not None:
            after.set()

    monkeypatch.setattr(obj, name, observed)


async def first_of(*events: asyncio.Event) -> None:
    """Return once any of `events` is set (fail after LIMIT seconds)."""
    waits = [asyncio.create_task(e.wait()) for e in events]
    done, pending = await asyncio.wait(waits, timeout=LIMIT, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    assert done, "neither happened"


async def setup_feed(running: Running, ups: UpdateFactory, fake: FakeBotAPI) -> None:
    """OP-NH with its feed group linked and a subject to report on."""
    async with httpx.AsyncClient(base_url=running.url, timeout=LIMIT) as http:
        for text, chat in [
            ('/tf op new "Night Harbour" --code OP-NH', ROOM),
            ("/tf op link", FEED),
            ('/tf subject add person "Viktor Test" --category suspect', ROOM),
        ]:
            resp = await post_update(http, ups.command(text, user=ADMIN, chat=chat), SECRET)
            assert resp.status_code == 200
    await running.adapter.idle()
    await fake.wait_sent(1, FEED_ID)
    assert fake.sent(FEED_ID)[0].plain.startswith("Linked to OP-NH")


async def report_sighting(running: Running, ups: UpdateFactory) -> None:
    """A sighting in the room: its post to the feed goes through the outbox."""
    async with httpx.AsyncClient(base_url=running.url, timeout=LIMIT) as http:
        update = ups.command('/tf sighting S-1 at "Pier 7"', user=ADMIN, chat=ROOM)
        assert (await post_update(http, update, SECRET)).status_code == 200
    await running.adapter.idle()


async def test_graceful_stop_finishes_the_send_in_flight_and_a_restart_does_not_repeat_it(
    make_app: AppFactory,
    db_url: str,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        app = await make_served_app(make_app, db_url, fake)
        running = await Running(app).start()
        await setup_feed(running, ups, fake)

        hold = fake.hold_next("sendMessage", chat_id=FEED_ID)
        await report_sighting(running, ups)
        await asyncio.wait_for(hold.reached.wait(), LIMIT)  # posted; the answer is held
        [post] = [r for r in await outbox(app) if r.channel_key == str(FEED_ID)]
        assert post.status == "sending"

        # Release the answer once shutdown has gone far enough that either the outbox
        # worker is stopping (it must still get the answer) or the Telegram client has
        # been closed under the send (the old order: the answer is lost).
        worker_stopping, client_closed = asyncio.Event(), asyncio.Event()
        on_call(app.worker, "stop", monkeypatch, before=worker_stopping)
        on_call(running.adapter, "stop", monkeypatch, after=client_closed)
        stopped = running.begin_shutdown()
        await first_of(worker_stopping, client_closed)
        hold.release()
        await asyncio.wait_for(stopped, LIMIT)

        [post] = [r for r in await outbox(app) if r.id == post.id]
        assert (post.status, post.attempts) == ("sent", 1)
        assert post.platform_message_id == str(fake.sent(FEED_ID)[-1].message_id)
        posted = [m.plain for m in fake.sent(FEED_ID)[1:]]
        assert len(posted) == 1 and "Pier 7" in posted[0]

        # The next start on the same database has nothing left to send.
        monkeypatch.undo()
        again = await make_served_app(make_app, db_url, fake)
        restarted = await Running(again).start()
        clock.advance(timedelta(days=1))  # past any retry backoff
        await again.worker.drain()
        await asyncio.wait_for(restarted.begin_shutdown(), LIMIT)
        assert [m.plain for m in fake.sent(FEED_ID)[1:]] == posted
        assert {r.status for r in await outbox(again)} == {"sent"}


async def test_a_cancelled_worker_stop_does_not_cut_the_send_in_flight_short(
    make_app: AppFactory, db_url: str
) -> None:
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        app = await make_served_app(make_app, db_url, fake)
        running = await Running(app).start()
        try:
            await setup_feed(running, ups, fake)
            hold = fake.hold_next("sendMessage", chat_id=FEED_ID)
            await report_sighting(running, ups)
            await asyncio.wait_for(hold.reached.wait(), LIMIT)

            entered = asyncio.Event()

            async def stop_worker() -> None:
                entered.set()
                await app.worker.stop()

            stopper = asyncio.create_task(stop_worker())
            await entered.wait()  # stop() ran up to its first await in the same step
            stopper.cancel()
            hold.release()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(stopper, LIMIT)
            # The cancellation went on only after the send had settled.
            [post] = [r for r in await outbox(app) if r.channel_key == str(FEED_ID)]
            assert (post.status, post.attempts) == ("sent", 1)
            assert len(fake.sent(FEED_ID)) == 2  # the link answer and the one post
        finally:
            await asyncio.wait_for(running.begin_shutdown(), LIMIT)


async def test_a_post_waiting_for_its_turn_at_shutdown_is_released_untried(
    make_app: AppFactory, db_url: str
) -> None:
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        app = await make_app(
            db_url,
            **fake.settings(SECRET, TASKFORCE_ADMINS="telegram:111", TELEGRAM_GROUP_INTERVAL=3600),
        )
        app.extras.pop("scheduler", None)
        running = await Running(app).start()
        await setup_feed(running, ups, fake)
        await report_sighting(running, ups)
        await report_sighting(running, ups)  # same feed: an hour behind the first

        async def first_sent() -> bool:
            return [r.status for r in await outbox(app)] == ["sent", "sending"]

        await wait_until(first_sent, LIMIT)
        await asyncio.wait_for(running.begin_shutdown(), LIMIT)
        first, second = await outbox(app)
        assert (first.status, first.attempts) == ("sent", 1)
        assert (second.status, second.attempts, second.claimed_by) == ("pending", 0, None)
        assert len(fake.sent(FEED_ID)) == 2  # the link answer and the first post
