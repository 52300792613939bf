"""The fair HTTP floor: a bare endpoint that runs the sighting's own statements.

Like `bench.baseline_app` (Starlette under uvicorn, one process; the Slack signature
verified, the form parsed) but instead of one row it runs every statement Taskforce runs
for `/tf sighting S-1 at "…"` in one transaction with the raw driver (`bench.floor`):
`sqlite3` on the event loop's thread (one connection: SQLite has one writer), or psycopg's
async connections (a pool of the Store's size, statements prepared and pipelined). It
answers the reply's text (`Recorded Sighting SG-n …`). It parses nothing of the command's
text beyond the form: that is the point — the rest is what Taskforce adds. Run as
`python -m bench.floor_app` with `BENCH_DB`, `BENCH_PORT` and `SLACK_SIGNING_SECRET`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.baseline_app import PG_POOL, Pool, verify
from bench.floor import Recorded, Sighting, SqliteFloor, pg_connect, pg_sighting

Run = Callable[[Sighting], Awaitable[Recorded]]


def create_app(db: str, secret: str) -> Starlette:
    """The floor app: `/slack/events` and `/readyz`."""
    pool = Pool()
    state: dict[str, Run] = {}
    closers: list[Callable[[], Awaitable[None]]] = []
    key = secret.encode()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if db.startswith("postgresql"):
            for _ in range(PG_POOL):
                conn = await pg_connect(db)
                pool.add(conn)
                closers.append(conn.close)

            async def run_pg(s: Sighting) -> Recorded:
                async with pool.conn() as conn:
                    return await pg_sighting(conn, s)

            state["run"] = run_pg
        else:
            floor = SqliteFloor(db)

            async def run_sqlite(s: Sighting) -> Recorded:
                return floor.sighting(s)

            async def close() -> None:
                floor.close()

            closers.append(close)
            state["run"] = run_sqlite
        yield
        for close_one in closers:
            await close_one()

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
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        text = form.get("text", "")
        # The text is `sighting S-1 at "<place>" --grade B2 --note "<note>"`: the place and
        # the note are taken by position, not parsed (the floor has no parser).
        parts = text.split('"')
        recorded = await state["run"](
            Sighting(
                team_user=f"{form.get('team_id', '')}/{form.get('user_id', '')}",
                channel=form.get("channel_id", ""),
                location=parts[1] if len(parts) > 1 else text,
                note=parts[3] if len(parts) > 3 else "",
                event_key=form.get("trigger_id", ""),
            )
        )
        return JSONResponse({"response_type": "in_channel", "text": recorded.text})

    async def readyz(_: Request) -> Response:
        return JSONResponse({"ready": "run" in state})

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    """Serve the floor until SIGTERM."""
    app = create_app(os.environ["BENCH_DB"], os.environ["SLACK_SIGNING_SECRET"])
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_config=None)


if __name__ == "__main__":
    main()
