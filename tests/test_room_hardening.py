"""The situation room against hostile and careless visitors (issue 32), through the served
app: unauthenticated errors are 4xx logged at info, every response carries the room's
security headers, and event streams are limited per session and in total."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import App
from bot.room import web
from tests.conftest import AppFactory
from tests.fieldintel import OP, operation
from tests.room_helpers import PUBLIC_URL, served, sign_in
from tests.serving import captured_logs

SECURITY = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture
async def room_app(make_app: AppFactory, db_url: str) -> App:
    """An App on SQLite and PostgreSQL with the room's public URL set."""
    return await make_app(db_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL)


@pytest.fixture
async def url(room_app: App) -> AsyncIterator[str]:
    async with served(room_app) as base:
        yield base


def assert_secured(response: httpx.Response) -> None:
    """The room's security headers, whoever answered."""
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


# ------------------------------------------------- errors a stranger can provoke


async def test_hostile_paths_are_4xx_logged_at_info_with_the_headers(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with captured_logs() as events:
        async with httpx.AsyncClient(base_url=url) as stranger:
            nul = await stranger.get("/room/static/room.js%00.css")
            digits = await stranger.post(f"/room/op/X/raid/{'9' * 5000}/check")
            huge = await stranger.post(f"/room/op/X/raid/{'9' * 5000}/check", data={"item": "1"})
    assert nul.status_code == 404
    assert digits.status_code == 401 and huge.status_code == 401  # not signed in: said first
    for response in (nul, digits, huge):
        assert_secured(response)
    above_info = [e for e in events if e["log_level"] not in ("debug", "info")]
    assert above_info == []
    assert [r for r in caplog.records if r.levelno > logging.INFO] == []
    assert "Traceback" not in caplog.text


async def test_a_signed_in_tick_of_an_impossible_raid_number_is_not_found(
    room_app: App, url: str
) -> None:
    await operation(room_app)
    async with sign_in(url, room_app, "mia") as browser:
        page = await browser.get(f"/room/op/{OP}")
        csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        for seq in ("9" * 5000, "1" * 10, "١"):  # too long, past the bound, not ASCII
            answer = await browser.post(
                f"/room/op/{OP}/raid/{seq}/check", data={"item": "1", "csrf": csrf}
            )
            assert answer.status_code == 404 and "There is no such page." in answer.text
            assert_secured(answer)


async def test_every_answer_under_room_carries_the_security_headers(
    room_app: App, url: str
) -> None:
    too_big = b"x" * (room_app.settings.max_body_bytes + 1)
    async with httpx.AsyncClient(base_url=url) as stranger:
        answers = [
            await stranger.get("/room/static/room.js"),  # a static file
            await stranger.get("/room/static/nothing.js"),  # a missing one
            await stranger.get("/room/no-such-page"),  # the router's plain 404
            await stranger.post("/room/"),  # the router's plain 405
            await stranger.get("/room"),  # the redirect to /room/
            await stranger.get("/room/"),  # the page's own 401
            await stranger.post("/room/login", content=too_big),  # the server's own 413
        ]
    assert [a.status_code for a in answers] == [200, 404, 404, 405, 307, 401, 413]
    for answer in answers:
        assert_secured(answer)
    async with httpx.AsyncClient(base_url=url) as other:
        outside = await other.get("/healthz")
    assert "content-security-policy" not in outside.headers  # the room's, not everyone's


async def test_an_unexpected_error_in_the_room_is_a_500_with_the_headers(
    room_app: App, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await operation(room_app)

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    async with sign_in(url, room_app, "mia") as browser:
        monkeypatch.setattr(web, "load_view", broken)
        with captured_logs() as events:
            answer = await browser.get(f"/room/op/{OP}")
    assert answer.status_code == 500 and "a bug" not in answer.text
    assert_secured(answer)
    assert [e["event"] for e in events if e["log_level"] == "error"] == ["room.error"]
