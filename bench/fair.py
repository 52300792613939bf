"""Benchmark 7, against the fair floor: the sighting's own statements with the raw driver.

Two parts, each measured in alternation with its floor in the same run:

1. **In process.** `dispatch` of `sighting S-1 at "…" --grade B2 --note "…"` from the linked
   bench channel (so one channel post goes to the outbox, as over HTTP), one command after
   the other, on SQLite and on PostgreSQL; against `bench.floor`'s same statements with
   `sqlite3` and with psycopg (prepared, pipelined). Blocks of `block` commands rotate
   over the four (Taskforce SQLite, Taskforce PostgreSQL, floor SQLite, floor PostgreSQL)
   for `rounds` rounds, so a burst of load from elsewhere hits all four alike. Wall time
   per command (the CPU time per command is given in the note).
2. **Over HTTP.** Signed Slack slash commands (`bench.loadgen`, 10 clients closed loop and
   an open loop at 200/s) to `taskforce serve` and to `bench.floor_app` — the same
   statements behind a bare Starlette endpoint that verifies the signature — each on its
   own database set up alike; floor and Taskforce alternate, two rounds each.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import httpx

from bench.command_path import taskforce_server, wait_idle
from bench.common import (
    ROOT,
    SIGNING_SECRET,
    TEAM,
    USER,
    Row,
    Server,
    Sizes,
    free_port,
    log_to_file,
    median,
    postgres_reachable,
    running,
    scratch_postgres,
)
from bench.fakeapi import fake_api
from bench.floor import Sighting, SqliteFloor, pg_connect, pg_sighting
from bench.loadgen import LoadConfig, run_in_process
from bench.scenario import SIGHTING, prepared_app, slack_invocation, sqlite_path
from bot.commands.dispatch import dispatch

NAME = "7 fair floor"
PG_VS_SQLITE = 1.3  # in process: PostgreSQL ≤ 1.3× SQLite
PG_VS_RAW = 8.0  # in process: PostgreSQL ≤ 8× raw psycopg
HTTP_TARGET = 0.5  # 10 clients: ≥ 0.5× the floor, on each store
P99_MS = 50.0  # open loop 200/s


def _plain(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@dataclass
class Side:
    """Per-command wall and CPU seconds of one contender, over its blocks."""

    wall: list[float]
    cpu: list[float]

    @property
    def ms(self) -> float:
        """Median block's wall milliseconds per command."""
        return median(self.wall) * 1000

    @property
    def cpu_ms(self) -> float:
        """Median block's CPU milliseconds per command."""
        return median(self.cpu) * 1000


