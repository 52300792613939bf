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

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from bench.baseline_app import PG_POOL, Pool, serve, slack_endpoint
from bench.floor import Recorded, Sighting, SqliteFloor, pg_connect, pg_sighting

Run = Callable[[Sighting], Awaitable[Recorded]]


def create_app(db: str, secret: str) -> Starlette:
    """The floor app: `/slack/events` and `/readyz`."""
    pool = Pool()
    state: dict[str, Run] = {}
    closers: list[Callable[[], Awaitable[None]]] = []

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

    async def handle(form: dict[str, str]) -> Response:
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

    return slack_endpoint(secret, handle, lambda: "run" in state, lifespan)


def main() -> None:
    """Serve the floor until SIGTERM."""
    serve(create_app)


if __name__ == "__main__":
    main()
