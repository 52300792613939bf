"""Benchmark 1, the command path: signed `/tf sighting …` over HTTP to `taskforce serve`.

Both servers run at once, each in its own uvicorn process on its own database: Taskforce
(`taskforce serve`, Slack on, the Slack Web API pointed at the fake) and the bare baseline
(`bench.baseline_app`). The load comes from a third process (`bench.loadgen`). Each case
runs the baseline, then Taskforce, back to back, so that the machine's noise hits both.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx

from bench.common import (
    ROOT,
    SIGNING_SECRET,
    VENV_BIN,
    Row,
    Server,
    Sizes,
    free_port,
    postgres_reachable,
    running,
    scratch_postgres,
)
from bench.fakeapi import fake_api
from bench.loadgen import LoadConfig, LoadResult, run_in_process
from bench.scenario import OP_CODE, SIGHTING, prepared_app, settings_env, sqlite_path
from bot.commands import REGISTRY

NAME = "1 command path"
# The targets ("The command path at the speed of the database"): closed loop with
# 10 clients against the bare endpoint, per store; p99 per open-loop rate.
THROUGHPUT_TARGETS = {"SQLite": 0.7, "PostgreSQL": 0.5}
THROUGHPUT_CLIENTS = 10
P99_TARGETS_MS = {100: 25.0, 200: 100.0}


def command_text() -> tuple[str, str]:
    """The command sent, and a word its successful reply contains.

    `sighting` once the field-intelligence commands exist, `op show` before (development).
    """
    if REGISTRY.get("sighting") is not None:
        return SIGHTING, "SG-"
    return f"op show {OP_CODE}", OP_CODE


def taskforce_env(
    db_url: str, port: int, fake_url: str, ack_seconds: float | None = None
) -> dict[str, str]:
    """`taskforce serve` with Slack on (signing secret, Web API at the fake), Telegram off."""
    extra = {} if ack_seconds is None else {"SLACK_ACK_SECONDS": str(ack_seconds)}
    return settings_env(
        db_url,
        TASKFORCE_HOST="127.0.0.1",
        TASKFORCE_PORT=str(port),
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"{fake_url}/api/",
        SLACK_APP_TOKEN="",
        TELEGRAM_BOT_TOKEN="",
        PYTHONPATH=str(ROOT),
        **extra,
    )


@contextlib.contextmanager
def taskforce_server(
    db_url: str, fake_url: str, name: str, ack_seconds: float | None = None
) -> Iterator[Server]:
    """Set OP-BENCH up in `db_url`, then serve it with `taskforce serve`."""

    async def setup() -> None:
        app = await prepared_app(db_url)
        await app.close()

    asyncio.run(setup())
    port = free_port()
    with running(
        [str(VENV_BIN / "taskforce"), "serve"],
        taskforce_env(db_url, port, fake_url, ack_seconds),
        port,
        name,
    ) as server:
        yield server


@contextlib.contextmanager
def baseline_server(db: str, name: str) -> Iterator[Server]:
    """The bare Starlette endpoint on `db` (a SQLite path or a PostgreSQL URL)."""
    port = free_port()
    env = {
        "BENCH_DB": db,
        "BENCH_PORT": str(port),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    with running([sys.executable, "-m", "bench.baseline_app"], env, port, name) as server:
        yield server


def commands_handled(server: Server) -> float:
    """`taskforce_commands_total` summed over commands and outcomes (from /metrics)."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("taskforce_commands_total{")
    )


def wait_idle(server: Server, timeout: float = 180.0) -> float:
    """Wait until the server has finished the commands still queued; return the seconds.

    An overloaded case leaves work behind (acked "working on it", finished later); the
    next case must not start on top of it. Idle: the command count still for a second.
    """
    started = time.perf_counter()
    last = commands_handled(server)
    while time.perf_counter() - started < timeout:
        time.sleep(1.0)
        now = commands_handled(server)
        if now == last:
            return time.perf_counter() - started
        last = now
    return time.perf_counter() - started


@dataclass
class Pair:
    """The baseline's and Taskforce's result of one case."""

    base: LoadResult
    tf: LoadResult
    backlog: float = 0.0  # seconds Taskforce kept working after the load stopped
    processed: float = 0.0  # commands/s the server finished while the load ran