async def _inprocess(sizes: Sizes, pg_admin: str | None) -> dict[str, Side]:
    block, rounds = sizes.fair_block, sizes.fair_rounds
    tf_sqlite = await prepared_app(f"sqlite:///{sqlite_path('fair-tf')}")
    floor_path = sqlite_path("fair-floor")
    setup = await prepared_app(f"sqlite:///{floor_path}")
    await setup.close()
    floor_sqlite = SqliteFloor(str(floor_path))
    sides: dict[str, Side] = {}
    stack = contextlib.ExitStack()
    contenders: dict[str, object] = {}
    try:
        n = 0

        async def tf(app: object, label: str) -> None:
            nonlocal n
            n += 1
            inv = slack_invocation(SIGHTING.format(i=n, run=label), event_key=f"{label}-{n}")
            reply = await dispatch(app.core, inv)  # type: ignore[attr-defined]
            if not reply.ok:
                raise RuntimeError(reply.message.plain_text())

        def sighting(label: str) -> Sighting:
            nonlocal n
            n += 1
            return Sighting(
                f"{TEAM}/{USER}",
                "CBENCH",
                f"Algeciras port, quay {n}",
                f"bench {label}-{n}",
                f"{label}-{n}",
            )

        async def floor_sqlite_one() -> None:
            floor_sqlite.sighting(sighting("fs"))

        contenders["Taskforce, SQLite"] = lambda: tf(tf_sqlite, "ts")
        contenders["floor, sqlite3"] = floor_sqlite_one
        tf_pg = pg_conn = None
        if pg_admin:
            tf_url = stack.enter_context(scratch_postgres(pg_admin))
            floor_url = stack.enter_context(scratch_postgres(pg_admin))
            tf_pg = await prepared_app(tf_url)
            setup = await prepared_app(floor_url)
            await setup.close()
            pg_conn = await pg_connect(_plain(floor_url))

            async def floor_pg_one() -> None:
                assert pg_conn is not None
                await pg_sighting(pg_conn, sighting("fp"))

            contenders["Taskforce, PostgreSQL"] = lambda: tf(tf_pg, "tp")
            contenders["floor, psycopg"] = floor_pg_one
        for name, one in contenders.items():  # warm every statement cache
            for _ in range(20):
                await one()  # type: ignore[operator]
            sides[name] = Side([], [])
        for _ in range(rounds):
            for name, one in contenders.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(block):
                    await one()  # type: ignore[operator]
                sides[name].wall.append((time.perf_counter() - wall) / block)
                sides[name].cpu.append((time.process_time() - cpu) / block)
        return sides
    finally:
        floor_sqlite.close()
        await tf_sqlite.close()
        if tf_pg is not None:
            await tf_pg.close()
        if pg_conn is not None:
            await pg_conn.close()
        stack.close()


