"""Helpers of the situation room tests: serve the app, ask `room`, sign a browser in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bot.serving.app import App
from bot.serving.server import create_app
from tests.fieldintel import ok
from tests.serving import serving

PUBLIC_URL = "http://room.test"
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@asynccontextmanager
async def served(app: App) -> AsyncIterator[str]:
    """The whole app (platform routes, probes, the room) under real uvicorn; its base URL."""
    app.extras.pop("scheduler", None)
    async with serving(create_app(app.settings, app=app)) as url:
        yield url


async def ask_link(app: App, who: str) -> str:
    """`room` as console user `who`; the sign-in token from the private reply."""
    reply = await ok(app, "room", who=who, channel=f"dm-{who}", is_group=False)
    [url] = [line for line in reply.message.lines if line.startswith(PUBLIC_URL)]
    assert url.startswith(f"{PUBLIC_URL}/room/login?t=")
    return url.split("?t=", 1)[1]


async def open_link(browser: httpx.AsyncClient, token: str) -> httpx.Response:
    """Open the link (GET: the confirm page) and press Sign in (POST); the confirm page's
    answer if it refused the link."""
    page = await browser.get("/room/login", params={"t": token})
    if page.status_code != 200:  # an unusable link is refused on the confirm page already
        return page
    nonce = NONCE.search(page.text)
    assert nonce is not None
    return await browser.post("/room/login", data={"t": token, "nonce": nonce.group(1)})


@asynccontextmanager
async def sign_in(url: str, app: App, who: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (a cookie jar) signed in as `who`."""
    async with httpx.AsyncClient(base_url=url) as browser:
        response = await open_link(browser, await ask_link(app, who))
        assert response.status_code == 303 and response.headers["location"] == "/room/"
        yield browser


def csrf_of(html: str) -> str:
    """The CSRF token a room page carries."""
    found = CSRF.search(html)
    assert found is not None
    return found.group(1)
