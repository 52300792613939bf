"""The Slack outbox sender against the fake Web API: what is retried, after how long."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import SlackSender
from bot.base.messages import Message
from bot.contracts import SendError
from tests.fakes.slack_api import TOKEN, FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_channel("C1", "ops-room")
        yield server


def sender_for(url: str, token: str = TOKEN, interval: float = 1.0) -> SlackSender:
    return SlackSender(
        AsyncWebClient(token=token, base_url=url, retry_handlers=[]), interval=interval
    )


async def test_a_post_returns_its_ts(fake: FakeSlack) -> None:
    ts = await sender_for(fake.url).send("C1", Message(title="hello", lines=["a & b"]))
    assert ts and ts.startswith("1700000000.")
    (post,) = fake.posts("C1")
    assert post["text"] == "hello"
    assert post["blocks"][1]["text"]["text"] == "a &amp; b"


async def test_429_carries_retry_after(fake: FakeSlack) -> None:
    fake.fail_next(429, retry_after=7)
    with pytest.raises(SendError) as err:
        await sender_for(fake.url).send("C1", Message(title="x"))
    assert err.value.retry_after == 7.0
    assert not err.value.permanent
    assert fake.posts() == []


async def test_server_errors_are_retryable(fake: FakeSlack) -> None:
    fake.fail_next(503)
    with pytest.raises(SendError) as err:
        await sender_for(fake.url).send("C1", Message(title="x"))
    assert not err.value.permanent
    assert err.value.retry_after is None


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_channel_errors_are_permanent(fake: FakeSlack, error: str) -> None:
    fake.fail_next(error=error)
    with pytest.raises(SendError) as err:
        await sender_for(fake.url).send("C1", Message(title="x"))
    assert err.value.permanent
    assert error in err.value.reason


async def test_a_bad_token_is_permanent(fake: FakeSlack) -> None:
    with pytest.raises(SendError) as err:
        await sender_for(fake.url, token="xoxb-wrong").send("C1", Message(title="x"))
    assert err.value.permanent
    assert "invalid_auth" in err.value.reason


async def test_an_unreachable_slack_is_retryable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SendError) as err:
        await sender_for(f"http://127.0.0.1:{port}/api/").send("C1", Message(title="x"))
    assert not err.value.permanent
    assert "unreachable" in err.value.reason


def test_the_pace_is_configurable() -> None:
    assert sender_for("http://x/", interval=1.0).min_interval("C1") == 1.0
    assert sender_for("http://x/", interval=0).min_interval("C1") == 0
