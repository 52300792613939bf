"""The inbox (bot/store/inbox.py) in process, on SQLite and PostgreSQL: accept/done, leases and
their renewal, claims of stopped processes' events, the retry limit, `taskforce inbox` and
the /metrics gauges. The crash tests with real processes are in test_inbox_crash.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.serving.cli import cli
from bot.serving.server import create_app
from bot.store.inbox import MAX_ATTEMPTS, Inbox, InboxEntry, pending
from tests.conftest import START, AppFactory
from tests.serving import sample, serving, wait_until

SECRET_TEXT = 'sighting S-1 at "Safe house 9"'


def inbox(app: App, clock: ManualClock, worker: str, lease: float = 15.0) -> Inbox:
    """Another Inbox on the app's store: a second process, as far as leases go."""
    return Inbox(app.store, clock, lease_seconds=lease, worker_id=worker)


async def accept(box: Inbox, key: str = "k1", kind: str = "test_kind") -> None:
    assert await box.accept("telegram", key, kind, {"text": SECRET_TEXT, "n": 1})


async def test_accept_is_once_per_event_and_done_forgets_it(
    any_app: App, clock: ManualClock
) -> None:
    box = inbox(any_app, clock, "w-a")
    await accept(box)
    # A redelivery while the event is unfinished: not accepted twice.
    assert not await box.accept("telegram", "k1", "test_kind", {"text": "again"})
    # The same key on another platform is another event.
    assert await box.accept("slack", "k1", "test_kind", {})
    rows = await pending(any_app.store)
    assert [(r.platform, r.event_key, r.claimed_by, r.attempts) for r in rows] == [
        ("telegram", "k1", "w-a", 0),
        ("slack", "k1", "w-a", 0),
    ]
    assert rows[0].payload == {"text": SECRET_TEXT, "n": 1}
    assert rows[0].received_at == START
    await box.done("telegram", "k1")
    assert [(r.platform, r.event_key) for r in await pending(any_app.store)] == [("slack", "k1")]
    # Once done, a new delivery of the key is a new event (the processed key guards the rest).
    assert await box.accept("telegram", "k1", "test_kind", {})


async def test_own_live_lease_is_not_claimed_and_an_expired_one_is_by_anyone(
    any_app: App, clock: ManualClock
) -> None:
    owner, other = inbox(any_app, clock, "w-owner"), inbox(any_app, clock, "w-other")
    await accept(owner)
    assert await owner.claim() == []  # its own, still leased
    clock.advance(seconds=16)  # the owner stopped: nobody renewed
    (entry,) = await other.claim()
    assert (entry.event_key, entry.kind, entry.attempts) == ("k1", "test_kind", 1)
    assert entry.payload == {"text": SECRET_TEXT, "n": 1}
    assert entry.received_at == START
    (row,) = await pending(any_app.store)
    assert (row.claimed_by, row.attempts) == ("w-other", 1)
    if not any_app.store.is_sqlite:  # (on SQLite every other worker's row is due at once)
        assert await owner.claim() == []  # now leased to the other
    assert await other.claim() == []  # and not claimed twice by its holder


async def test_a_lease_renewed_by_its_owner_is_not_claimed_by_another_inbox(
    make_app: object, pg_url: str, clock: ManualClock
) -> None:
    """PostgreSQL (replicas): only a lease that ran out makes an event someone else's."""
    app = await make_app(pg_url)  # type: ignore[operator]
    owner, other = inbox(app, clock, "w-owner"), inbox(app, clock, "w-other")
    await accept(owner)
    for _ in range(4):  # 40 s in all, far past the first lease: renewed every 10 s
        clock.advance(seconds=10)
        assert await other.claim() == []
        await owner.renew()
    clock.advance(seconds=14)
    assert await other.claim() == []
    clock.advance(seconds=2)  # 16 s since the last renewal: the owner is gone
    assert [e.event_key for e in await other.claim()] == ["k1"]


async def test_on_sqlite_every_row_of_another_process_is_due_at_once(
    app: App, clock: ManualClock
) -> None:
    """One process serves a SQLite file: rows another worker id claimed are a previous
    life's, whatever their lease says."""
    old_life, new_life = inbox(app, clock, "w-old"), inbox(app, clock, "w-new")
    await accept(old_life)
    await old_life.renew()
    assert [e.event_key for e in await new_life.claim()] == ["k1"]


async def test_release_gives_the_event_back_at_once(any_app: App, clock: ManualClock) -> None:
    owner, other = inbox(any_app, clock, "w-owner"), inbox(any_app, clock, "w-other")
    await accept(owner)
    await owner.release("telegram", "k1")
    (row,) = await pending(any_app.store)
    assert (row.claimed_by, row.claimed_until) == (None, None)
    assert [e.event_key for e in await other.claim()] == ["k1"]


