"""`taskforce serve`: one Starlette app under uvicorn for every platform and probe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.adapters.base import Sender
from bot.app import App, build_app
from bot.config import Settings

log = structlog.get_logger(__name__)


class PlatformAdapter(Protocol):
    """What the server needs from a platform adapter (Slack, Telegram)."""

    platform: str
    sender: Sender

    def routes(self) -> list[BaseRoute]:
        """HTTP routes the adapter serves (may be empty in polling/socket mode)."""
        ...

    async def start(self) -> None:
        """Initialise clients, connect, publish commands."""
        ...

    async def stop(self) -> None:
        """Finish work in flight and disconnect."""
        ...

    def ready(self) -> str | None:
        """None when ready, else a short reason."""
        ...


def build_adapters(app: App) -> list[PlatformAdapter]:
    """The platform adapters the configuration turns on."""
    adapters: list[PlatformAdapter] = []
    settings = app.settings
    if settings.slack_enabled:
        from bot.adapters.slack import SlackAdapter

        adapters.append(SlackAdapter(app))
    if settings.telegram_enabled:
        from bot.adapters.telegram import TelegramAdapter

        adapters.append(TelegramAdapter(app))
    return adapters


def create_app(settings: Settings, *, app: App | None = None) -> Starlette:
    """The ASGI app: platform routes plus /healthz, /readyz, /metrics."""
    core_app = app or build_app(settings)
    adapters = build_adapters(core_app)
    for adapter in adapters:
        core_app.add_sender(adapter.sender)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await core_app.prepare()
        for adapter in adapters:
            await adapter.start()
        core_app.worker.start()
        log.info("server.started", platforms=[a.platform for a in adapters])
        try:
            yield
        finally:
            for adapter in adapters:
                await adapter.stop()
            await core_app.close()
            log.info("server.stopped")

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        problems: dict[str, str] = {}
        try:
            await core_app.store.ping()
            if not await core_app.store.migrations_at_head():
                problems["database"] = "migrations not at head"
        except Exception as exc:
            problems["database"] = f"unreachable: {type(exc).__name__}"
        for adapter in adapters:
            why = adapter.ready()
            if why:
                problems[adapter.platform] = why
        status = 200 if not problems else 503
        return JSONResponse({"ready": not problems, "problems": problems}, status_code=status)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    for adapter in adapters:
        routes.extend(adapter.routes())
    starlette = Starlette(routes=routes, lifespan=lifespan)
    starlette.state.app = core_app
    starlette.state.adapters = adapters
    return starlette


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT."""
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
    )
