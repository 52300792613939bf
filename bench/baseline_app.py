"""The baseline of the command path: a bare Starlette endpoint under uvicorn, one process.

It does the least a slash-command endpoint must: verify the Slack HMAC signature, parse the
form, insert one row with the same driver Taskforce uses (aiosqlite or psycopg async, with
the same SQLite pragmas and a pool of the same size), and answer. Run as
`python -m bench.baseline_app` with `BENCH_DB` (a SQLite path or a `postgresql://` URL),
`BENCH_PORT` and `SLACK_SIGNING_SECRET` in the environment.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import aiosqlite
import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SQLITE_POOL = 5  # SQLAlchemy's default QueuePool size, as the Store gets on SQLite
PG_POOL = 10  # the Store's pool_size on PostgreSQL

CREATE = (
    "CREATE TABLE IF NOT EXISTS bench_command ("
    " id {pk}, team TEXT NOT NULL, user_id TEXT NOT NULL, channel TEXT NOT NULL,"
    " text TEXT NOT NULL, trigger_id TEXT NOT NULL, created_at REAL NOT NULL)"
)
INSERT = (
    "INSERT INTO bench_command (team, user_id, channel, text, trigger_id, created_at)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)

Insert = Callable[[tuple[Any, ...]], Awaitable[None]]


class Pool:
    """A fixed set of connections handed out one request at a time."""

    def __init__(self) -> None:
        self.free: asyncio.Queue[Any] = asyncio.Queue()
        self.all: list[Any] = []

    def add(self, conn: Any) -> None:
        """Put a new connection in the pool."""
        self.all.append(conn)
        self.free.put_nowait(conn)

    @asynccontextmanager
    async def conn(self) -> AsyncIterator[Any]:
        """Borrow a connection."""
        conn = await self.free.get()
        try:
            yield conn
        finally:
            self.free.put_nowait(conn)


async def open_sqlite(path: str, pool: Pool) -> Insert:
    """Connections with the Store's pragmas; returns the insert function."""
    for _ in range(SQLITE_POOL):
        conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
            "synchronous=NORMAL",
        ):
            await conn.execute(f"PRAGMA {pragma}")
        pool.add(conn)
    async with pool.conn() as conn:
        await conn.execute(CREATE.format(pk="INTEGER PRIMARY KEY"))
    sql = INSERT.format(p="?")

    async def insert(values: tuple[Any, ...]) -> None:
        async with pool.conn() as conn:
            await conn.execute(sql, values)

    return insert


async def open_postgres(url: str, pool: Pool) -> Insert:
    """Async psycopg connections; returns the insert function."""
    for _ in range(PG_POOL):
        pool.add(await psycopg.AsyncConnection.connect(url, autocommit=True))
    async with pool.conn() as conn:
        await conn.execute(CREATE.format(pk="BIGSERIAL PRIMARY KEY"))
    sql = INSERT.format(p="%s")

    async def insert(values: tuple[Any, ...]) -> None:
        async with pool.conn() as conn:
            await conn.execute(sql, values)

    return insert


def verify(secret: bytes, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature, refused when older than five minutes."""
    try:
        if abs(time.time() - int(timestamp)) > 300:
            return False
    except ValueError:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


Handle = Callable[[dict[str, str]], Awaitable[Response]]


def slack_endpoint(
    secret: str, handle: Handle, ready: Callable[[], bool], lifespan: Any
) -> Starlette:
    """A bare Slack endpoint: `/slack/events` verifies the signature, parses the form and
    hands it to `handle`; `/readyz` answers `ready()`."""
    key = secret.encode()

    async def events(request: Request) -> Response:
        body = await request.body()
        ok = verify(
            key,
            body,
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        )
        if not ok:
            return PlainTextResponse("invalid signature", status_code=401)
        return await handle({k: v[0] for k, v in parse_qs(body.decode()).items()})

    async def readyz(_: Request) -> Response:
        return JSONResponse({"ready": ready()})

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def serve(create: Callable[[str, str], Starlette]) -> None:
    """Serve `create(BENCH_DB, SLACK_SIGNING_SECRET)` on BENCH_PORT until SIGTERM."""
    app = create(os.environ["BENCH_DB"], os.environ["SLACK_SIGNING_SECRET"])
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_config=None)


def create_app(db: str, secret: str) -> Starlette:
    """The bare app: `/slack/events` and `/readyz`."""
    pool = Pool()
    state: dict[str, Insert] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if db.startswith("postgresql"):
            state["insert"] = await open_postgres(db, pool)
        else:
            state["insert"] = await open_sqlite(db, pool)
        yield
        for conn in pool.all:
            await conn.close()

    async def handle(form: dict[str, str]) -> Response:
        await state["insert"](
            (
                form.get("team_id", ""),
                form.get("user_id", ""),
                form.get("channel_id", ""),
                form.get("text", ""),
                form.get("trigger_id", ""),
                time.time(),
            )
        )
        return JSONResponse({"response_type": "ephemeral", "text": "Recorded."})

    return slack_endpoint(secret, handle, lambda: "insert" in state, lifespan)


def main() -> None:
    """Serve the baseline until SIGTERM."""
    serve(create_app)


if __name__ == "__main__":
    main()
