"""Acknowledge only what is stored (issue 12): kill -9 a served process at the worst moments.

Every test runs `taskforce serve` as child processes against the fake Telegram Bot API and
the fake Slack Web API (real python-telegram-bot, slack-bolt and slack-sdk on the inside),
kills them with SIGKILL (never a graceful stop) and starts them again on the same database.
What a platform got a 2xx for must then be stored exactly once and answered; what it did not
get a 2xx for is delivered again by the test, as the platform would, and handled once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.adapters.slack import WORKING
from tests.crashing import Database, fail_every, failed_calls, fanout_posts, heal, mentions
from tests.fakes.slack_api import BOT_USER, TEAM, FakeSlack, SlackInbound, text_of
from tests.fakes.slack_api import SECRET as SLACK_SECRET
from tests.fakes.slack_api import TOKEN as SLACK_TOKEN
from tests.fakes.telegram_api import (
    BOT_ID,
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    tg_user,
)
from tests.serving import ServerProcess, replica_env, wait_until

REPO = Path(__file__).resolve().parents[1]
BURST = 50
TG_SECRET = "s3cret-Token_1"
ADMIN = tg_user(111, "Ana")
ROOM = group_chat(-1001, "Harbour")
FEED = group_chat(-1002, "Harbour feed")
GROUPS = (ROOM, FEED)


def hooked(**extra: str) -> dict[str, str]:
    """Settings of a process with the test hooks (commands containing HOLD wait)."""
    return {"TASKFORCE_TEST_HOOKS": "tests.hooks", "PYTHONPATH": str(REPO), **extra}


def tg_env(db: Database, data: Path, fake: FakeBotAPI, **extra: str) -> dict[str, str]:
    """A served process on `db` with Telegram pointed at the fake (webhook unless overridden)."""
    settings = {k: str(v) for k, v in fake.settings(secret=TG_SECRET).items()}
    return replica_env(
        db.serve_url,
        data,
        TASKFORCE_ADMINS="telegram:111",
        TASKFORCE_RATE_LIMIT_PER_MINUTE="10000",
        TASKFORCE_OUTBOX_CLAIM_SECONDS="2",  # a post claimed by the killed process comes back
        TASKFORCE_OUTBOX_BASE_BACKOFF="0.2",
        TASKFORCE_OUTBOX_MAX_BACKOFF="1",
        TASKFORCE_OUTBOX_MAX_ATTEMPTS="1000",
        **settings,
        **extra,
    )


@asynccontextmanager
async def served(env: dict[str, str]) -> AsyncIterator[ServerProcess]:
    """A `taskforce serve` process; killed (-9) on the way out if the test has not."""
    server = await ServerProcess(env).start()
    try:
        yield server
    finally:
        await crash(server)


async def crash(server: ServerProcess) -> None:
    """kill -9, and wait for it to be gone."""
    if server.proc is not None and server.proc.returncode is None:
        server.signal(signal.SIGKILL)
        assert await server.wait() == -signal.SIGKILL


async def tg_setup(
    fake: FakeBotAPI, ups: UpdateFactory, http: httpx.AsyncClient | None = None
) -> None:
    """An operation with both groups linked, and subject S-1 (by webhook, or by getUpdates
    when `http` is None)."""
    for text, chat in [
        ('/tf op new "Night Harbour" --code OP-NIGHT-HARBOUR', ROOM),
        ("/tf op link", ROOM),
        ("/tf op link", FEED),
        ('/tf subject add person "Viktor Test" --category suspect', ROOM),
    ]:
        update = ups.command(text, user=ADMIN, chat=chat)
        if http is None:
            await fake.queue_update(update)
        else:
            assert (await post_update(http, update, TG_SECRET)).status_code == 200
    await fake.wait_sent(4, timeout=30)


def sightings(ups: UpdateFactory, n: int, hold_first: bool = False) -> list[dict[str, Any]]:
    """`n` sighting updates, alternating between the two groups (Pier 0 … Pier n-1)."""
    out = []
    for i in range(n):
        note = ' --note "HOLD"' if hold_first and i == 0 else ""
        out.append(
            ups.command(f'/tf sighting S-1 at "Pier {i}"{note}', user=ADMIN, chat=GROUPS[i % 2])
        )
    return out


def place(update: dict[str, Any]) -> str:
    """The location of a sighting update ("Pier 7")."""
    text = str(update["message"]["text"])
    return text.split('"')[1]


async def post_all(
    http: httpx.AsyncClient, updates: list[dict[str, Any]]
) -> list[httpx.Response | BaseException]:
    """Telegram delivering a burst of updates concurrently; each answer or the error."""
    return list(
        await asyncio.gather(
            *(post_update(http, u, TG_SECRET) for u in updates), return_exceptions=True
        )
    )


def got_200(answer: httpx.Response | BaseException) -> bool:
    return isinstance(answer, httpx.Response) and answer.status_code == 200


async def delivered_everywhere(
    db: Database, fake: FakeBotAPI, places: list[str], timeout: float = 60.0
) -> None:
    """Wait until every place was posted to both groups and answered to its reporter, and
    nothing is left in the inbox or the outbox."""

    async def done() -> bool:
        for chat in GROUPS:
            seen = mentions(fanout_posts(fake, chat["id"]), places)
            if min(seen.values()) < 1:
                return False
        answered = mentions(private_answers(fake), places)
        if min(answered.values()) < 1:
            return False
        return await db.inbox_depth() == 0 and await db.outbox_open() == 0

    await wait_until(done, timeout, step=0.2)


async def _drained(db: Database) -> bool:
    return await db.inbox_depth() == 0


def private_answers(fake: FakeBotAPI) -> list[str]:
    """The answers to sightings (confidential: sent to the reporter's private chat)."""
    return [m.plain for m in fake.sent(ADMIN["id"]) if m.plain.startswith("Recorded Sighting")]


async def assert_each_once(
    db: Database, fake: FakeBotAPI, updates: list[dict[str, Any]], in_flight: int = 1
) -> None:
    """Each update is stored once, posted to both groups and answered; only a post in
    flight at the kill (at most `in_flight` per chat) may have gone twice."""
    places = [place(u) for u in updates]
    await delivered_everywhere(db, fake, places)
    assert await db.sightings() == dict.fromkeys(places, 1)
    keys = await db.processed("telegram", f"{BOT_ID}:")
    for u in updates:
        assert keys[f"{BOT_ID}:{u['update_id']}"] == 1
    for chat in GROUPS:
        seen = mentions(fanout_posts(fake, chat["id"]), places)
        twice = {p: n for p, n in seen.items() if n > 1}
        assert set(seen.values()) <= {1, 2} and len(twice) <= in_flight, (chat["title"], twice)
    answered = mentions(private_answers(fake), places)
    twice = {p: n for p, n in answered.items() if n > 1}
    assert set(answered.values()) <= {1, 2} and len(twice) <= in_flight, twice


async def test_telegram_webhook_kill_right_after_the_last_200_loses_no_sighting(
    tmp_path: Path,
) -> None:
    """The issue's reproduction: a burst of 50 sightings from two groups, every one answered
    200, kill -9 at once; none may be lost. The first update is held (test hook) so that the
    kill provably lands before the updates were processed."""
    db = Database.sqlite(tmp_path / "taskforce.db")
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        env = tg_env(db, tmp_path / "data", fake)
        async with served({**env, **hooked()}) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                await tg_setup(fake, ups, http)
                # The set-up's last update leaves the inbox just after its answer is sent.
                await wait_until(lambda: _drained(db), 10)
                burst = sightings(ups, BURST, hold_first=True)
                answers = await post_all(http, burst)
            assert all(got_200(a) for a in answers), answers
            await crash(server)
        # Acknowledged and not run: only the inbox has them.
        assert await db.sightings() == {}
        assert await db.inbox_depth() == BURST
        async with served(env):
            await assert_each_once(db, fake, burst, in_flight=0)


async def test_telegram_webhook_kill_mid_burst_stores_the_acknowledged_and_the_redelivered_once(
    tmp_path: Path,
) -> None:
    """kill -9 while the burst is still arriving: what got 200 is run once; what did not is
    delivered again by Telegram (the test) to the restarted process and run once."""
    db = Database.sqlite(tmp_path / "taskforce.db")
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        env = tg_env(db, tmp_path / "data", fake)
        async with (
            served(env) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        ):
            await tg_setup(fake, ups, http)
            burst = sightings(ups, BURST)
            gate = asyncio.Semaphore(6)  # Telegram keeps a few connections open
            acked = 0
            half = asyncio.Event()

            async def deliver(u: dict[str, Any]) -> httpx.Response | BaseException:
                nonlocal acked
                async with gate:
                    try:
                        answer: httpx.Response | BaseException = await post_update(
                            http, u, TG_SECRET
                        )
                    except httpx.HTTPError as exc:
                        answer = exc
                if got_200(answer):
                    acked += 1
                    if acked >= BURST // 2:
                        half.set()
                return answer

            tasks = [asyncio.create_task(deliver(u)) for u in burst]
            await half.wait()
            await crash(server)
            answers = await asyncio.gather(*tasks)
        ok = [u for u, a in zip(burst, answers, strict=True) if got_200(a)]
        lost = [u for u, a in zip(burst, answers, strict=True) if not got_200(a)]
        assert BURST // 2 <= len(ok) < BURST, "the kill did not land mid-burst"
        async with served(env) as again:
            async with httpx.AsyncClient(base_url=again.url, timeout=30) as http:
                # Telegram's redelivery of every update that got no 200.
                for u in lost:
                    assert (await post_update(http, u, TG_SECRET)).status_code == 200
            await assert_each_once(db, fake, burst)


async def test_telegram_webhook_kill_while_the_outbox_fails_posts_everything_once(
    tmp_path: Path,
) -> None:
    """Telegram answers 500 to every sendMessage: replies and posts pile up in the outbox;
    kill -9 while they are being retried; Telegram recovers; the restart delivers each once."""
    db = Database.sqlite(tmp_path / "taskforce.db")
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        env = tg_env(db, tmp_path / "data", fake)
        async with (
            served(env) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        ):
            await tg_setup(fake, ups, http)
            fail_every(fake, "sendMessage", 500)
            burst = sightings(ups, BURST)
            answers = await post_all(http, burst)
            assert all(got_200(a) for a in answers), answers
            # The outbox is retrying (every post has failed at least once) when the kill comes.
            await wait_until(lambda: failed_calls(fake, "sendMessage") >= 3 * BURST, 60)
            await crash(server)
        assert fanout_posts(fake, ROOM["id"]) == fanout_posts(fake, FEED["id"]) == []
        heal(fake)
        async with served(env):
            await assert_each_once(db, fake, burst)


def got_updates(fake: FakeBotAPI, update_id: int) -> int:
    """How many getUpdates answers carried update `update_id`."""
    return sum(
        1
        for c in fake.calls("getUpdates")
        if any(u["update_id"] == update_id for u in c.result or [])
    )


def confirmed_past(fake: FakeBotAPI, update_id: int) -> bool:
    """Whether a getUpdates call has confirmed `update_id` (asked for a later offset)."""
    return any(int(c.params.get("offset") or 0) > update_id for c in fake.calls("getUpdates"))


async def test_telegram_polling_kill_between_get_updates_and_processing_loses_nothing(
    tmp_path: Path,
) -> None:
    """TELEGRAM_POLLING=1. First batch: fetched, made durable, confirmed, but held before it
    runs. Second batch: fetched while the database is locked, so it cannot be made durable
    and must not be confirmed. kill -9; the restart runs the first batch from the inbox and
    fetches the second batch again; each update runs once."""
    db = Database.sqlite(tmp_path / "taskforce.db")
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        env = tg_env(db, tmp_path / "data", fake, TELEGRAM_POLLING="1")
        async with served({**env, **hooked()}) as server:
            await tg_setup(fake, ups)
            await wait_until(lambda: _drained(db), 10)  # the set-up's updates have left
            held = sightings(ups, 5, hold_first=True)
            for u in held:
                await fake.queue_update(u)
            await wait_until(lambda: confirmed_past(fake, held[-1]["update_id"]), 30)
            assert await db.inbox_depth() == len(held)  # durable before it was confirmed

            lock = sqlite3.connect(
                tmp_path / "taskforce.db", timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                await asyncio.to_thread(lock.execute, "BEGIN EXCLUSIVE")
                fetched = [
                    ups.command(f'/tf sighting S-1 at "Pier {n}"', user=ADMIN, chat=GROUPS[n % 2])
                    for n in range(5, 10)
                ]
                for u in fetched:
                    await fake.queue_update(u)
                await wait_until(lambda: got_updates(fake, fetched[0]["update_id"]) >= 1, 30)
                # The inbox cannot take them: the process says so and keeps them unconfirmed.
                await server.wait_for_line("telegram.inbox_unavailable", timeout=30)
                await crash(server)
            finally:
                lock.rollback()
                lock.close()
        assert not confirmed_past(fake, fetched[0]["update_id"])  # never confirmed
        assert await db.sightings() == {}
        async with served(env):
            await assert_each_once(db, fake, held + fetched, in_flight=0)
        assert got_updates(fake, fetched[0]["update_id"]) >= 2  # fetched again after the kill
        assert got_updates(fake, held[0]["update_id"]) == 1  # confirmed: never served again


# ---------------------------------------------------------------------------- Slack


def slack_env(db: Database, data: Path, fake: FakeSlack, **extra: str) -> dict[str, str]:
    """A served process on `db` with Slack pointed at the fake (ack budget 0.5 s)."""
    return replica_env(
        db.serve_url,
        data,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_URL=fake.url,
        SLACK_POST_INTERVAL="0",
        SLACK_ACK_SECONDS="0.5",
        TASKFORCE_ADMINS=f"slack:{TEAM}/UADMIN",
        TASKFORCE_RATE_LIMIT_PER_MINUTE="10000",
        TASKFORCE_OUTBOX_CLAIM_SECONDS="2",
        **extra,
    )


def slack_fake() -> FakeSlack:
    fake = FakeSlack()
    fake.add_channel("C1", "ops-room")
    fake.add_user("UADMIN", "admin", "Ada Admin")
    return fake


async def slack_setup(inbound: SlackInbound) -> None:
    """An operation linked to #ops-room, and subject S-1 (each answered in its ack)."""
    for line in (
        'op new "Night Harbour" --code OP-NIGHT-HARBOUR',
        "op link",
        'subject add person "Viktor Test" --category suspect',
    ):
        resp = await inbound.command(line)
        assert resp.status_code == 200 and "Working" not in resp.text, resp.text


def mention(text: str) -> dict[str, Any]:
    """An app_mention event in #ops-room."""
    return {
        "type": "app_mention",
        "user": "UADMIN",
        "text": f"<@{BOT_USER}> {text}",
        "ts": "1700000001.000100",
        "channel": "C1",
        "event_ts": "1700000001.000100",
    }


def slack_texts(items: list[dict[str, Any]], start: str) -> list[str]:
    """The texts of posts (or ephemerals, or responses) that start with `start`."""
    return [t for t in (text_of(i) for i in items) if t.startswith(start)]


async def test_slack_working_on_it_then_kill_runs_the_command_once_and_answers_its_response_url(
    tmp_path: Path,
) -> None:
    """A /tf sighting held past the ack budget is acknowledged "Working on it…", and a mention
    is acknowledged; kill -9 before either ran. The restart runs both once, answers the
    command through its response_url and the mention in the channel; Slack's retries of the
    event (before and after the recovery) change nothing."""
    db = Database.sqlite(tmp_path / "taskforce.db")
    async with slack_fake() as fake:
        env = slack_env(db, tmp_path / "data", fake)
        inbound = SlackInbound("", fake, client=httpx.AsyncClient(timeout=30))
        try:
            async with served({**env, **hooked()}) as server:
                inbound.base_url = server.url
                await slack_setup(inbound)
                ack = await inbound.command(
                    'sighting S-1 at "Pier 1" --note "HOLD"', response_key="late"
                )
                assert ack.status_code == 200
                assert ack.json()["text"] == WORKING
                event = mention('sighting S-1 at "Pier 2" --note "HOLD"')
                assert (await inbound.event(event, event_id="Ev1")).status_code == 200
                assert await db.inbox_depth() == 2  # both durable before their acks
                await crash(server)
            assert await db.sightings() == {}
            async with served(env) as again:
                inbound.base_url = again.url
                # Slack retries the event (it may not have seen our ack).
                retry = await inbound.event(event, event_id="Ev1", retry_num=1)
                assert retry.status_code == 200
                await fake.wait_for_responses(1, "late", timeout=30)

                async def finished() -> bool:
                    answered = slack_texts(fake.ephemerals("C1"), "Recorded Sighting")
                    return bool(answered) and await db.inbox_depth() == 0

                await wait_until(finished, 30)
                # A last retry, after the recovery: answered, not run again.
                retry = await inbound.event(event, event_id="Ev1", retry_num=2)
                assert retry.status_code == 200
                await wait_until(lambda: _inbox_empty(db), 30)
                await wait_until(lambda: _outbox_empty(db), 30)
        finally:
            await inbound.aclose()
        assert await db.sightings() == {"Pier 1": 1, "Pier 2": 1}
        assert len(await db.processed("slack", "cmd:")) == 4
        assert (await db.processed("slack", "event:")) == {"event:Ev1": 1}
        (response,) = fake.responses("late")
        assert "Pier 1" in text_of(response) and response.get("replace_original") is False
        answered = slack_texts(fake.ephemerals("C1"), "Recorded Sighting")
        assert len(answered) == 1 and "Pier 2" in answered[0]
        posts = slack_texts(fake.posts("C1"), "Sighting SG-")
        assert mentions(posts, ["Pier 1", "Pier 2"]) == {"Pier 1": 1, "Pier 2": 1}


async def _outbox_empty(db: Database) -> bool:
    return await db.outbox_open() == 0


async def _inbox_empty(db: Database) -> bool:
    return await db.inbox_depth() == 0


# ----------------------------------------------------------------- two replicas


def _utc(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Held:
    """Two served replicas on one PostgreSQL; A holds the acknowledged commands."""

    db: Database
    fake: FakeSlack
    a: ServerProcess
    b: ServerProcess
    places: list[str]


@asynccontextmanager
async def held_on_replica_a(pg_url: str, tmp_path: Path, count: int) -> AsyncIterator[Held]:
    """Two replicas on PostgreSQL (inbox lease 3 s). Replica A acknowledges `count` slash
    commands "Working on it…" (a sighting each, at "Pier n", response key "kn") and holds
    them (test hook on A only, released by the file `tmp_path/a/release`)."""
    db = Database(pg_url)
    lease = {"TASKFORCE_INBOX_LEASE_SECONDS": "3"}
    async with slack_fake() as fake:
        env_a = slack_env(db, tmp_path / "a", fake, **lease, **hooked())
        env_b = slack_env(db, tmp_path / "b", fake, **lease)
        inbound = SlackInbound("", fake, client=httpx.AsyncClient(timeout=30))
        try:
            async with served(env_a) as a, served(env_b) as b:
                inbound.base_url = a.url
                await slack_setup(inbound)
                places = [f"Pier {n}" for n in range(count)]
                for n, where in enumerate(places):
                    ack = await inbound.command(
                        f'sighting S-1 at "{where}" --note "HOLD"', response_key=f"k{n}"
                    )
                    assert ack.json()["text"] == WORKING
                yield Held(db, fake, a, b, places)
        finally:
            await inbound.aclose()


def _answered_once_each(held: Held) -> None:
    for n, where in enumerate(held.places):
        (response,) = held.fake.responses(f"k{n}")
        assert where in text_of(response)


async def test_a_surviving_replica_runs_what_a_killed_replica_acknowledged_once(
    pg_url: str, tmp_path: Path
) -> None:
    """A holds five commands; while A lives and renews its leases, B leaves them alone.
    kill -9 A: B runs each command once within seconds and answers each response_url once."""
    async with held_on_replica_a(pg_url, tmp_path, 5) as held:
        db, places = held.db, held.places

        async def leases() -> list[tuple[Any, ...]]:
            return await db.rows("SELECT claimed_by, claimed_until, attempts FROM inboxitem")

        first = await leases()
        assert len(first) == len(places) and len({r[0] for r in first}) == 1
        owner, expiry = first[0][0], max(_utc(r[1]) for r in first)

        async def renewed_past_first_lease() -> bool:
            rows = await leases()
            assert all(r[0] == owner and r[2] == 0 for r in rows), rows  # B kept off
            return datetime.now(UTC) > expiry + timedelta(seconds=1) and all(
                _utc(r[1]) > expiry for r in rows
            )

        await wait_until(renewed_past_first_lease, 20, step=0.1)
        assert await db.sightings() == {}
        await crash(held.a)
        killed = time.monotonic()

        def answered() -> bool:
            return all(len(held.fake.responses(f"k{n}")) >= 1 for n in range(len(places)))

        await wait_until(answered, 30)
        took = time.monotonic() - killed
        await wait_until(lambda: _inbox_empty(db), 10)
        await wait_until(lambda: _outbox_empty(db), 30)
        assert len(held.b.events("inbox.recovering")) == len(places)
        assert took < 10, f"the surviving replica took {took:.1f} s"
        assert await db.sightings() == dict.fromkeys(places, 1)
        _answered_once_each(held)
        posts = slack_texts(held.fake.posts("C1"), "Sighting SG-")
        assert mentions(posts, places) == dict.fromkeys(places, 1)


async def test_a_replica_taken_over_while_frozen_does_not_answer_again(
    pg_url: str, tmp_path: Path
) -> None:
    """A holds three commands and is frozen (SIGSTOP) past its lease, so B takes them
    over, runs each once and answers each response_url. A then thaws and finishes the same
    commands: the answer's sending is claimed on the inbox row B has taken, so A sends
    nothing. kill -9 A. Each command was answered exactly once."""
    async with held_on_replica_a(pg_url, tmp_path, 3) as held:
        db, places = held.db, held.places
        held.a.signal(signal.SIGSTOP)
        try:

            def answered() -> bool:
                return all(held.fake.responses(f"k{n}") for n in range(len(places)))

            await wait_until(answered, 30)
            await wait_until(lambda: _inbox_empty(db), 10)
            assert len(held.b.events("inbox.recovering")) == len(places)
            (tmp_path / "a" / "release").touch()  # A's held commands go on…
        finally:
            held.a.signal(signal.SIGCONT)
        # …run as duplicates (B committed them) and find their answers taken.
        await wait_until(lambda: len(held.a.events("slack.answer_taken_over")) == len(places), 30)
        await crash(held.a)
        await wait_until(lambda: _outbox_empty(db), 30)
        assert await db.sightings() == dict.fromkeys(places, 1)
        _answered_once_each(held)


async def test_kill_during_the_answer_repeats_only_the_post_in_flight(
    pg_url: str, tmp_path: Path
) -> None:
    """Two replicas on PostgreSQL (lease 3 s). A's answer to a "Working on it…" command is on
    its way (the fake holds response URLs) when A is killed -9: its claim on the inbox row
    rolls back with its connection, B answers the command, and the one post that was in
    flight (cut with A) is the only other attempt. The command is answered once."""
    db = Database(pg_url)
    lease = {"TASKFORCE_INBOX_LEASE_SECONDS": "3"}
    async with slack_fake() as fake:
        env_a = slack_env(db, tmp_path / "a", fake, **lease, **hooked())
        env_b = slack_env(db, tmp_path / "b", fake, **lease)
        inbound = SlackInbound("", fake, client=httpx.AsyncClient(timeout=30))
        try:
            async with served(env_a) as a, served(env_b) as b:
                inbound.base_url = a.url
                await slack_setup(inbound)
                gate = fake.hold_responses()
                ack = await inbound.command(
                    'sighting S-1 at "Pier 9" --note "HOLD"', response_key="k"
                )
                assert ack.json()["text"] == WORKING
                (tmp_path / "a" / "release").touch()
                await fake.wait_for(lambda: fake.responses_waiting == 1, timeout=30)
                assert await db.inbox_depth() == 1  # claimed for sending, not yet forgotten
                await crash(a)
                await fake.wait_for(lambda: fake.responses_waiting == 2, timeout=30)  # B's
                gate.set()
                await fake.wait_for_responses(1, "k", timeout=30)
                await wait_until(lambda: _inbox_empty(db), 10)
                assert len(b.events("inbox.recovering")) == 1
        finally:
            await inbound.aclose()
        assert await db.sightings() == {"Pier 9": 1}
        (response,) = fake.responses("k")
        assert "Pier 9" in text_of(response)


async def test_a_mention_answered_by_a_stalled_replica_is_not_answered_again(
    pg_url: str, tmp_path: Path
) -> None:
    """Two replicas on PostgreSQL (lease 3 s). A runs a mentioned command and stalls
    (SIGSTOP) while its private answer is on its way to a slow Slack (8 s). The event stays
    A's while its answer is in flight — B, scanning every second, does not take it over and
    answer again — and A, thawed, finishes it: one answer, the inbox empty."""
    db = Database(pg_url)
    lease = {"TASKFORCE_INBOX_LEASE_SECONDS": "3"}
    async with slack_fake() as fake:
        env_a = slack_env(db, tmp_path / "a", fake, **lease)
        env_b = slack_env(db, tmp_path / "b", fake, **lease)
        inbound = SlackInbound("", fake, client=httpx.AsyncClient(timeout=30))
        try:
            async with served(env_a) as a, served(env_b) as b:
                inbound.base_url = a.url
                await slack_setup(inbound)
                fake.slow_next(8, method="chat.postEphemeral")
                ack = await inbound.event(mention("whoami"), event_id="EvSTALL")
                assert ack.status_code == 200
                await wait_until(lambda: bool(fake.calls("chat.postEphemeral")), 20)
                a.signal(signal.SIGSTOP)
                try:
                    (call,) = fake.calls("chat.postEphemeral")
                    await wait_until(lambda: call.answered is not None, 20)
                finally:
                    a.signal(signal.SIGCONT)
                await wait_until(lambda: _inbox_empty(db), 20)
                assert b.events("inbox.recovering") == []
        finally:
            await inbound.aclose()
        answers = [c for c in fake.calls("chat.postEphemeral") if c.args.get("user") == "UADMIN"]
        assert len(answers) == 1, answers
