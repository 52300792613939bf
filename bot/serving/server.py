"""`taskforce serve`: one Starlette app under uvicorn for every platform and probe.

Start-up runs in order — migrate, platform adapters, outbox worker, scheduler — and is
retried in the background while it fails (a database that is not up yet): the process is
alive (`/healthz` 200) but not ready (`/readyz` 503 with the reason), and the platform
routes answer 503 so Slack and Telegram deliver again later. Shutdown (SIGTERM) is
uvicorn's graceful one — stop accepting, let requests in flight finish — then the
lifespan stops, in this order: the scheduler; the adapters' inbound work in flight
(`finish_inbound`: commands may still queue posts); the outbox worker (sends in flight finish,
unsent claims are released); the adapters' clients (`stop`); the store. The worker stops
while the platform clients are still open: closing a client under a send would lose the
platform's answer to a post it had already shown, and the post would go out again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
import uvicorn
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.base import metrics
from bot.base.config import Settings
from bot.base.platforms import PLATFORMS
from bot.contracts import Sender
from bot.room import web as room
from bot.serving.app import App, build_app
from bot.serving.preflight import database_unreachable
from bot.store import gauges
from bot.store.engine import InstallError

log = structlog.get_logger(__name__)

PROBES = ("/healthz", "/readyz", "/metrics")
PROBE_TIMEOUT = 5.0
BOOT_RETRY_MAX = 30.0
GRACEFUL_SECONDS = 20
DRAIN_SECONDS = 20.0  # per adapter at shutdown; what is left is handled by its stop()
DISCARD_BYTES = 1024 * 1024
NOT_INSTALLED = "migrations not installed (a broken install: see the log)"  # on /readyz
REFUSAL_REASONS = {400: "malformed", 401: "unauthenticated", 403: "unauthenticated"}


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

    async def finish_inbound(self, timeout: float) -> None:
        """Stop taking work the adapter pulls itself (Socket Mode, polling) and wait, at most
        `timeout` s, for the requests and updates in flight (they may queue posts).

        The clients stay open: the outbox worker still sends through them afterwards.
        """
        ...

    async def stop(self) -> None:
        """Finish what is left, disconnect and close the clients (after the outbox worker)."""
        ...

    def ready(self) -> str | None:
        """None when ready, else a short reason."""
        ...


class SchedulerLike(Protocol):
    """What the server needs from the scheduler (`bot/jobs/scheduler.py`), found in `app.extras`."""

    @property
    def is_leader(self) -> bool:
        """Whether this replica holds the leader lock and so fires the schedules."""
        ...

    async def start(self) -> None:
        """Start electing and, as leader, firing."""
        ...

    async def stop(self) -> None:
        """Stop firing and give up the leader lock."""
        ...

    def ready(self) -> str | None:
        """None when running (leader or standby), else a short reason."""
        ...


def build_adapters(app: App) -> list[PlatformAdapter]:
    """The platform adapters the configuration turns on (the platform table's lines)."""
    return [p.load()(app.gateway) for p in PLATFORMS if p.enabled(app.settings)]


def platform_of(path: str) -> str:
    """The metrics label for a request path: a platform's name, or `http`."""
    for p in PLATFORMS:
        if path.startswith(f"/{p.name}"):
            return p.name
    return "http"


# ----------------------------------------------------------------------- middleware


async def _send_plain(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _discard(receive: Receive, budget: int) -> None:
    # Read (and drop) the rest of a refused body, up to `budget`, so the client gets to read
    # the 413 instead of a connection reset; a bigger body just has its connection closed.
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    """The request body, whole, within a deadline and a size, before any platform code.

    A declared Content-Length over `max_bytes` is refused at once (413); otherwise the body
    is read here, chunk by chunk, counted (413 past the limit) and timed: a body that has
    not arrived within `read_seconds` (a client that declares 500 bytes and sends 3) gets a
    408 and its connection closed, instead of holding a worker forever. A client that goes
    away mid-body is dropped with a debug line. The bytes are then handed to the route
    unaltered (Slack signs the raw body), so no route ever waits on a client or sees a
    disconnect while reading. None of this logs above info: the sender is not
    authenticated yet.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, read_seconds: float = 5.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_seconds = read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
                await self._reject(scope, send, 400, "malformed", "Malformed Content-Length.")
                return
            if int(declared) > self.max_bytes:
                if int(declared) <= DISCARD_BYTES:
                    await _discard(receive, DISCARD_BYTES)
                await self._refuse(scope, send)
                return
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.read_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        metrics.REFUSED.labels(platform_of(scope["path"]), "aborted").inc()
                        log.debug("http.aborted", path=scope["path"], received=received)
                        return
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > self.max_bytes:
                        await _discard(receive, DISCARD_BYTES)
                        await self._refuse(scope, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._reject(
                scope,
                send,
                408,
                "body_timeout",
                f"Request body not received within {self.read_seconds:g} seconds.",
            )
            return
        body = b"".join(chunks)
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, send: Send, status: int, reason: str, text: str) -> None:
        metrics.REFUSED.labels(platform_of(scope["path"]), reason).inc()
        log.info("http.refused", reason=reason, path=scope["path"])
        await _send_plain(send, status, text, [])

    async def _refuse(self, scope: Scope, send: Send) -> None:
        metrics.REFUSED.labels(platform_of(scope["path"]), "body_too_large").inc()
        log.info("http.refused", reason="body_too_large", path=scope["path"])
        await _send_plain(
            send, 413, f"Request body too large; the limit is {self.max_bytes} bytes.", []
        )


class StartGate:
    """503 (retry later) on every route but the probes until start-up has completed."""

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.lifecycle.started and scope["path"] not in PROBES:
            metrics.REFUSED.labels(platform_of(scope["path"]), "not_ready").inc()
            await _send_plain(
                send,
                503,
                f"Taskforce is starting ({self.lifecycle.problem or 'starting'}); retry later.",
                [(b"retry-after", b"5")],
            )
            return
        await self.app(scope, receive, send)


class CountRefusals:
    """Counts platform requests the adapters refuse (bad signature or secret, malformed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        platform = platform_of(scope.get("path", ""))
        if scope["type"] != "http" or platform == "http":
            await self.app(scope, receive, send)
            return

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                reason = REFUSAL_REASONS.get(message["status"])
                if reason:
                    metrics.REFUSED.labels(platform, reason).inc()
            await send(message)

        await self.app(scope, receive, observed)


# ------------------------------------------------------------------------ lifecycle


@dataclass
class Lifecycle:
    """Starts the parts of one process in order and stops what was started, in reverse."""

    core_app: App
    adapters: list[PlatformAdapter]
    started: bool = False
    problem: str | None = "not started"
    _prepared: bool = False
    _running: list[PlatformAdapter] = field(default_factory=list)
    _worker: bool = False
    _scheduler: SchedulerLike | None = None
    _boot: asyncio.Task[None] | None = None

    @property
    def scheduler(self) -> SchedulerLike | None:
        """The scheduler the composition root registered (`app.extras["scheduler"]`), if any."""
        found: Any = self.core_app.extras.get("scheduler")
        return found

    async def _start_once(self) -> None:
        if not self._prepared:
            await self.core_app.prepare()
            self._prepared = True
        for adapter in self.adapters:
            if adapter not in self._running:
                await adapter.start()
                self._running.append(adapter)
        if not self._worker:
            self.core_app.worker.start()
            # Events a stopped process acknowledged and did not finish are run again
            # (in the background: readiness does not wait for them).
            self.core_app.inbox.start()
            # The audit chains' heads, anchored outside the database every few minutes.
            self.core_app.checkpointer.start()
            self._worker = True
        scheduler = self.scheduler
        if scheduler is not None and self._scheduler is None:
            await scheduler.start()
            self._scheduler = scheduler
        self.started, self.problem = True, None
        log.info("server.started", platforms=[a.platform for a in self.adapters])

    async def start(self) -> None:
        """Try once now; on failure keep trying in the background (with backoff), unless
        the install itself is broken (`InstallError`): waiting would not mend it."""
        try:
            await self._start_once()
        except InstallError as exc:
            self._broken(exc)
        except Exception as exc:
            self._failed(exc, 1.0)
            self._boot = asyncio.create_task(self._retry(), name="server-boot")

    def _broken(self, exc: InstallError) -> None:
        self.problem = f"start-up refused: {NOT_INSTALLED}"
        log.error("server.start_refused", reason=str(exc))

    def _failed(self, exc: Exception, retry_in: float) -> None:
        self.problem = f"start-up failed: {type(exc).__name__}"
        if isinstance(exc, DBAPIError | OSError):
            # The sentence `taskforce check` shows: which database (no password), and why.
            reason = database_unreachable(self.core_app.store.url, exc)
            log.warning("server.start_failed", reason=reason, retry_in=retry_in)
        else:
            log.warning("server.start_failed", error=type(exc).__name__, retry_in=retry_in)

    async def _retry(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._start_once()
                return
            except InstallError as exc:
                self._broken(exc)
                return
            except Exception as exc:
                delay = min(delay * 2, BOOT_RETRY_MAX)
                self._failed(exc, delay)

    async def stop(self) -> None:
        """Stop the scheduler, inbound work, the outbox worker, the adapters and the store."""
        if self._boot is not None:
            self._boot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._boot
        self.started, self.problem = False, "stopping"
        if self._scheduler is not None:
            await _quietly("scheduler", self._scheduler.stop())
        await _quietly("inbox", self.core_app.inbox.stop())
        for adapter in reversed(self._running):
            await _quietly(adapter.platform, adapter.finish_inbound(DRAIN_SECONDS))
        # Sends in flight finish through clients that are still open; unsent claims are
        # released. Only then may the adapters close their clients.
        await _quietly("outbox", self.core_app.worker.stop())
        await _quietly("audit checkpoint", self.core_app.checkpointer.stop())
        for adapter in reversed(self._running):
            await _quietly(adapter.platform, adapter.stop())
        await self.core_app.close()  # the worker is stopped already: closes the store
        log.info("server.stopped")


async def _quietly(what: str, stopping: Any) -> None:
    # One part failing to stop must not keep the others (the outbox worker) from stopping.
    try:
        await stopping
    except Exception:
        log.exception("server.stop_failed", part=what)


# ------------------------------------------------------------------------ the app


async def readiness(lifecycle: Lifecycle) -> dict[str, str]:
    """Every reason this process should not get traffic now (empty when ready)."""
    core_app = lifecycle.core_app
    problems: dict[str, str] = {}
    if not lifecycle.started:
        problems["server"] = lifecycle.problem or "starting"
    try:
        await asyncio.wait_for(core_app.store.ping(), PROBE_TIMEOUT)
        if not await asyncio.wait_for(core_app.store.migrations_at_head(), PROBE_TIMEOUT):
            problems["database"] = "migrations not at head"
    except TimeoutError:
        problems["database"] = "unreachable: timed out"
    except InstallError:  # the database may be fine: the package is not
        problems["database"] = NOT_INSTALLED
    except Exception as exc:
        problems["database"] = f"unreachable: {type(exc).__name__}"
    for adapter in lifecycle.adapters:
        why = adapter.ready()
        if why:
            problems[adapter.platform] = why
    scheduler = lifecycle.scheduler
    if scheduler is not None and lifecycle.started:
        why = scheduler.ready()
        if why:
            problems["scheduler"] = why
    return problems


def create_app(settings: Settings, *, app: App | None = None) -> Starlette:
    """The ASGI app: platform routes plus /healthz, /readyz, /metrics."""
    core_app = app or build_app(settings)
    adapters = build_adapters(core_app)
    for adapter in adapters:
        core_app.add_sender(adapter.sender)
    lifecycle = Lifecycle(core_app, adapters)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await lifecycle.start()
        try:
            yield
        finally:
            await lifecycle.stop()

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        problems = await readiness(lifecycle)
        metrics.READY.set(0 if problems else 1)
        body: dict[str, object] = {"ready": not problems, "problems": problems}
        scheduler = lifecycle.scheduler
        if scheduler is not None:
            body["scheduler"] = "leader" if scheduler.is_leader else "standby"
        return JSONResponse(body, status_code=503 if problems else 200)

    async def metrics_endpoint(_: Request) -> Response:
        try:
            await asyncio.wait_for(gauges.refresh_outbox_rows(core_app.store), PROBE_TIMEOUT)
        except Exception as exc:  # the process's own counters are still worth a scrape
            log.warning("metrics.outbox_rows_failed", error=type(exc).__name__)
        try:
            await asyncio.wait_for(
                gauges.refresh_inbox(core_app.store, core_app.clock()), PROBE_TIMEOUT
            )
        except Exception as exc:
            log.warning("metrics.inbox_failed", error=type(exc).__name__)
        scheduler = lifecycle.scheduler
        metrics.SCHEDULER_LEADER.set(1 if scheduler is not None and scheduler.is_leader else 0)
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    for adapter in adapters:
        routes.extend(adapter.routes())
    routes.append(room.mount(core_app))  # the situation room, /room/ (bot/room)
    starlette = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            # Outermost: the room's security headers on every answer under /room.
            Middleware(room.Guard, room=core_app.extras["room"]),
            Middleware(
                BodyLimit,
                max_bytes=settings.max_body_bytes,
                read_seconds=settings.body_read_seconds,
            ),
            Middleware(StartGate, lifecycle=lifecycle),
            Middleware(CountRefusals),
        ],
    )
    starlette.state.app = core_app
    starlette.state.adapters = adapters
    starlette.state.lifecycle = lifecycle
    return starlette


def server_config(settings: Settings, asgi: Starlette, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for Taskforce (one worker; replicas are separate processes)."""
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # our structlog set-up renders uvicorn's lines too
        "access_log": False,  # paths and timings only would add nothing; never bodies
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "lifespan": "on",
    }
    values.update(overrides)
    return uvicorn.Config(asgi, **values)


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully."""
    uvicorn.Server(server_config(settings, create_app(settings))).run()