async def test_recovery_hands_events_to_their_handler_in_order_and_stops_after_max_attempts(
    any_app: App, clock: ManualClock
) -> None:
    owner, rescuer = inbox(any_app, clock, "w-owner", 3), inbox(any_app, clock, "w-rescue", 3)
    for key, kind in (("k1", "good"), ("k2", "bad"), ("k3", "good")):
        await accept(owner, key, kind)
    ran: list[str] = []
    failed: list[int] = []

    async def good(entry: InboxEntry) -> None:
        ran.append(entry.event_key)
        await rescuer.done(entry.platform, entry.event_key)

    async def bad(entry: InboxEntry) -> None:
        failed.append(entry.attempts)
        raise RuntimeError("the command could not run")

    rescuer.register("good", good)
    rescuer.register("bad", bad)
    clock.advance(seconds=4)
    assert await rescuer.recover_once() == 2
    assert ran == ["k1", "k3"] and failed == [1]
    for _ in range(MAX_ATTEMPTS + 3):
        clock.advance(seconds=2**MAX_ATTEMPTS)  # the failed one's backoff runs out
        await rescuer.recover_once()
    assert failed == list(range(1, MAX_ATTEMPTS + 1))  # then left for an operator
    (row,) = await pending(any_app.store)
    assert (row.event_key, row.attempts) == ("k2", MAX_ATTEMPTS)
    assert ran == ["k1", "k3"]


async def test_a_failed_recovery_is_tried_again_while_the_rescuer_keeps_running(
    any_app: App, clock: ManualClock
) -> None:
    """The recovery loop renews its leases and recovers, a third of a lease apart; a handler
    that fails (without releasing the row itself) must get its next attempt."""
    owner, rescuer = inbox(any_app, clock, "w-owner", 3), inbox(any_app, clock, "w-rescue", 3)
    await accept(owner, "k1", "flaky")
    tries: list[int] = []

    async def flaky(entry: InboxEntry) -> None:
        tries.append(entry.attempts)
        if len(tries) == 1:
            raise RuntimeError("Slack was unreachable")
        await rescuer.done(entry.platform, entry.event_key)

    rescuer.register("flaky", flaky)
    clock.advance(seconds=4)
    for _ in range(30):  # 30 passes of the loop: 30 s, ten leases (the backoff is 2 s)
        await rescuer.renew()
        await rescuer.recover_once()
        clock.advance(seconds=1)
    assert tries == [1, 2]
    assert await pending(any_app.store) == []


async def taskforce(app: App, *args: str) -> Result:
    """The real CLI (in a thread: it runs its own event loop) on the app's database."""
    env = {
        "TASKFORCE_DATABASE_URL": app.settings.effective_database_url,
        "TASKFORCE_DATA_DIR": str(app.settings.data_dir),
    }
    return await asyncio.to_thread(lambda: CliRunner().invoke(cli, list(args), env=env))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty directory: no `.env` of the developer's is read."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_taskforce_inbox_lists_pending_events_without_their_text(
    any_app: App, clock: ManualClock, here: Path
) -> None:
    empty = await taskforce(any_app, "inbox")
    assert empty.exit_code == 0, empty.output
    assert "The inbox is empty" in empty.output
    owner = inbox(any_app, clock, "w-owner")
    await accept(owner, "123:1", "telegram_update")
    await accept(owner, "cmd:trig-9", "slack_command")
    listed = await taskforce(any_app, "inbox")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert "telegram_update" in lines[1] and "w-owner" in lines[1]
    assert "slack_command" in lines[2]
    assert "2 unfinished" in lines[-1]
    assert "Safe house" not in listed.output and "sighting" not in listed.output
    assert "123:1" not in listed.output and "trig-9" not in listed.output


async def test_metrics_show_inbox_depth_and_oldest_age(any_app: App, clock: ManualClock) -> None:
    async with (
        serving(create_app(any_app.settings, app=any_app)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        scrape = (await http.get("/metrics")).text
        assert sample(scrape, "taskforce_inbox_depth") == 0
        assert sample(scrape, "taskforce_inbox_oldest_seconds") == 0
        await accept(any_app.inbox, "k1")
        clock.advance(seconds=30)
        await accept(any_app.inbox, "k2")
        clock.advance(seconds=60)
        scrape = (await http.get("/metrics")).text
        assert sample(scrape, "taskforce_inbox_depth") == 2
        assert sample(scrape, "taskforce_inbox_oldest_seconds") == 90
        await any_app.inbox.done("telegram", "k1")
        scrape = (await http.get("/metrics")).text
        assert sample(scrape, "taskforce_inbox_depth") == 1
        assert sample(scrape, "taskforce_inbox_oldest_seconds") == 60


async def test_the_server_is_ready_while_a_recovery_runs(
    make_app: AppFactory, sqlite_url: str, clock: ManualClock
) -> None:
    """Recovery after a crash runs in the background: /readyz does not wait for it."""
    app = await make_app(sqlite_url)
    stale = inbox(app, clock, "w-dead", 3)  # a process that died with an event unfinished
    await accept(stale, "k-late", "slow")
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(entry: InboxEntry) -> None:
        started.set()
        await release.wait()
        await app.inbox.done(entry.platform, entry.event_key)

    app.inbox.register("slow", slow)
    async with (
        serving(create_app(app.settings, app=app)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        await asyncio.wait_for(started.wait(), 10)  # recovery has begun and is held
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert [r.event_key for r in await pending(app.store)] == ["k-late"]
        scrape = (await http.get("/metrics")).text
        assert sample(scrape, "taskforce_inbox_depth") == 1
        release.set()
        await wait_until(lambda: inbox_empty(app))
    assert await pending(app.store) == []


async def inbox_empty(app: App) -> bool:
    """Whether every acknowledged event has been finished."""
    return not await pending(app.store)
