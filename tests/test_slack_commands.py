"""Slack end to end: signed slash commands, clicks and events into the served app (uvicorn,
real slack-bolt); Block Kit answers, response-URL replies, posts and uploads out to the fake
Slack Web API (real slack-sdk)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.base.clock import ManualClock
from bot.serving.bootstrap import ensure_admins
from bot.store.engine import Store
from bot.store.inbox import pending
from bot.store.models import (
    AuditEntry,
    ChannelLink,
    Identity,
    Member,
    Operation,
    OutboxMessage,
    ProcessedEvent,
)
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, count, snapshot
from tests.fakes.slack_api import SlackStack, slack_stack, text_of
from tests.fieldintel import RED
from tests.serving import wait_until


@pytest.fixture
async def slack(make_app: AppFactory, sqlite_url: str) -> AsyncIterator[SlackStack]:
    """The served app on SQLite, with the fake Slack."""
    async with slack_stack(make_app, sqlite_url) as stack:
        yield stack


@pytest.fixture
async def any_slack(make_app: AppFactory, db_url: str) -> AsyncIterator[SlackStack]:
    """The same on SQLite and on PostgreSQL, for what depends on the store."""
    async with slack_stack(make_app, db_url) as stack:
        yield stack


async def ok(slack: SlackStack, line: str, **kw: object) -> dict[str, object]:
    """Run a command that must succeed quickly; return the ack body."""
    resp = await slack.inbound.command(line, **kw)
    assert resp.status_code == 200, resp.text
    body: dict[str, object] = resp.json()
    return body


async def linked_operation(slack: SlackStack) -> None:
    """OP-NIGHT-HARBOUR, linked to C1 (#ops-room) up to AMBER."""
    await ok(slack, 'op new "Night Harbour" --code OP-NIGHT-HARBOUR')
    body = await ok(slack, "op link")
    assert "Linked to OP-NIGHT-HARBOUR" in text_of(body), body


async def test_op_new_answers_in_the_ack_with_block_kit(slack: SlackStack) -> None:
    body = await ok(slack, 'op new "Night Harbour" --countries ES,PT')
    # #ops-room is not linked to the new operation: only its creator sees the answer.
    assert body["response_type"] == "ephemeral"
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "OP-NIGHT-HARBOUR created", "emoji": True},
    }
    assert "*Countries*\nES, PT" in text_of(blocks)
    assert body["text"] == "OP-NIGHT-HARBOUR created"
    async with slack.app.store.transaction() as s:
        ident = (await s.exec(select(Identity).where(Identity.key == "T1/UADMIN"))).one()
        assert ident.platform == "slack"


async def test_status_change_is_posted_to_the_linked_channel_by_the_outbox(
    any_slack: SlackStack,
) -> None:
    slack = any_slack
    await linked_operation(slack)
    body = await ok(slack, "op status active")
    assert "OP-NIGHT-HARBOUR is now active (was planning)" in text_of(body)
    posts = await slack.fake.wait_for_posts(1, "C1")
    assert len(posts) == 1
    assert posts[0]["text"] == "OP-NIGHT-HARBOUR is now active"
    assert posts[0]["blocks"][0]["type"] == "header"
    assert "*TLP:GREEN*" in text_of(posts[0]["blocks"])
    assert posts[0]["unfurl_links"] is False


async def test_private_replies_are_ephemeral(slack: SlackStack) -> None:
    await linked_operation(slack)
    body = await ok(slack, "op invite --role member")
    assert body["response_type"] == "ephemeral"
    assert "Invite to OP-NIGHT-HARBOUR" in text_of(body)


async def test_op_link_in_a_channel_the_bot_is_not_in_is_refused_with_the_fix(
    any_slack: SlackStack,
) -> None:
    slack = any_slack
    slack.fake.add_channel("C2", "smugglers-watch", member=False)
    slack.fake.add_channel("C3", "old-ops", archived=True)
    await ok(slack, 'op new "Night Harbour" --code OP-NIGHT-HARBOUR')
    before = await snapshot(slack.app.store)

    body = await ok(slack, "op link OP-NIGHT-HARBOUR", channel="C2", channel_name="smugglers-watch")
    said = text_of(body)
    assert "not a member of #smugglers-watch" in said
    assert "`/invite @Taskforce`" in said
    assert body["response_type"] == "ephemeral"

    body = await ok(slack, "op link OP-NIGHT-HARBOUR", channel="G9", channel_name="private-x")
    assert "cannot see #private-x" in text_of(body)
    assert "`/invite @Taskforce`" in text_of(body)

    body = await ok(slack, "op link OP-NIGHT-HARBOUR", channel="C3", channel_name="old-ops")
    assert "archived" in text_of(body)

    changes = changed_tables(before, await snapshot(slack.app.store))
    assert "channellink" not in changes
    assert await count(slack.app.store, "channellink") == 0


