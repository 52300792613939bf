"""Requests to /slack/events that are not Slack's, or not well formed, change nothing."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator

import pytest

from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fakes.slack_api import SlackStack, signed_headers, slack_stack

MAX_BODY = 4096


@pytest.fixture
async def slack(make_app: AppFactory, sqlite_url: str) -> AsyncIterator[SlackStack]:
    async with slack_stack(make_app, sqlite_url, TASKFORCE_MAX_BODY_BYTES=MAX_BODY) as stack:
        yield stack


def op_new_body(slack: SlackStack, padding: str = "") -> str:
    """A well-formed slash command that would create an operation if accepted."""
    fields = slack.inbound.command_fields('op new "Night Harbour"', trigger_id="trig-security")
    return urllib.parse.urlencode({**fields, "padding": padding})


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("forged signature", 401),
        ("wrong secret", 401),
        ("stale timestamp", 401),
        ("missing headers", 401),
        ("body changed after signing", 401),
    ],
)
async def test_unsigned_or_stale_requests_get_401_and_change_nothing(
    slack: SlackStack, case: str, expected: int
) -> None:
    body = op_new_body(slack)
    before = await snapshot(slack.app.store)
    inbound = slack.inbound
    if case == "forged signature":
        ts = str(int(time.time()))
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "0" * 64}
        resp = await inbound.send(body, sign=False, headers=headers)
    elif case == "wrong secret":
        resp = await inbound.send(body, sign=False, headers=signed_headers(body, secret="nope"))
    elif case == "stale timestamp":
        resp = await inbound.send(body, timestamp=int(time.time()) - 301)
    elif case == "missing headers":
        resp = await inbound.send(body, sign=False)
    else:
        headers = signed_headers(body)
        resp = await inbound.send(body.replace("Night", "Dark"), sign=False, headers=headers)
    assert resp.status_code == expected
    assert changed_tables(before, await snapshot(slack.app.store)) == {}
    assert slack.fake.responses() == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        (b'{"type": "event_callback", "event": ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"\xff\xfe\xfd text=op+new+X", "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
    ],
    ids=["broken payload json", "truncated json", "json array", "not utf-8", "empty"],
)
async def test_malformed_bodies_get_400_and_change_nothing(
    slack: SlackStack, body: bytes, content_type: str
) -> None:
    before = await snapshot(slack.app.store)
    resp = await slack.inbound.send(body, content_type=content_type)
    assert resp.status_code == 400
    assert "body" in resp.text.lower()
    assert changed_tables(before, await snapshot(slack.app.store)) == {}


async def test_oversized_bodies_get_413_and_change_nothing(slack: SlackStack) -> None:
    before = await snapshot(slack.app.store)
    big = op_new_body(slack, padding="x" * MAX_BODY)
    resp = await slack.inbound.send(big)
    assert resp.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(8):
            yield b"x" * 1024

    resp = await slack.inbound.client.post(
        slack.inbound.events_url,
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 413
    assert changed_tables(before, await snapshot(slack.app.store)) == {}

    # Just under the limit, signed: accepted.
    ok = await slack.inbound.send(op_new_body(slack, padding="x" * (MAX_BODY - 600)))
    assert ok.status_code == 200
    assert "created" in ok.text


async def test_a_signed_request_with_missing_identity_is_refused_with_a_sentence(
    slack: SlackStack,
) -> None:
    before = await snapshot(slack.app.store)
    body = urllib.parse.urlencode({"command": "/tf", "text": "op new X", "trigger_id": "t"})
    resp = await slack.inbound.send(body)
    assert resp.status_code == 200
    assert "lacked the team, user or channel" in resp.json()["text"]
    assert changed_tables(before, await snapshot(slack.app.store)) == {}
