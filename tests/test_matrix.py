"""Matrix through the real matrix-nio client against a local fake homeserver (port 0).

The served app (uvicorn, the lifespan starts the adapter's sync loop) talks to
`tests/fakes/matrix_hs.py`; posts go through the outbox and its worker.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.adapters.matrix import MatrixAdapter, command_of, parts, pressed, render
from bot.adapters.telegram import TelegramAdapter
from bot.base.clock import ManualClock
from bot.base.messages import Button, Message
from bot.contracts import Invocation
from bot.serving.app import App
from bot.serving.preflight import Status, run_checks
from bot.serving.server import create_app
from bot.store.models import ChannelLink, InboxItem, Operation, OutboxMessage, Sighting
from tests.conftest import AppFactory, make_settings
from tests.fakes.matrix_hs import BOT, FakeHomeserver
from tests.fakes.slack_api import SlackStack, slack_stack, text_of
from tests.fakes.telegram_api import (
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    private_chat,
    tg_user,
)
from tests.serving import serving, wait_until

ANA = "@ana:fake.test"
BO = "@bo:fake.test"
EVE = "@eve:fake.test"
OP = "OP-NIGHTJAR"


# ---------------------------------------------------------------- helpers


async def handled(adapter: MatrixAdapter, hs: FakeHomeserver) -> None:
    """Wait until the adapter has taken and handled everything the server has sent."""
    await wait_until(lambda: adapter.position == f"s{hs.head}")


def bodies(hs: FakeHomeserver, room: str) -> list[str]:
    return [s.body for s in hs.sent(room)]


async def say(
    adapter: MatrixAdapter, hs: FakeHomeserver, room: str, text: str, who: str = ANA
) -> str:
    """`who` writes `text`; wait until handled; what the bot wrote in that room meanwhile."""
    before = len(hs.sent(room))
    hs.say(room, who, text)
    await handled(adapter, hs)
    return "\n".join(s.body for s in hs.sent(room)[before:])


@dataclass
class Matrix:
    """A served app with Matrix only."""

    hs: FakeHomeserver
    app: App
    adapter: MatrixAdapter


@asynccontextmanager
async def served_matrix(
    make_app: AppFactory, db_url: str, hs: FakeHomeserver, **extra: Any
) -> AsyncIterator[Matrix]:
    """One process: the app on `db_url` with Matrix configured, served until the block ends."""
    app = await make_app(
        db_url, TASKFORCE_ADMINS=f"matrix:{ANA},console:admin", **hs.settings(**extra)
    )
    app.extras.pop("scheduler", None)
    asgi = create_app(app.settings, app=app)
    [adapter] = asgi.state.adapters
    assert isinstance(adapter, MatrixAdapter)
    async with serving(asgi):
        await wait_until(lambda: adapter.position is not None)  # the first sync is done
        yield Matrix(hs, app, adapter)


@pytest.fixture
async def mx(make_app: AppFactory, db_url: str) -> AsyncIterator[Matrix]:
    async with FakeHomeserver() as hs, served_matrix(make_app, db_url, hs) as served:
        yield served


async def dm_with_ana(m: Matrix) -> str:
    room = m.hs.invite(ANA, direct=True)
    await handled(m.adapter, m.hs)
    assert BOT in m.hs.rooms[room].members
    return room


# ---------------------------------------------------------------- rendering


def test_commands_are_read_after_the_prefix_and_numbers_as_button_presses() -> None:
    assert command_of({"msgtype": "m.text", "body": "!tf op list"}) == "op list"
    assert command_of({"msgtype": "m.text", "body": "/tf   whoami"}) == "whoami"
    assert command_of({"msgtype": "m.text", "body": "!TF"}) == "help"
    assert command_of({"msgtype": "m.text", "body": "op list"}) is None
    assert command_of({"msgtype": "m.notice", "body": "!tf op list"}) is None  # bots' notices
    assert command_of({"msgtype": "m.text", "body": "!tfx op"}) is None
    reply = {
        "msgtype": "m.text",
        "body": "> <@taskforce:fake.test> Raid R-1\n\n2",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$e9"}},
    }
    assert pressed(reply) == ("$e9", 2)
    assert pressed({"msgtype": "m.text", "body": "2"}) is None  # not a reply


def test_user_text_is_escaped_in_the_html_body() -> None:
    content = render(
        Message(
            title="<b>Ivan</b> & co",
            fields=[("Place", "<img src=x onerror=alert(1)>")],
            lines=["`op list` <script>"],
            buttons=[Button("Done <1>", "raid check R-1 1")],
        )
    )
    html = content["formatted_body"]
    assert content["msgtype"] == "m.notice" and content["format"] == "org.matrix.custom.html"
    assert "<b>&lt;b&gt;Ivan&lt;/b&gt; &amp; co</b>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<code>op list</code> &lt;script&gt;" in html
    assert "1. Done &lt;1&gt; — <code>!tf raid check R-1 1</code>" in html
    assert content["org.taskforce.buttons"] == ["raid check R-1 1"]
    assert "<b>Ivan</b> & co" in content["body"]  # the plain body is as typed


# ---------------------------------------------------------------- served


async def test_invites_are_joined(mx: Matrix) -> None:
    room = mx.hs.invite(ANA, name="Field team")
    await handled(mx.adapter, mx.hs)
    assert BOT in mx.hs.rooms[room].members


async def test_a_command_in_a_room_is_escaped_and_a_redelivered_event_handled_once(
    mx: Matrix,
) -> None:
    dm = await dm_with_ana(mx)
    created = await say(mx.adapter, mx.hs, dm, '!tf op new "<b>Night</b> & jar" --code OP-NJ')
    assert "OP-NJ" in created
    [sent] = mx.hs.sent(dm)
    assert sent.type == "m.room.message" and sent.content["msgtype"] == "m.notice"
    assert "&lt;b&gt;Night&lt;/b&gt; &amp; jar" in sent.html and "<b>Night</b>" not in sent.html
    # The homeserver sends the same event again (same event id): nothing runs or posts twice.
    [event_id] = [
        e for e, (_room, ev) in mx.hs._events.items() if ev["sender"] == ANA and "op new" in str(ev)
    ]
    mx.hs.redeliver(event_id)
    await handled(mx.adapter, mx.hs)
    assert len(mx.hs.sent(dm)) == 1
    async with mx.app.store.transaction() as session:
        assert len((await session.exec(select(Operation))).all()) == 1
    # Plain chatter, and text for other bots, is ignored and writes nothing.
    assert await say(mx.adapter, mx.hs, dm, "good morning") == ""
    assert await say(mx.adapter, mx.hs, dm, "!other op list") == ""


async def test_a_rate_limited_post_waits_retry_after_and_is_delivered_once(
    mx: Matrix, clock: ManualClock
) -> None:
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')
    room = mx.hs.invite(ANA, name="Nightjar room", members=(BO,))
    await handled(mx.adapter, mx.hs)
    assert f"Linked to {OP}" in await say(mx.adapter, mx.hs, room, f"!tf op link {OP}")
    mx.hs.fail_next("send", 429, retry_after_ms=30_000, room_id=room)
    started = clock()
    await say(mx.adapter, mx.hs, dm, "!tf op status active")

    async def row() -> OutboxMessage:
        async with mx.app.store.transaction() as session:
            return (
                await session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.platform == "matrix", OutboxMessage.channel_key == room
                    )
                )
            ).one()

    async def settled(attempts: int) -> bool:
        r = await row()
        return r.attempts == attempts and r.status != "sending"

    await wait_until(lambda: settled(1))
    first = await row()
    assert first.status == "pending"
    assert first.next_attempt_at == started + timedelta(seconds=30)  # retry_after_ms honoured
    clock.advance(timedelta(seconds=30))
    mx.app.worker.notify()
    await wait_until(lambda: settled(2))
    assert (await row()).status == "sent"
    assert len([b for b in bodies(mx.hs, room) if "is now active" in b]) == 1


async def test_a_post_whose_answer_was_lost_is_retried_as_the_same_transaction(
    mx: Matrix, clock: ManualClock
) -> None:
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')
    room = mx.hs.invite(ANA, name="Nightjar room", members=(BO,))
    await handled(mx.adapter, mx.hs)
    assert f"Linked to {OP}" in await say(mx.adapter, mx.hs, room, f"!tf op link {OP}")
    mx.hs.lose_next_answer(room)  # posted, but the bot hears 502
    await say(mx.adapter, mx.hs, dm, "!tf op status active")

    async def status() -> tuple[str, int]:
        async with mx.app.store.transaction() as session:
            row = (
                await session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.platform == "matrix", OutboxMessage.channel_key == room
                    )
                )
            ).one()
        return row.status, row.attempts

    await wait_until(lambda: _is(status(), ("pending", 1)))  # it must try again…
    clock.advance(timedelta(minutes=5))
    mx.app.worker.notify()
    await wait_until(lambda: _is(status(), ("sent", 2)))
    # …and the retry is the same transaction: the room shows the post once.
    assert len([b for b in bodies(mx.hs, room) if "is now active" in b]) == 1


async def _is(value: Awaitable[tuple[str, int]], wanted: tuple[str, int]) -> bool:
    return await value == wanted


async def test_a_private_answer_goes_to_a_dm_room_the_bot_opens(mx: Matrix) -> None:
    room = mx.hs.invite(ANA, name="Field team", members=(BO,))
    await handled(mx.adapter, mx.hs)
    said = await say(mx.adapter, mx.hs, room, "!tf whoami")
    assert "sent you the answer in a private chat" in said
    dm = mx.hs.direct_room(ANA)
    assert dm is not None and dm != room
    assert any("matrix" in b and ANA in b for b in bodies(mx.hs, dm))
    # The DM room is remembered: the next private answer goes to the same room.
    await say(mx.adapter, mx.hs, room, "!tf whoami")
    assert mx.hs.direct_room(ANA) == dm and len(bodies(mx.hs, dm)) == 2


async def test_a_numbered_reply_presses_the_button(mx: Matrix) -> None:
    dm = await dm_with_ana(mx)
    said = await say(mx.adapter, mx.hs, dm, "!tf help")
    assert said
    # A message of the bot's with buttons (the raid checklist's are built the same way).
    event_id = await mx.adapter.out.post(
        dm, Message(title="Pick", buttons=[Button("Who am I", "whoami"), Button("Help", "help")])
    )
    await handled(mx.adapter, mx.hs)
    before = len(mx.hs.sent(dm))
    mx.hs.say(
        dm,
        ANA,
        "> <@taskforce:fake.test> Pick\n\n1",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": event_id}}},
    )
    await handled(mx.adapter, mx.hs)
    [answer] = mx.hs.sent(dm)[before:]
    assert ANA in answer.body  # whoami's answer
    # A number replying to someone else's message presses nothing.
    other = mx.hs.say(dm, BO, "pick one")
    mx.hs.say(dm, ANA, "1", **{"m.relates_to": {"m.in_reply_to": {"event_id": other}}})
    await handled(mx.adapter, mx.hs)
    assert len(mx.hs.sent(dm)) == before + 1


async def test_a_restart_resumes_from_the_saved_sync_token_without_repeats(
    make_app: AppFactory, db_url: str
) -> None:
    async with FakeHomeserver() as hs:
        async with served_matrix(make_app, db_url, hs) as first:
            dm = await dm_with_ana(first)
            assert ANA in await say(first.adapter, hs, dm, "!tf whoami")
            saved = first.adapter.position
        # While no process runs, Ana writes again.
        hs.say(dm, ANA, '!tf op new "Nightjar" --code OP-NJ')
        async with served_matrix(make_app, db_url, hs) as second:
            await handled(second.adapter, hs)
            assert hs.syncs.count(None) == 1  # only the very first start synced from nothing
            assert saved in hs.syncs[hs.syncs.index(saved) :]  # the second resumed from it
            said = bodies(hs, dm)
            assert len([b for b in said if ANA in b and "matrix" in b]) == 1  # not repeated
            assert len([b for b in said if "OP-NJ" in b]) == 1  # not missed


# ---------------------------------------------------------------- cross-platform

SECRET = "s3cret-Token_1"
TG_ANA = tg_user(1001, "Ana", "ana")
TG_DM = private_chat(TG_ANA)
FIELD = group_chat(-1001, "Nightjar field team")


@dataclass
class Three:
    """Slack, Telegram and Matrix in one served app."""

    slack: SlackStack
    tg: FakeBotAPI
    telegram_adapter: TelegramAdapter
    hs: FakeHomeserver
    matrix: MatrixAdapter
    client: httpx.AsyncClient
    updates: UpdateFactory

    async def telegram(self, text: str, chat: dict[str, Any]) -> str:
        before = len(self.tg.sent())
        update = self.updates.command(text, user=TG_ANA, chat=chat)
        assert (await post_update(self.client, update, SECRET)).status_code == 200
        await self.telegram_adapter.idle()
        return "\n".join(m.plain for m in self.tg.sent()[before:])

    async def on_slack(self, text: str) -> str:
        resp = await self.slack.inbound.command(text, channel="C1", channel_name="ops-room")
        assert resp.status_code == 200, resp.text
        return text_of(resp.json())

    async def invite_code(self) -> str:
        said = await self.on_slack(f"op invite {OP} --role lead")
        found = re.search(r"\*Code\*\s+`?([A-Z0-9]+)", said)
        assert found is not None, said
        return found.group(1)


@pytest.fixture
async def three(make_app: AppFactory, db_url: str) -> AsyncIterator[Three]:
    async with FakeBotAPI() as tg, FakeHomeserver() as hs:
        settings = {**tg.settings(SECRET), **hs.settings()}
        settings["TASKFORCE_ADMINS"] = "slack:T1/UADMIN,telegram:1001,console:admin"
        async with slack_stack(make_app, db_url, **settings) as slack:
            slack.app.extras.pop("scheduler", None)
            tga = slack.app.extras["telegram_adapter"]
            mxa = slack.app.extras["matrix_adapter"]
            assert isinstance(tga, TelegramAdapter) and isinstance(mxa, MatrixAdapter)
            await wait_until(lambda: mxa.position is not None)
            async with httpx.AsyncClient(base_url=slack.base_url) as client:
                yield Three(slack, tg, tga, hs, mxa, client, UpdateFactory())


async def test_sightings_cross_between_matrix_slack_and_telegram(three: Three) -> None:
    t = three
    await t.on_slack(f'op new "Nightjar" --code {OP}')
    assert f"Linked to {OP}" in await t.on_slack(f"op link {OP}")
    assert "Welcome" in await t.telegram(f"/join {await t.invite_code()}", TG_DM)
    assert f"Linked to {OP}" in await t.telegram(f"/op link {OP}", FIELD)
    added = await t.telegram(f'/subject add {OP} person "Ivan Petrov" --category suspect', TG_DM)
    assert "Added S-1 Ivan Petrov" in added
    dm = t.hs.invite(ANA, direct=True)
    room = t.hs.invite(ANA, name="Nightjar on Matrix", members=(BO,))
    await handled(t.matrix, t.hs)
    assert "Welcome" in await say(t.matrix, t.hs, dm, f"!tf join {await t.invite_code()}")
    assert f"Linked to {OP}" in await say(t.matrix, t.hs, room, f"!tf op link {OP}")

    # Typed in the Matrix room: reaches the Slack channel and the Telegram group.
    said = await say(t.matrix, t.hs, room, '!tf sighting S-1 at "Porto <Ribeira>" --grade B2')
    assert "SG-1" in said

    async def sent(ref: str, n: int) -> bool:
        async with t.slack.app.store.transaction() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        mine = [r for r in rows if r.kind == "sighting" and r.object_ref == f"{OP}/{ref}"]
        return len(mine) == n and {r.status for r in mine} == {"sent"}

    async def where(ref: str) -> list[tuple[str, str]]:
        async with t.slack.app.store.transaction() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        return sorted(
            (r.platform, r.channel_key)
            for r in rows
            if r.kind == "sighting" and r.object_ref == f"{OP}/{ref}"
        )

    linked = [("matrix", room), ("slack", "C1"), ("telegram", str(FIELD["id"]))]
    await wait_until(lambda: sent("SG-1", 3))
    assert await where("SG-1") == linked
    [on_slack] = [p for p in t.slack.fake.posts("C1") if "SG-1" in json.dumps(p)]
    assert "Porto <Ribeira>" in text_of(on_slack["blocks"]) or "Porto &lt;Ribeira&gt;" in (
        json.dumps(on_slack)
    )
    [on_tg] = [m for m in t.tg.sent(FIELD["id"]) if "SG-1" in m.plain and m.reply_to is None]
    assert "Porto <Ribeira>" in on_tg.plain
    assert len([b for b in bodies(t.hs, room) if b.startswith("Sighting SG-1 —")]) == 1

    # And the other way: typed in the Telegram group, it reaches the Matrix room and Slack.
    reply = await t.telegram('/sighting S-1 at "Lisbon & <Tejo>" --grade B2', FIELD)
    assert "SG-2" in reply
    await wait_until(lambda: sent("SG-2", 3))
    assert await where("SG-2") == linked
    [on_matrix] = [s for s in t.hs.sent(room) if s.body.startswith("Sighting SG-2 —")]
    assert on_matrix.content["msgtype"] == "m.notice"
    assert "Lisbon &amp; &lt;Tejo&gt;" in on_matrix.html and "<Tejo>" not in on_matrix.html
    assert [p for p in t.slack.fake.posts("C1") if "SG-2" in json.dumps(p)]
    async with t.slack.app.store.transaction() as session:
        assert len((await session.exec(select(Sighting))).all()) == 2


async def test_an_outsider_in_a_linked_room_learns_nothing(mx: Matrix) -> None:
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')
    room = mx.hs.invite(ANA, name="Nightjar room", members=(BO,))
    await handled(mx.adapter, mx.hs)
    assert f"Linked to {OP}" in await say(mx.adapter, mx.hs, room, f"!tf op link {OP}")
    async with mx.app.store.transaction() as session:
        ops_before = len((await session.exec(select(Operation))).all())
    for line in ("!tf op status", "!tf subject list", f"!tf op show {OP}", "!tf sighting x at y"):
        said = await say(mx.adapter, mx.hs, room, line, who=BO)
        assert "Nightjar" not in said, (line, said)
    async with mx.app.store.transaction() as session:
        assert len((await session.exec(select(Operation))).all()) == ops_before
        assert (await session.exec(select(Sighting))).all() == []


async def test_an_event_a_stopped_process_took_in_is_finished_by_another_once(
    make_app: AppFactory, db_url: str, clock: ManualClock
) -> None:
    async with FakeHomeserver() as hs, served_matrix(make_app, db_url, hs) as m:
        dm = await dm_with_ana(m)
        # A process acknowledged this event (inbox row, sync token saved) and died.
        dead = await make_app(db_url, **hs.settings())
        event = {
            "type": "m.room.message",
            "sender": ANA,
            "content": {"msgtype": "m.text", "body": "!tf whoami"},
            "event_id": "$dead1",
            "room_id": dm,
        }
        payload = {"room_id": dm, "event": event}
        assert await dead.inbox.accept("matrix", "$dead1", "matrix_event", payload)
        clock.advance(timedelta(seconds=m.app.settings.inbox_lease_seconds + 1))
        m.app.inbox.poke()
        await wait_until(lambda: any(ANA in b for b in bodies(hs, dm)))
        # Recovered once: the row is gone, and the same event again posts nothing.
        assert await m.app.inbox.recover_once() == 0
        hs._events["$dead1"] = (dm, event)
        hs.redeliver("$dead1")
        await handled(m.adapter, hs)
        assert len([b for b in bodies(hs, dm) if ANA in b]) == 1


async def test_a_private_announcement_reaches_a_matrix_lead_in_her_dm_room(mx: Matrix) -> None:
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')  # Ana leads it
    reply = await mx.app.console.push(
        f'op access {OP} --reason "audit of case 12"', as_="admin", is_group=False
    )
    assert reply.ok, reply.message.plain_text()
    assert "sent privately to" in reply.message.plain_text()
    await mx.app.worker.drain()
    await wait_until(lambda: any("Break-glass access" in b for b in bodies(mx.hs, dm)))
    [note] = [s for s in mx.hs.sent(dm) if "Break-glass access" in s.body]
    assert "audit of case 12" in note.body and note.content["msgtype"] == "m.notice"


async def test_taskforce_check_probes_the_homeserver(tmp_path: Path, sqlite_url: str) -> None:
    async with FakeHomeserver() as hs:
        good = make_settings(sqlite_url, tmp_path, **hs.settings())
        rows = {r.check: r for r in await run_checks(good)}
        assert rows["matrix"].status is Status.OK and rows["matrix"].detail == f"whoami: {BOT}"
        assert "Matrix" in rows["configuration"].detail
        bad = make_settings(sqlite_url, tmp_path, **hs.settings(MATRIX_ACCESS_TOKEN="wrong"))
        row = {r.check: r for r in await run_checks(bad)}["matrix"]
        assert (
            row.status is Status.FAIL and row.detail == "whoami refused the token: M_UNKNOWN_TOKEN"
        )
        login = make_settings(
            sqlite_url,
            tmp_path,
            **hs.settings(MATRIX_ACCESS_TOKEN=None),
            MATRIX_USER_ID=BOT,
            MATRIX_PASSWORD="secret",
        )
        assert {r.check: r for r in await run_checks(login)}["matrix"].status is Status.OK


def test_a_long_message_is_cut_between_lines_with_the_buttons_on_the_last_part() -> None:
    lines = [f"line {i} " + "ж" * 90 for i in range(400)]
    message = Message(
        title="Long", lines=lines, context="OP · TLP:AMBER", buttons=[Button("Go", "help")]
    )
    cut = parts(message, limit=5000)
    assert len(cut) > 1 and all(len(p.plain_text()) <= 5000 for p in cut)
    assert [line for p in cut for line in p.lines] == lines  # nothing lost, in order
    assert cut[0].title == "Long" and all(not p.title for p in cut[1:])
    assert cut[-1].buttons and not any(p.buttons for p in cut[:-1])
    # The homeserver measures the event as UTF-8 JSON.
    assert all(
        len(json.dumps(render(p), ensure_ascii=False).encode()) < 65_536 for p in parts(message)
    )


# ---------------------------------------------------------------- bursts (issue 30)


def gap_fetches(hs: FakeHomeserver) -> int:
    """`/messages` requests the bot made (each page of a gap)."""
    return sum(1 for r in hs.requests if r.startswith("GET") and r.endswith("/messages"))


@pytest.fixture
async def busy(make_app: AppFactory, db_url: str) -> AsyncIterator[Matrix]:
    """A served app whose members may type faster than the default rate limit."""
    async with (
        FakeHomeserver() as hs,
        served_matrix(make_app, db_url, hs, TASKFORCE_RATE_LIMIT_PER_MINUTE=10_000) as served,
    ):
        yield served


async def burst(m: Matrix, room: str, n: int, start: int = 0) -> list[str]:
    """`n` sightings typed at once (one sync sees them all); the places, in order."""
    places = [f"Pier {i}" for i in range(start, start + n)]
    for place in places:
        m.hs.say(room, ANA, f'!tf sighting S-1 at "{place}"')
    await handled(m.adapter, m.hs)
    return places


async def stored_places(app: App) -> list[str]:
    async with app.store.transaction() as session:
        rows = (await session.exec(select(Sighting).order_by(Sighting.id))).all()  # type: ignore[arg-type]
    return [r.location for r in rows]


async def test_a_burst_larger_than_the_server_sends_is_fetched_from_the_gap(busy: Matrix) -> None:
    mx = busy
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')
    await say(mx.adapter, mx.hs, dm, '!tf subject add person "Ivan Petrov" --category suspect')
    # 30 commands in one sync: more than a sync without a filter holds (10), none cut.
    first = await burst(mx, dm, 30)
    assert gap_fetches(mx.hs) == 0
    assert await stored_places(mx.app) == first
    # The server cuts the timeline to 5 (`limited`): the other 25 are paged back, in order,
    # before the token moves; each is answered once.
    mx.hs.timeline_cap = 5
    second = await burst(mx, dm, 30, start=30)
    assert gap_fetches(mx.hs) >= 1
    assert await stored_places(mx.app) == first + second
    answers = [b for b in bodies(mx.hs, dm) if b.startswith("Recorded Sighting SG-")]
    assert len(answers) == 60 == len(set(answers))
    assert [int(re.findall(r"SG-(\d+)", b)[0]) for b in answers] == list(range(1, 61))


async def test_a_gap_the_server_will_not_give_keeps_the_token_until_it_does(busy: Matrix) -> None:
    mx = busy
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')
    await say(mx.adapter, mx.hs, dm, '!tf subject add person "Ivan Petrov" --category suspect')
    mx.hs.timeline_cap = 5
    mx.hs.fail_next("messages", 502, errcode="M_UNKNOWN")
    before = mx.adapter.position
    places = await burst(mx, dm, 12)
    # The sync after the refused gap asked again from where the bot stood.
    assert mx.hs.syncs.count(before) >= 2
    assert await stored_places(mx.app) == places
    assert len([b for b in bodies(mx.hs, dm) if b.startswith("Recorded Sighting SG-")]) == 12


# ---------------------------------------------------------------- private means private


async def test_a_direct_room_with_a_third_person_gets_no_private_answer(
    make_app: AppFactory, db_url: str
) -> None:
    async with (
        FakeHomeserver() as hs,
        served_matrix(make_app, db_url, hs, TASKFORCE_PUBLIC_URL="https://tf.example") as m,
    ):
        # Ana's client says `is_direct`, but Eve is in the room too.
        shared = hs.invite(ANA, direct=True, members=(EVE,))
        await handled(m.adapter, hs)
        await say(m.adapter, hs, shared, f'!tf op new "Nightjar" --code {OP}')
        # Linked, the room is a group (its posts follow a group's ceiling), not Ana's chat.
        assert f"Linked to {OP}" in await say(m.adapter, hs, shared, f"!tf op link {OP}")
        async with m.app.store.transaction() as session:
            [link] = (await session.exec(select(ChannelLink))).all()
        assert link.channel_key == shared and link.is_group
        said = await say(m.adapter, hs, shared, "!tf room")
        assert "/room/login?t=" not in said and "private chat" in said
        dm = hs.direct_room(ANA)
        assert dm is not None and dm != shared
        [link] = [b for b in bodies(hs, dm) if "/room/login?t=" in b]
        assert "Situation room" in link
        assert hs.rooms[dm].created["initial_state"] == [
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "invited"},
            },
            {  # and end-to-end encrypted
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            },
        ]


async def test_a_person_who_joins_during_a_command_is_counted_before_the_answer(
    mx: Matrix,
) -> None:
    dm = await dm_with_ana(mx)
    assert "Admin: yes" in await say(mx.adapter, mx.hs, dm, "!tf whoami")  # private: here

    async def eve_joins(inv: Invocation) -> None:
        mx.hs.join(dm, EVE)

    mx.app.core.before_transaction = eve_joins  # after the room was counted for the command
    said = await say(mx.adapter, mx.hs, dm, "!tf whoami")
    assert "Admin: yes" not in said and "private chat" in said
    # The answer went to a new DM room: the old one is no longer Ana's alone.
    new = mx.hs.direct_room(ANA)
    assert new not in (None, dm)
    assert any("Admin: yes" in b for b in bodies(mx.hs, new or ""))


async def test_no_private_answer_before_the_member_accepts_the_direct_chat(mx: Matrix) -> None:
    room = mx.hs.invite(ANA, name="Field team", members=(BO,))
    await handled(mx.adapter, mx.hs)
    mx.hs.accept_invites = False
    said = await say(mx.adapter, mx.hs, room, "!tf whoami")
    assert "accept my invitation" in said and "Admin: yes" not in said
    [dm] = [r.room_id for r in mx.hs.rooms.values() if ANA in r.invited]
    assert bodies(mx.hs, dm) == []  # nothing private where nobody confirmed who reads
    assert "accept my invitation" in await say(mx.adapter, mx.hs, room, "!tf whoami")
    assert bodies(mx.hs, dm) == []
    mx.hs.join(dm, ANA)
    assert "private chat" in await say(mx.adapter, mx.hs, room, "!tf whoami")
    assert any("Admin: yes" in b for b in bodies(mx.hs, dm))


async def test_a_reply_sent_again_after_a_crash_is_the_same_event(
    make_app: AppFactory, db_url: str, clock: ManualClock
) -> None:
    async with FakeHomeserver() as hs, served_matrix(make_app, db_url, hs) as m:
        dm = await dm_with_ana(m)
        await say(m.adapter, hs, dm, "!tf whoami")
        [(event_id, event)] = [(e, ev) for e, (_r, ev) in hs._events.items() if ev["sender"] == ANA]
        # A process answered it and died before forgetting it: its inbox row is left.
        dead = await make_app(db_url, **hs.settings())
        assert await dead.inbox.accept(
            "matrix", event_id, "matrix_event", {"room_id": dm, "event": event}
        )
        clock.advance(timedelta(seconds=m.app.settings.inbox_lease_seconds + 1))
        m.app.inbox.poke()
        await wait_until(lambda: _inbox_empty(m.app))
        # Recovery delivers the stored answer again, as the same transaction: shown once.
        assert len([b for b in bodies(hs, dm) if "Admin: yes" in b]) == 1
        assert len([r for r in hs.requests if "/send/" in r]) == 2


async def _inbox_empty(app: App) -> bool:
    async with app.store.transaction() as session:
        return not (await session.exec(select(InboxItem))).all()


async def test_a_post_to_a_room_linked_as_private_is_withheld_once_a_third_person_joins(
    mx: Matrix,
) -> None:
    dm = await dm_with_ana(mx)
    await say(mx.adapter, mx.hs, dm, f'!tf op new "Nightjar" --code {OP}')
    assert f"Linked to {OP}" in await say(mx.adapter, mx.hs, dm, f"!tf op link {OP}")
    async with mx.app.store.transaction() as session:
        [link] = (await session.exec(select(ChannelLink))).all()
    assert link.channel_key == dm and not link.is_group  # Ana's chat: posts written for her
    room = mx.hs.invite(ANA, name="Nightjar room", members=(BO,))
    await handled(mx.adapter, mx.hs)

    async def post_statuses() -> list[str]:
        async with mx.app.store.transaction() as session:
            rows = await session.exec(select(OutboxMessage).where(OutboxMessage.channel_key == dm))
            return [r.status for r in rows.all()]

    await say(mx.adapter, mx.hs, room, "!tf op status active")
    await wait_until(lambda: _is(post_statuses(), ["sent"]))
    assert any("is now active" in b for b in bodies(mx.hs, dm))
    mx.hs.join(dm, EVE)  # the room is no longer Ana's alone
    await handled(mx.adapter, mx.hs)
    await say(mx.adapter, mx.hs, room, "!tf op status suspended")
    await wait_until(lambda: _is(post_statuses(), ["sent", "dead"]))
    assert not any("is now suspended" in b for b in bodies(mx.hs, dm))


async def test_a_batch_that_fails_mid_way_leaves_its_commands_to_the_recovery_not_a_restart(
    mx: Matrix,
) -> None:
    dm = await dm_with_ana(mx)
    gateway = mx.adapter.gateway
    save = gateway.save_cursor
    failed: list[str] = []

    async def fails_once(platform: str, name: str, value: str) -> None:
        if name == "sync" and not failed:
            failed.append(value)
            raise OSError("the store went away")  # after the batch's commands were taken
        await save(platform, name, value)

    gateway.save_cursor = fails_once  # type: ignore[method-assign]
    mx.hs.say(dm, ANA, "!tf whoami")
    # The process goes on (no restart): the command is answered, once, and leaves the inbox.
    await wait_until(lambda: any("Admin: yes" in b for b in bodies(mx.hs, dm)), 30)
    assert failed
    await handled(mx.adapter, mx.hs)

    async def inbox_empty() -> bool:
        async with mx.app.store.transaction() as session:
            return not (await session.exec(select(InboxItem))).all()

    await wait_until(inbox_empty, 30)
    assert len([b for b in bodies(mx.hs, dm) if "Admin: yes" in b]) == 1