async def test_user_text_arrives_escaped_in_posts_and_replies(slack: SlackStack) -> None:
    await linked_operation(slack)
    body = await ok(slack, 'subject add person "Ana <!channel> & <@U123>" --category suspect')
    said = text_of(body)
    assert "Ana &lt;!channel&gt; &amp; &lt;@U123&gt;" in said
    assert "<!channel>" not in json.dumps(body)

    await ok(slack, 'sighting S-1 at "Pier <http://evil.example|click me> <!here>"')
    posts = await slack.fake.wait_for_posts(1, "C1")
    dumped = json.dumps(posts[0])
    for raw in ("<!channel>", "<!here>", "<@U123>", "<http://evil.example|click me>"):
        assert raw not in dumped
    assert "&lt;http://evil.example|click me&gt;" in text_of(posts[0]["blocks"])
    assert "&amp;amp;" not in dumped  # escaped exactly once


async def test_a_match_is_prominent_in_the_post(slack: SlackStack) -> None:
    await linked_operation(slack)
    await ok(slack, 'subject add person "Ivan Petrov" --category suspect')
    await ok(slack, f'notice record red S-1 {RED} --charges "trafficking in human beings"')
    await ok(slack, 'sighting S-1 at "Algeciras port"')
    posts = await slack.fake.wait_for_posts(2, "C1")
    match = [p for p in posts if "MATCH" in p["text"]]
    assert len(match) == 1, [p["text"] for p in posts]
    header = match[0]["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"].startswith(":rotating_light: MATCH")


