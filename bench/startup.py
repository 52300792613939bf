"""Benchmark 4, start-up and memory of `taskforce serve` on SQLite.

Start-up: from launching the process until `GET /readyz` answers 200, on an empty
database (migrations run at start) and on a migrated one (a restart); the median of a few
starts. Memory: resident set (VmRSS) when ready, after half of the commands and after all
of them (signed Slack `/tf sighting` over HTTP, 10 clients at a time). Baseline: the bare
uvicorn + Starlette endpoint of benchmark 1 (`bench.baseline_app`), started and loaded the
same way.
"""

from __future__ import annotations

import asyncio
import compileall
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.command_path import command_text, taskforce_env
from bench.common import (
    ROOT,
    SIGNING_SECRET,
    VENV_BIN,
    Row,
    Server,
    Sizes,
    free_port,
    median,
    rss_mb,
    start_server,
)
from bench.fakeapi import fake_api
from bench.loadgen import LoadConfig, run_in_process
from bench.scenario import prepared_app, sqlite_path

NAME = "4 start-up & memory"
READY_TARGET_S = 3.0
RSS_TARGET_MB = 200.0
GROWTH_TOLERANCE = 0.05  # "not growing": under 5 % from the middle to the end of the run


@dataclass
class Memory:
    """Resident memory (MiB) when ready, at the middle and at the end of the load."""

    ready: float = 0.0
    middle: float = 0.0
    end: float = 0.0
    errors: list[str] = field(default_factory=list)


def start_taskforce(
    db_path: str, fake_url: str, name: str, ack_seconds: float | None = None
) -> Server:
    """Launch `taskforce serve` on a SQLite file; return once `/readyz` says ready."""
    port = free_port()
    env = taskforce_env(f"sqlite:///{db_path}", port, fake_url, ack_seconds)
    return start_server([str(VENV_BIN / "taskforce"), "serve"], env, port, name)


def start_baseline(db_path: str, name: str) -> Server:
    """Launch the bare endpoint on a SQLite file; return once it is ready."""
    port = free_port()
    env = {
        "BENCH_DB": db_path,
        "BENCH_PORT": str(port),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    return start_server([sys.executable, "-m", "bench.baseline_app"], env, port, name)


def starts(
    start: Callable[[str, str], Server], dbs: list[str], keep_last: bool
) -> tuple[list[float], Server | None]:
    """Start once on each file in turn, recording seconds to ready; keep the last running."""
    times: list[float] = []
    last: Server | None = None
    for n, db in enumerate(dbs):
        server = start(db, f"start-{n}")
        times.append(server.ready_seconds)
        if keep_last and n == len(dbs) - 1:
            last = server
        else:
            server.stop()
    return times, last


def load_memory(
    server: Server, commands: int, clients: int, text: str, expect: str, fake_url: str
) -> Memory:
    """RSS when ready, after half the commands and after all of them."""
    mem = Memory(ready=rss_mb(server.pid))
    half = commands // 2
    for part, count in (("middle", half), ("end", commands - half)):
        res = run_in_process(
            LoadConfig(
                url=server.url,
                mode="count",
                concurrency=clients,
                count=count,
                text=text,
                expect=expect,
                response_url=f"{fake_url}/response",
            )
        )
        if res.errors:
            mem.errors.append(f"{res.errors} of {res.sent} failed ({res.first_error})")
        setattr(mem, part, rss_mb(server.pid))
    return mem


def run(sizes: Sizes) -> list[Row]:
    """Benchmark 4 (SQLite).

    Taskforce starts `startup_rounds` times on new files (migrations run), then OP-BENCH is
    set up in the first file and it starts `startup_rounds` times on it (a restart); the
    last of those serves the memory run. The baseline starts on new files; its last start
    serves its memory run.
    """
    text, expect = command_text()
    rounds = sizes.startup_rounds
    # As installed: bytecode cached, even where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(ROOT / "bot", quiet=1)
    compileall.compile_dir(ROOT / "bench", quiet=1)
    n = sizes.memory_commands
    with fake_api("startup-fake") as fake:

        def tf_start(db: str, name: str) -> Server:
            return start_taskforce(db, fake.url, f"tf-{name}", sizes.slack_ack_seconds)

        def base_start(db: str, name: str) -> Server:
            return start_baseline(db, f"base-{name}")

        base_dbs = [str(sqlite_path(f"startup-base-{i}")) for i in range(rounds)]
        base_times, base = starts(base_start, base_dbs, keep_last=True)
        assert base is not None
        try:
            base_mem = load_memory(base, n, sizes.memory_clients, text, "Recorded", fake.url)
        finally:
            base.stop()

        tf_dbs = [str(sqlite_path(f"startup-tf-{i}")) for i in range(rounds)]
        tf_first, _ = starts(tf_start, tf_dbs, keep_last=False)

        async def setup() -> None:
            app = await prepared_app(f"sqlite:///{tf_dbs[0]}")
            await app.close()

        asyncio.run(setup())
        tf_again, tf = starts(tf_start, [tf_dbs[0]] * rounds, keep_last=True)
        assert tf is not None
        try:
            tf_mem = load_memory(tf, n, sizes.memory_clients, text, expect, fake.url)
        finally:
            tf.stop()

    base_ready = median(base_times)
    rows = [
        Row(
            NAME,
            case,
            median(times),
            "s",
            base_ready,
            target=f"< {READY_TARGET_S:.0f} s",
            met=median(times) < READY_TARGET_S,
            note=f"median of {rounds} starts" if "empty" in case else "",
        )
        for case, times in (
            ("ready after launch, empty database (migrates)", tf_first),
            ("ready after launch, migrated database", tf_again),
        )
    ]
    errors = "; ".join(
        [f"taskforce: {e}" for e in tf_mem.errors] + [f"baseline: {e}" for e in base_mem.errors]
    )
    growth = tf_mem.end - tf_mem.middle
    allowed = GROWTH_TOLERANCE * tf_mem.middle
    rows += [
        Row(NAME, "RSS when ready", tf_mem.ready, "MiB", base_mem.ready),
        Row(NAME, f"RSS after {n // 2:,} commands", tf_mem.middle, "MiB", base_mem.middle),
        Row(
            NAME,
            f"RSS after {n:,} commands",
            tf_mem.end,
            "MiB",
            base_mem.end,
            target=f"< {RSS_TARGET_MB:.0f} MiB",
            met=tf_mem.end < RSS_TARGET_MB and not errors,
            note=errors,
        ),
        Row(
            NAME,
            f"RSS growth, command {n // 2:,} → {n:,}",
            growth,
            "MiB",
            base_mem.end - base_mem.middle,
            target=f"≤ {GROWTH_TOLERANCE:.0%} of RSS",
            met=growth <= allowed,
        ),
    ]
    return rows
