"""Limits that keep one noisy member from hurting the others: rate, command length, body size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.base.clock import ManualClock
from bot.base.metrics import REGISTRY
from bot.base.ratelimit import RateLimiter
from bot.commands import dispatch
from bot.contracts import Actor, Channel, Invocation, Reply
from bot.serving.app import App
from bot.serving.server import BodyLimit
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fakes.slack_api import slack_stack, text_of
from tests.serving import serving


def invocation(platform: str, key: str, text: str) -> Invocation:
    """A command from a member of a chat platform, in a group channel."""
    return Invocation(
        actor=Actor(platform, key, f"user {key}"),
        channel=Channel(platform, "C-GENERAL", "general"),
        text=text,
    )


def refused_count(platform: str, reason: str) -> float:
    """The `requests refused` counter for one platform and reason."""
    value = REGISTRY.get_sample_value(
        "taskforce_requests_refused_total", {"platform": platform, "reason": reason}
    )
    return value or 0.0


async def run(app: App, platform: str, key: str, text: str) -> Reply:
    """Dispatch one line as `platform:key`."""
    return await dispatch(app.core, invocation(platform, key, text))


async def test_a_flooding_member_is_told_to_wait_while_others_are_served(
    make_app: AppFactory, sqlite_url: str, clock: ManualClock
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_RATE_LIMIT_PER_MINUTE=6)
    for _ in range(6):  # the burst a member may send at once
        assert (await run(app, "telegram", "111", "help")).ok
    counted = refused_count("telegram", "rate_limited")
    before = await snapshot(app.store)

    flood = await run(app, "telegram", "111", "help")
    assert not flood.ok
    assert flood.message.plain_text() == "You are sending commands too fast; wait 10 seconds."
    assert changed_tables(before, await snapshot(app.store)) == {}
    assert refused_count("telegram", "rate_limited") == counted + 1

    # Another member, and the same id on another platform, are not held back.
    assert (await run(app, "telegram", "222", "help")).ok
    assert (await run(app, "slack", "111", "help")).ok

    clock.advance(seconds=9)
    again = await run(app, "telegram", "111", "help")
    assert again.message.plain_text() == "You are sending commands too fast; wait 1 second."
    clock.advance(seconds=1)
    assert (await run(app, "telegram", "111", "help")).ok
    assert not (await run(app, "telegram", "111", "help")).ok


async def test_the_console_operator_is_not_rate_limited(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_RATE_LIMIT_PER_MINUTE=2)
    for _ in range(5):
        assert (await app.console.push("help", as_="admin")).ok


async def test_an_over_long_command_is_refused_and_writes_nothing(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_MAX_COMMAND_CHARS=100)
    counted = refused_count("slack", "command_too_long")
    before = await snapshot(app.store)
    reply = await run(app, "slack", "T1/U1", "sighting add S-1 " + "x" * 100)
    assert not reply.ok
    assert reply.message.plain_text() == (
        "That command is too long (117 characters); the limit is 100."
    )
    assert changed_tables(before, await snapshot(app.store)) == {}
    assert refused_count("slack", "command_too_long") == counted + 1
    assert (await run(app, "slack", "T1/U2", "help")).ok


def test_rate_limiter_buckets_refill_and_survive_a_clock_step_back() -> None:
    limiter = RateLimiter()
    key = ("telegram", "1")
    assert [limiter.take(key, 2, 100.0) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take(key, 2, 100.0) == 30.0
    assert limiter.take(key, 2, 90.0) == 30.0  # a step back neither refills nor drains
    assert limiter.take(key, 2, 130.0) == 0.0
    assert limiter.take(key, 0, 130.0) == 0.0  # 0 turns the limit off


def _echo_app(limit: int) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return PlainTextResponse(f"read {len(body)} bytes")

    return Starlette(
        routes=[Route("/slack/events", echo, methods=["POST"])],
        middleware=[Middleware(BodyLimit, max_bytes=limit)],
    )


async def _chunks(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


async def test_over_size_bodies_are_refused_before_the_route_and_others_pass() -> None:
    limit = 4096
    counted = refused_count("slack", "body_too_large")
    async with serving(_echo_app(limit)) as url, httpx.AsyncClient(base_url=url) as http:
        ok = await http.post("/slack/events", content=b"x" * limit)
        assert (ok.status_code, ok.text) == (200, f"read {limit} bytes")

        declared = await http.post("/slack/events", content=b"x" * (limit + 1))
        assert declared.status_code == 413
        assert declared.text == f"Request body too large; the limit is {limit} bytes."

        # No Content-Length (chunked): counted as the route reads it.
        streamed = await http.post("/slack/events", content=_chunks(limit * 3))
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert streamed.text == f"Request body too large; the limit is {limit} bytes."

        small_stream = await http.post("/slack/events", content=_chunks(limit - 10))
        assert (small_stream.status_code, small_stream.text) == (200, f"read {limit - 10} bytes")
    assert refused_count("slack", "body_too_large") == counted + 2


async def test_over_the_real_slack_route_limits_answer_clearly_and_others_are_served(
    make_app: AppFactory, sqlite_url: str
) -> None:
    async with slack_stack(
        make_app, sqlite_url, TASKFORCE_RATE_LIMIT_PER_MINUTE=5, TASKFORCE_MAX_BODY_BYTES=4096
    ) as slack:
        for _ in range(5):
            assert (await slack.inbound.command("help", user="UFLOOD")).status_code == 200
        flood = await slack.inbound.command("help", user="UFLOOD")
        assert flood.status_code == 200
        assert "You are sending commands too fast; wait 12 seconds." in text_of(flood.json())

        other = await slack.inbound.command("help", user="UCALM")
        assert other.status_code == 200
        assert "too fast" not in text_of(other.json())
        assert "help" in text_of(other.json()).lower()

        long_line = await slack.inbound.command("help " + "x" * 2000, user="UCALM")
        assert long_line.status_code == 200
        assert "That command is too long (2005 characters); the limit is 2000." in text_of(
            long_line.json()
        )

        counted = refused_count("slack", "body_too_large")
        huge = await slack.inbound.command("help " + "y" * 5000, user="UCALM")
        assert huge.status_code == 413
        assert huge.text == "Request body too large; the limit is 4096 bytes."
        assert refused_count("slack", "body_too_large") == counted + 1

        counted = refused_count("slack", "unauthenticated")
        forged = await slack.inbound.send("command=%2Ftf&text=help", sign=False)
        assert forged.status_code == 401
        assert refused_count("slack", "unauthenticated") == counted + 1

        after = await slack.inbound.command("whoami", user="UADMIN")
        assert after.status_code == 200
        assert "too fast" not in text_of(after.json())