async def test_a_button_click_runs_its_command_as_the_clicker(slack: SlackStack) -> None:
    await linked_operation(slack)
    await ok(slack, 'subject add person "Ivan Petrov" --category suspect')
    await ok(slack, 'sighting S-1 at "Algeciras port"')
    (post,) = await slack.fake.wait_for_posts(1, "C1")
    buttons = [el for b in post["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [
        ("Subject S-1", "subject show OP-NIGHT-HARBOUR/S-1")
    ]
    assert buttons[0]["action_id"].startswith("tf_cmd")

    resp = await slack.inbound.click(buttons[0]["value"], response_key="click-1")
    assert resp.status_code == 200
    (answer,) = await slack.fake.wait_for_responses(1, "click-1")
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False
    assert "Ivan Petrov" in text_of(answer)

    # The clicker's own rights apply: a stranger's click shows nothing and changes nothing.
    await wait_until(lambda: inbox_is_empty(slack.app.store))
    before = await snapshot(slack.app.store)
    await slack.inbound.click(buttons[0]["value"], user="U777", user_name="x", response_key="c2")
    (refusal,) = await slack.fake.wait_for_responses(1, "c2")
    assert "not registered" in text_of(refusal)
    assert "Ivan" not in text_of(refusal)
    # The click left the inbox once its answer was handed over (the row goes just after).
    await wait_until(lambda: inbox_is_empty(slack.app.store))
    changes = changed_tables(before, await snapshot(slack.app.store))
    assert set(changes) <= {"processedevent"}, changes


async def test_slow_command_acks_at_once_and_replies_through_the_response_url(
    make_app: AppFactory, sqlite_url: str
) -> None:
    # A zero budget makes every command "slow": the ack cannot wait for the reply.
    async with slack_stack(make_app, sqlite_url, SLACK_ACK_SECONDS=0) as slack:
        resp = await slack.inbound.command('op new "Night Harbour"', response_key="slow-1")
        assert resp.status_code == 200
        assert resp.json() == {"text": "Working on it…", "response_type": "ephemeral"}
        (reply,) = await slack.fake.wait_for_responses(1, "slow-1")
        # About an operation #ops-room is not linked to: the creator's alone.
        assert reply["response_type"] == "ephemeral"
        assert "OP-NIGHT-HARBOUR created" in text_of(reply)
        assert await count(slack.app.store, "operation") == 1


async def test_shutdown_delivers_the_replies_still_in_flight(
    make_app: AppFactory, sqlite_url: str
) -> None:
    async with slack_stack(make_app, sqlite_url, SLACK_ACK_SECONDS=0) as slack:
        fake, adapter = slack.fake, slack.adapter
        gate = fake.hold_responses()
        resp = await slack.inbound.command('op new "Night Harbour"', response_key="late-1")
        assert resp.json()["text"] == "Working on it…"
        await fake.wait_for(lambda: fake.responses_waiting == 1)

        async def release_once_stopping() -> None:
            await wait_until(lambda: adapter.ready() == "stopped")
            gate.set()

        releaser = asyncio.create_task(release_once_stopping())
    await releaser
    # The server stopped while the reply was in flight: the adapter waited for it.
    (reply,) = fake.responses("late-1")
    assert "OP-NIGHT-HARBOUR created" in text_of(reply)


async def test_a_repeated_command_is_processed_once(any_slack: SlackStack) -> None:
    slack = any_slack
    first = await ok(slack, 'op new "Night Harbour"', trigger_id="trig-same")
    again = await ok(slack, 'op new "Night Harbour"', trigger_id="trig-same")
    assert text_of(again) == text_of(first)
    assert "OP-NIGHT-HARBOUR created" in text_of(again)  # the first answer, not "taken"
    assert await count(slack.app.store, "operation") == 1
    async with slack.app.store.transaction() as s:
        rows = (await s.exec(select(ProcessedEvent))).all()
    assert [r.event_key for r in rows] == ["cmd:trig-same"]


async def test_the_same_command_twice_at_once_is_processed_once(any_slack: SlackStack) -> None:
    slack = any_slack
    answers = await asyncio.gather(
        *(ok(slack, 'op new "Night Harbour"', trigger_id="trig-twin") for _ in range(2))
    )
    assert [("OP-NIGHT-HARBOUR created" in text_of(a)) for a in answers] == [True, True]
    assert await count(slack.app.store, "operation") == 1
    assert await count(slack.app.store, "processedevent") == 1


async def test_a_retried_event_is_processed_once(any_slack: SlackStack) -> None:
    slack = any_slack
    dm = slack.fake.add_im("UADMIN")
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": dm,
        "user": "UADMIN",
        "text": 'op new "Harbour &amp; Coast"',
        "ts": "1700000001.000100",
    }
    resp = await slack.inbound.event(event, event_id="Ev1")
    assert resp.status_code == 200
    await slack.fake.wait_for_posts(1, dm)
    await slack.adapter.drain()
    retry = await slack.inbound.event(event, event_id="Ev1", retry_num=1)
    assert retry.status_code == 200
    await slack.adapter.drain()
    posts = slack.fake.posts(dm)
    assert len(posts) == 1
    assert "OP-HARBOUR-COAST created" in text_of(posts[0])
    assert "Harbour &amp; Coast" in text_of(posts[0])  # unescaped on the way in, once out
    async with slack.app.store.transaction() as s:
        ops = (await s.exec(select(Operation))).all()
    assert [o.name for o in ops] == ["Harbour & Coast"]


async def test_the_bots_own_messages_and_edits_are_ignored(slack: SlackStack) -> None:
    dm = slack.fake.add_im("UADMIN")
    base = {"type": "message", "channel_type": "im", "channel": dm, "ts": "1.1"}
    await slack.inbound.event({**base, "bot_id": "BBOT", "text": "op list"}, event_id="Ev2")
    await slack.inbound.event(
        {**base, "user": "UADMIN", "subtype": "message_changed", "text": "op list"},
        event_id="Ev3",
    )
    await slack.adapter.drain()
    assert slack.fake.posts(dm) == []
    assert await count(slack.app.store, "processedevent") == 0