def _note(pair: Pair) -> str:
    problems = []
    for who, res in (("baseline", pair.base), ("taskforce", pair.tf)):
        if res.errors:
            problems.append(f"{who}: {res.errors} of {res.sent} failed ({res.first_error})")
        if res.ok == 0:
            problems.append(f"{who}: nothing succeeded")
    if pair.backlog > 2:
        problems.append(f"taskforce worked through a backlog for {pair.backlog:.0f} s after")
    if problems:
        problems.append(f"server finished {pair.processed:.0f} commands/s meanwhile")
    return "; ".join(problems)


def run_cases(sizes: Sizes, backend: str, base: Server, tf: Server, fake_url: str) -> list[Row]:
    """The closed- and open-loop cases against one pair of servers."""
    text, expect = command_text()

    def pair(mode: str, concurrency: int = 1, rate: float = 0.0) -> Pair:
        cfg = LoadConfig(
            url="",
            mode=mode,
            concurrency=concurrency,
            rate=rate,
            seconds=sizes.seconds,
            warmup=sizes.warmup,
            text=text,
            response_url=f"{fake_url}/response",
        )
        b = run_in_process(replace(cfg, url=base.url, expect="Recorded"))
        before, started = commands_handled(tf), time.perf_counter()
        t = run_in_process(replace(cfg, url=tf.url, expect=expect))
        processed = (commands_handled(tf) - before) / (time.perf_counter() - started)
        backlog = wait_idle(tf)
        return Pair(b, t, backlog, processed)

    rows: list[Row] = []
    for conc in sizes.concurrency:
        p = pair(mode="closed", concurrency=conc)
        ratio = p.tf.throughput / p.base.throughput if p.base.throughput else 0.0
        note = _note(p)
        wanted = THROUGHPUT_TARGETS.get(backend) if conc == THROUGHPUT_CLIENTS else None
        rows.append(
            Row(
                NAME,
                f"{backend} closed loop, {conc} client{'s' if conc > 1 else ''}",
                p.tf.throughput,
                "req/s",
                p.base.throughput,
                target=f"≥ {wanted}× baseline" if wanted else "",
                met=(ratio >= wanted and not note) if wanted else None,
                note=note,
            )
        )
    for rate in sizes.rates:
        p = pair(mode="open", rate=float(rate))
        note = _note(p)
        rows.append(
            Row(
                NAME,
                f"{backend} open loop {rate}/s, p50",
                p.tf.p50 * 1000,
                "ms",
                p.base.p50 * 1000,
                note=note,
            )
        )
        limit = P99_TARGETS_MS.get(rate)
        rows.append(
            Row(
                NAME,
                f"{backend} open loop {rate}/s, p99",
                p.tf.p99 * 1000,
                "ms",
                p.base.p99 * 1000,
                target=f"< {limit:.0f} ms" if limit else "",
                met=(p.tf.p99 * 1000 < limit and not note) if limit else None,
            )
        )
    return rows


def run(sizes: Sizes) -> list[Row]:
    """Benchmark 1 on SQLite and (when reachable) on PostgreSQL."""
    rows: list[Row] = []
    with fake_api("cmd-fake") as fake:
        tf_db = sqlite_path("cmd-taskforce")
        base_db = sqlite_path("cmd-baseline")
        with (
            baseline_server(str(base_db), "cmd-baseline-sqlite") as base,
            taskforce_server(
                f"sqlite:///{tf_db}", fake.url, "cmd-taskforce-sqlite", sizes.slack_ack_seconds
            ) as tf,
        ):
            rows += run_cases(sizes, "SQLite", base, tf, fake.url)
        if sizes.postgres and postgres_reachable(sizes.pg_admin_url):
            with (
                scratch_postgres(sizes.pg_admin_url) as tf_url,
                scratch_postgres(sizes.pg_admin_url) as base_url,
                baseline_server(base_url, "cmd-baseline-pg") as base,
                taskforce_server(
                    tf_url, fake.url, "cmd-taskforce-pg", sizes.slack_ack_seconds
                ) as tf,
            ):
                rows += run_cases(sizes, "PostgreSQL", base, tf, fake.url)
    return rows
