"""Issue 20 through the served app and the real slack-bolt / slack-sdk against the fake Slack:
compartments in the answers, slow and broken requests, inert user text, deduplication, pace.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlmodel import select

from bot.store.models import Operation, OutboxMessage, ProcessedEvent, Raid, Sighting
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fakes.slack_api import SlackStack, slack_stack, text_of
from tests.serving import captured_logs


@pytest.fixture
async def any_slack(make_app: AppFactory, db_url: str) -> AsyncIterator[SlackStack]:
    """The served app on SQLite and on PostgreSQL, with the fake Slack; bodies must arrive
    within half a second."""
    async with slack_stack(make_app, db_url, TASKFORCE_BODY_READ_SECONDS=0.5) as stack:
        yield stack


async def ok(slack: SlackStack, line: str, **kw: Any) -> dict[str, Any]:
    resp = await slack.inbound.command(line, **kw)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert "Something went wrong" not in text_of(body)
    return body


@contextmanager
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[Any]]:
    """Fail if anything logs at error level or with a traceback (stdlib or structlog)."""
    caplog.set_level(logging.DEBUG)
    with captured_logs() as events:
        yield events
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [f"{r.name}: {r.getMessage()}" for r in loud]
    bad = [e for e in events if e.get("log_level") in ("error", "critical") or e.get("exc_info")]
    assert bad == []


# ------------------------------------------------ 1. replies stay in their operation


async def test_another_operations_raid_is_never_shown_in_this_channel(
    any_slack: SlackStack,
) -> None:
    slack = any_slack
    slack.fake.add_channel("C2", "other-room")
    await ok(slack, 'op new "Nightjar" --code OP-NIGHTJAR', channel="C9", channel_name="scratch")
    await ok(slack, 'op new "Other" --code OP-OTHER', channel="C9", channel_name="scratch")
    await ok(slack, "op link OP-OTHER", channel="C2", channel_name="other-room")
    plan = 'raid plan OP-NIGHTJAR "Dawn" --at "tomorrow 05:30" --location "Calle Mayor 3"'
    lines = [
        plan,
        "raid show OP-NIGHTJAR/R-1",
        "check OP-NIGHTJAR/R-1 1",
        "uncheck OP-NIGHTJAR/R-1 1",
    ]
    for line in lines:
        body = await ok(slack, line, channel="C2", channel_name="other-room")
        assert body["response_type"] == "ephemeral", line
        assert "R-1" in text_of(body)
    async with slack.app.store.transaction() as s:
        queued = (await s.exec(select(OutboxMessage))).all()
        assert [m for m in queued if m.channel_key == "C2" and "Dawn" in str(m.payload)] == []
        [raid] = (await s.exec(select(Raid))).all()
        op = await s.get(Operation, raid.operation_id)
        assert op is not None and op.code == "OP-NIGHTJAR"


# ------------------------------------------- 4. and 5. slow, aborted, malformed requests


async def _raw(slack: SlackStack, head: bytes, body: bytes, *, close: bool = False) -> bytes:
    """Send a raw HTTP request (a lying Content-Length, a half body); the answer's bytes."""
    port = int(slack.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    if close:
        writer.close()
        await writer.wait_closed()
        return b""
    answer = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()
    return answer


def _head(length: int | str, extra: str = "") -> bytes:
    return (
        "POST /slack/events HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


async def test_a_body_that_never_arrives_gets_408_and_no_error_log(
    any_slack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    slack = any_slack
    before = await snapshot(slack.app.store)
    with no_error_logs(caplog) as events:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await _raw(slack, _head(500), b"a=b")
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert loop.time() - started < 3.0
        # Aborted mid-body: dropped, quietly.
        for _ in range(5):
            await _raw(slack, _head(500), b"a=b", close=True)
        await asyncio.sleep(0)  # let the server see the closed connections
        resp = await slack.inbound.send("text=hi", sign=False)
        assert resp.status_code == 401
    assert any(e["event"] == "http.refused" and e["reason"] == "body_timeout" for e in events)
    assert changed_tables(before, await snapshot(slack.app.store)) == {}


@pytest.mark.parametrize("stamp", ["abc", "1e3", "", "١٢٣", "99999999999999999999"])
async def test_a_malformed_slack_timestamp_is_a_400_not_a_500(
    any_slack: SlackStack, caplog: pytest.LogCaptureFixture, stamp: str
) -> None:
    slack = any_slack
    before = await snapshot(slack.app.store)
    fields = slack.inbound.command_fields('op new "Sneaky"')
    body = urllib.parse.urlencode(fields)
    with no_error_logs(caplog):
        resp = await slack.inbound.send(
            body,
            headers={"X-Slack-Request-Timestamp": stamp.encode()},  # type: ignore[dict-item]
        )
    assert resp.status_code in (400, 401)
    assert changed_tables(before, await snapshot(slack.app.store)) == {}


async def test_garbage_to_both_endpoints_logs_nothing_above_info(
    any_slack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    slack = any_slack
    with no_error_logs(caplog):
        for body, ctype in [
            (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
            (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
            (b"{", "application/json"),
            (b"", "application/json"),
        ]:
            for sign in (True, False):
                resp = await slack.inbound.send(body, content_type=ctype, sign=sign)
                assert 400 <= resp.status_code < 500, (body, sign, resp.status_code)
        for length in ("²", "-1", "1e3", "99999999999999999999999"):
            answer = await _raw(slack, _head(length), b"a=b")
            assert answer.startswith(b"HTTP/1.1 4"), (length, answer[:60])


# ------------------------------------------------------------------ 9. inert text


async def test_user_text_reaches_slack_inert(any_slack: SlackStack) -> None:
    slack = any_slack
    await ok(slack, 'op new "Nightjar" --code OP-NIGHTJAR')
    await ok(slack, "op link")
    hostile = "@channel @here <!everyone> https://evil.example/x *bold* <@U999>"
    body = await ok(slack, f'sighting "grey van" at "{hostile}"')
    await slack.fake.wait_for(lambda: any("grey van" in text_of(p) for p in slack.fake.posts()))
    calls = slack.fake.calls("chat.postMessage")
    posts = [c for c in calls if "grey van" in text_of(c.args)]
    assert len(posts) == 1, [c.args for c in calls]
    [post] = posts
    args = post.args
    assert args.get("link_names") in (None, False, "false", "0", 0)
    assert args.get("parse") == "none"
    for answer in (args, body):
        shown = text_of(answer)
        assert "&lt;!everyone&gt;" in shown and "<!everyone>" not in shown
        assert "&lt;@U999&gt;" in shown
        mrkdwn = _mrkdwn_objects(answer["blocks"])
        assert mrkdwn and all(m.get("verbatim") is True for m in mrkdwn)
    # Stored as typed: the escaping belongs to the renderer, once.
    async with slack.app.store.transaction() as s:
        [sighting] = (await s.exec(select(Sighting))).all()
    assert sighting.location == hostile


def _mrkdwn_objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(node)
        for value in node.values():
            found += _mrkdwn_objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _mrkdwn_objects(value)
    return found


# ------------------------------------------------------- 10. no trigger id, still once


async def test_a_signed_command_without_trigger_id_runs_once(any_slack: SlackStack) -> None:
    slack = any_slack
    await ok(slack, 'op new "Nightjar" --code OP-NIGHTJAR')
    await ok(slack, "op link")
    fields = slack.inbound.command_fields('sighting "grey van" at Porto')
    del fields["trigger_id"]
    body = urllib.parse.urlencode(fields)
    first = await slack.inbound.send(body)
    again = await slack.inbound.send(body)  # the same signed request, replayed
    assert first.status_code == again.status_code == 200
    assert text_of(first.json()) == text_of(again.json())
    async with slack.app.store.transaction() as s:
        assert len((await s.exec(select(Sighting))).all()) == 1
        keys = [e.event_key for e in (await s.exec(select(ProcessedEvent))).all()]
    assert len([k for k in keys if k.startswith("cmd:body-")]) == 1


# ------------------------------------------------------ 11. the pace between arrivals


async def test_the_channel_pace_runs_from_when_slack_answered(
    make_app: AppFactory, sqlite_url: str
) -> None:
    async with slack_stack(make_app, sqlite_url, SLACK_POST_INTERVAL=0.5) as slack:
        await ok(slack, 'op new "Nightjar" --code OP-NIGHTJAR')
        await ok(slack, "op link")
        slack.fake.slow_next(0.6)  # the first post takes longer than the interval
        await ok(slack, "op status active")
        await ok(slack, "op status suspended")
        await slack.fake.wait_for(
            lambda: len([c for c in slack.fake.calls("chat.postMessage") if c.ok]) == 2
        )
        first, second = [c for c in slack.fake.calls("chat.postMessage") if c.ok]
        assert first.answered is not None
        # Slack counts arrivals: the second may arrive only a full interval after the first
        # was done, however long the first took (stamped at the start it came at once).
        assert second.at - first.answered >= 0.45