@contextlib.contextmanager
def floor_server(db_url: str, name: str) -> Iterator[Server]:
    """`bench.floor_app` on a database set up as Taskforce's is (`db_url`: SQLite or PG)."""

    async def setup() -> None:
        app = await prepared_app(db_url)
        await app.close()

    asyncio.run(setup())
    db = db_url.split(":///", 1)[1] if db_url.startswith("sqlite") else _plain(db_url)
    port = free_port()
    env = {
        "BENCH_DB": db,
        "BENCH_PORT": str(port),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    with running([sys.executable, "-m", "bench.floor_app"], env, port, name) as server:
        yield server


def _settle(tf: Server) -> None:
    """Wait for Taskforce's queued commands to finish; a loaded machine may time /metrics
    out, which only means the wait is over sooner."""
    try:
        wait_idle(tf)
    except httpx.HTTPError:
        time.sleep(5.0)


def _http(sizes: Sizes, backend: str, floor: Server, tf: Server, fake_url: str) -> list[Row]:
    base = LoadConfig(
        url="",
        mode="closed",
        concurrency=10,
        seconds=sizes.seconds,
        warmup=sizes.warmup,
        text=SIGHTING,
        expect="SG-",
        response_url=f"{fake_url}/response",
    )
    floor_rates: list[float] = []
    tf_rates: list[float] = []
    problems: list[str] = []
    for _ in range(2):
        f = run_in_process(replace(base, url=floor.url))
        t = run_in_process(replace(base, url=tf.url))
        _settle(tf)
        floor_rates.append(f.throughput)
        tf_rates.append(t.throughput)
        for who, res in (("floor", f), ("taskforce", t)):
            if res.errors:
                problems.append(f"{who}: {res.errors} of {res.sent} failed ({res.first_error})")
    f_rate, t_rate = sum(floor_rates) / 2, sum(tf_rates) / 2
    rows = [
        Row(
            NAME,
            f"HTTP {backend}, 10 clients closed loop",
            t_rate,
            "req/s",
            f_rate,
            target=f"≥ {HTTP_TARGET}× the floor",
            met=t_rate / f_rate >= HTTP_TARGET,
            note=(
                f"two alternating rounds: floor {', '.join(f'{r:.0f}' for r in floor_rates)}"
                f"; Taskforce {', '.join(f'{r:.0f}' for r in tf_rates)} req/s; "
                + "; ".join(problems)
            ).rstrip("; "),
        )
    ]
    opened = replace(base, mode="open", rate=200.0)
    f = run_in_process(replace(opened, url=floor.url))
    t = run_in_process(replace(opened, url=tf.url))
    _settle(tf)
    bad = t.errors + f.errors
    rows.append(
        Row(
            NAME,
            f"HTTP {backend}, open loop 200/s, p99",
            t.p99 * 1000,
            "ms",
            f.p99 * 1000,
            target=f"< {P99_MS:.0f} ms",
            met=t.p99 * 1000 < P99_MS and not bad,
            note=f"p50 {t.p50 * 1000:.1f} ms (floor {f.p50 * 1000:.1f} ms)"
            + (
                f"; failed: taskforce {t.errors}, floor {f.errors} ({t.first_error})" if bad else ""
            ),
        )
    )
    return rows


def _guarded(part: Callable[[], list[Row]], backend: str) -> list[Row]:
    """One store's HTTP cases; a crash becomes a row saying so (the in-process rows stay)."""
    try:
        return part()
    except Exception as exc:  # a loaded machine's timeout must not lose the other figures
        return [Row(NAME, f"HTTP {backend}", math.nan, "", note=f"failed: {exc!r}"[:300])]


def run(sizes: Sizes) -> list[Row]:
    """Both parts, SQLite and (when reachable) PostgreSQL."""
    log_to_file("fair")
    pg = sizes.postgres and postgres_reachable(sizes.pg_admin_url)
    sides = asyncio.run(_inprocess(sizes, sizes.pg_admin_url if pg else None))
    n = sizes.fair_block * sizes.fair_rounds
    cpu = "; ".join(f"{k} {v.cpu_ms:.2f}" for k, v in sides.items())
    rows = [
        Row(
            NAME,
            f"in process, Taskforce SQLite vs sqlite3 floor ({n})",
            sides["Taskforce, SQLite"].ms,
            "ms",
            sides["floor, sqlite3"].ms,
            note=f"CPU ms per command: {cpu}",
        )
    ]
    if pg:
        tf_pg = sides["Taskforce, PostgreSQL"].ms
        rows.append(
            Row(
                NAME,
                f"in process, PostgreSQL vs SQLite ({n})",
                tf_pg,
                "ms",
                sides["Taskforce, SQLite"].ms,
                target=f"≤ {PG_VS_SQLITE}× SQLite",
                met=tf_pg / sides["Taskforce, SQLite"].ms <= PG_VS_SQLITE,
            )
        )
        rows.append(
            Row(
                NAME,
                f"in process, PostgreSQL vs psycopg floor ({n})",
                tf_pg,
                "ms",
                sides["floor, psycopg"].ms,
                target=f"≤ {PG_VS_RAW:.0f}× raw psycopg",
                met=tf_pg / sides["floor, psycopg"].ms <= PG_VS_RAW,
            )
        )
    with fake_api("fair-fake") as fake:
        with (
            floor_server(
                f"sqlite:///{sqlite_path('fair-http-floor')}", "fair-floor-sqlite"
            ) as floor,
            taskforce_server(
                f"sqlite:///{sqlite_path('fair-http-tf')}",
                fake.url,
                "fair-tf-sqlite",
                sizes.slack_ack_seconds,
            ) as tf,
        ):
            rows += _guarded(lambda: _http(sizes, "SQLite", floor, tf, fake.url), "SQLite")
        if pg:
            with (
                scratch_postgres(sizes.pg_admin_url) as tf_url,
                scratch_postgres(sizes.pg_admin_url) as floor_url,
                floor_server(floor_url, "fair-floor-pg") as floor,
                taskforce_server(tf_url, fake.url, "fair-tf-pg", sizes.slack_ack_seconds) as tf,
            ):
                rows += _guarded(
                    lambda: _http(sizes, "PostgreSQL", floor, tf, fake.url), "PostgreSQL"
                )
    return rows