async def test_a_mention_in_a_channel_is_answered_privately(slack: SlackStack) -> None:
    await linked_operation(slack)
    event = {
        "type": "app_mention",
        "channel": "C1",
        "user": "UADMIN",
        "text": "<@UBOT> op invite",
        "ts": "1700000002.000100",
    }
    assert (await slack.inbound.event(event, event_id="Ev4")).status_code == 200
    await slack.fake.wait_for(lambda: len(slack.fake.ephemerals("C1")) == 1)
    (eph,) = slack.fake.ephemerals("C1")
    assert eph["user"] == "UADMIN"
    assert "Invite to OP-NIGHT-HARBOUR" in text_of(eph)


async def test_url_verification_is_answered(slack: SlackStack) -> None:
    body = json.dumps({"token": "x", "challenge": "chal-123", "type": "url_verification"})
    resp = await slack.inbound.send(body, content_type="application/json")
    assert resp.status_code == 200
    assert "chal-123" in resp.text


async def test_join_takes_the_name_from_the_slack_profile(slack: SlackStack) -> None:
    await linked_operation(slack)
    body = await ok(slack, "op invite --role member")
    code = next(v for k, v in _fields(body) if k == "Code")
    slack.fake.add_user("U2", "ana.r", "Ana Ruiz")
    body = await ok(slack, f"join {code}", user="U2", user_name="ana.r")
    assert "OP-NIGHT-HARBOUR" in text_of(body), body
    async with slack.app.store.transaction() as s:
        ident = (await s.exec(select(Identity).where(Identity.key == "T1/U2"))).one()
        member = await s.get(Member, ident.member_id)
    assert member is not None and member.name == "Ana Ruiz"
    who = await ok(slack, "whoami", user="U2", user_name="ana.r")
    assert "T1/U2" in text_of(who)


async def test_export_files_go_to_the_invokers_dm_never_the_channel(slack: SlackStack) -> None:
    await linked_operation(slack)
    body = await ok(slack, "export")
    assert body["response_type"] == "ephemeral"
    assert "direct messages" in text_of(body)
    await slack.adapter.drain()
    files = slack.fake.files
    # The JSON, the Markdown and their manifest (unsigned: this server has no signing key).
    assert sorted(f.filename.rsplit(".", 1)[1] for f in files) == ["json", "md", "sha256"]
    assert {f.channel for f in files} == {"DUADMIN"}
    case = json.loads(next(f for f in files if f.filename.endswith(".json")).content)
    assert "OP-NIGHT-HARBOUR" in json.dumps(case)
    assert slack.fake.posts("C1") == []
    built, disclosed = await _export_entries(slack)
    assert (built.action, disclosed.action) == ("consult", "disclose")
    assert disclosed.channel == "slack:DUADMIN" and disclosed.reason is not None
    assert all(f.filename in disclosed.reason for f in files)
    refused = await ok(slack, "export --out /tmp")
    assert "works only in the console" in text_of(refused)
    await slack.adapter.drain()
    assert len(slack.fake.files) == 3


async def _export_entries(slack: SlackStack) -> list[AuditEntry]:
    """The export's consult and disclose entries (its `combine` entry is tested elsewhere)."""
    async with slack.app.store.transaction() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.command == "export"))).all()
    return sorted((e for e in rows if e.action != "combine"), key=lambda e: e.id or 0)


async def test_posts_keep_slacks_pace_per_channel_without_holding_up_others(
    make_app: AppFactory, sqlite_url: str
) -> None:
    async with slack_stack(make_app, sqlite_url, SLACK_POST_INTERVAL=1.0) as slack:
        slack.fake.add_channel("C2", "border-desk")
        await linked_operation(slack)
        await ok(slack, "op link", channel="C2", channel_name="border-desk")
        await ok(slack, "op status active")
        await ok(slack, "op status suspended")
        await slack.fake.wait_for(lambda: len(slack.fake.posts()) == 4)
        calls = [c for c in slack.fake.calls("chat.postMessage") if c.ok]
        at = {ch: [c.at for c in calls if c.args["channel"] == ch] for ch in ("C1", "C2")}
        assert at["C1"][1] - at["C1"][0] >= 0.9  # one channel: about a second apart
        assert at["C2"][1] - at["C2"][0] >= 0.9
        assert abs(at["C1"][0] - at["C2"][0]) < 0.5  # the other channel did not wait


async def test_a_failed_upload_is_reported_and_shares_nothing(slack: SlackStack) -> None:
    await linked_operation(slack)
    slack.fake.fail_next(error="missing_scope", method="files.getUploadURLExternal")
    await ok(slack, "export", response_key="exp-1")
    (sorry,) = await slack.fake.wait_for_responses(1, "exp-1")
    said = text_of(sorry)
    assert said.startswith("I could not send you ")
    assert "(slack missing_scope)" in said and ".json" in said and ".md" in said
    assert sorry["response_type"] == "ephemeral"
    assert slack.fake.files == []
    [built] = await _export_entries(slack)  # built (consulted), never disclosed
    assert built.action == "consult"


async def test_429_then_500_then_ok_delivers_the_post_exactly_once(
    any_slack: SlackStack, clock: ManualClock
) -> None:
    slack = any_slack
    await linked_operation(slack)
    slack.fake.fail_next(429, retry_after=7)
    slack.fake.fail_next(500)
    started = clock()
    await ok(slack, "op status active")

    async def row() -> OutboxMessage:
        async with slack.app.store.transaction() as s:
            return (await s.exec(select(OutboxMessage))).one()

    async def settled(attempts: int) -> bool:
        r = await row()
        return r.attempts == attempts and r.status != "sending"

    await wait_until(lambda: settled(1))
    first = await row()
    assert first.status == "pending"
    assert first.next_attempt_at == started + timedelta(seconds=7)  # Retry-After honoured

    clock.advance(seconds=7)
    slack.app.worker.notify()
    await wait_until(lambda: settled(2))
    assert (await row()).status == "pending"
    assert "HTTP 500" in ((await row()).last_error or "")

    clock.advance(minutes=5)
    slack.app.worker.notify()
    await wait_until(lambda: settled(3))
    final = await row()
    assert final.status == "sent"
    assert final.platform_message_id
    attempts = slack.fake.calls("chat.postMessage")
    assert [c.status for c in attempts] == [429, 500, 200]
    assert len(slack.fake.posts("C1")) == 1


async def test_a_channel_the_bot_left_makes_the_post_dead_not_retried(
    any_slack: SlackStack,
) -> None:
    slack = any_slack
    await linked_operation(slack)
    slack.fake.channels["C1"].is_member = False
    await ok(slack, "op status active")

    async def dead() -> bool:
        async with slack.app.store.transaction() as s:
            r = (await s.exec(select(OutboxMessage))).one()
        return r.status == "dead"

    await wait_until(dead)
    assert [c.args["channel"] for c in slack.fake.calls("chat.postMessage")] == ["C1"]
    async with slack.app.store.transaction() as s:
        assert (await s.exec(select(ChannelLink))).one().channel_key == "C1"


def _fields(body: dict[str, object]) -> list[tuple[str, str]]:
    out = []
    for block in body["blocks"]:  # type: ignore[attr-defined]
        for field in block.get("fields", []):
            label, _, value = field["text"].partition("\n")
            out.append((label.strip("*"), value))
    return out


async def test_a_token_slack_refuses_makes_the_process_unready(
    make_app: AppFactory, sqlite_url: str
) -> None:
    async with slack_stack(make_app, sqlite_url, SLACK_BOT_TOKEN="xoxb-revoked") as slack:
        resp = await slack.inbound.client.get(f"{slack.base_url}/readyz")
        assert resp.status_code == 503
        assert "invalid_auth" in resp.json()["problems"]["slack"]


async def test_whoami_gives_the_exact_admins_entry_which_makes_an_admin(
    slack: SlackStack,
) -> None:
    slack.fake.add_user("U7", "ivo", "Ivo Nunes")
    body = await ok(slack, "whoami", user="U7", user_name="ivo")
    entry = dict(_fields(body))["TASKFORCE_ADMINS entry"]
    assert entry == "slack:T1/U7"
    settings = slack.app.settings.model_copy(update={"admins": entry})
    assert await ensure_admins(slack.app.store, settings, slack.app.clock()) == 1
    again = dict(_fields(await ok(slack, "whoami", user="U7", user_name="ivo")))
    assert (again["Admin"], again["TASKFORCE_ADMINS entry"]) == ("yes", entry)


async def inbox_is_empty(store: Store) -> bool:
    """Whether every acknowledged event has been finished."""
    return not await pending(store)
