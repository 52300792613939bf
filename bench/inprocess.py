"""Benchmark 0, the command path in process: `sighting …` through the core, no HTTP.

Three cases:

1. Taskforce against raw sqlite3 (below).
2. The price of "acknowledge only what is stored": the same sightings, each first written
   to the inbox and taken out once answered (`Inbox.accept` + `Inbox.done`, what the
   Telegram webhook and a slow Slack command add), against the sightings alone.
3. Operations side by side on PostgreSQL: 40 concurrent senders spread over 4 operations
   against 10 concurrent senders in one operation, throughput. Commands of one operation
   take turns on its sequence and audit chain; other operations should not wait for them.
   Beside the rates: the process's CPU share, and the backends waiting on a lock
   (`pg_stat_activity`, every 20 ms) — which of the two held the rate back.

Taskforce: `dispatch` of `sighting OP-BENCH/S-1 at "Checkpoint n" --grade B2` with an event
key (as a platform sends one), in a direct-message channel (no link, so no fan-out), on a
fresh SQLite file — one command after the other, as a piped `taskforce shell` runs them.

Baseline: the same reads and writes in one plain `sqlite3` transaction per command, on a
copy of the same database with the same pragmas: identity and member, operation,
membership, channel link, subject, active notice, the sequence number, the sighting, the
audit chain's tip and entry, the processed-event key. That is the database's own cost of
the command; the ratio is what everything else costs (parsing, rules, ORM, rendering).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from bench.common import Row, Sizes, log_to_file, postgres_reachable, scratch_postgres
from bench.scenario import (
    ADMIN_KEY,
    OP_CODE,
    command,
    prepared_app,
    slack_invocation,
    sqlite_path,
)
from bot.commands.dispatch import dispatch
from bot.contracts import Invocation

NAME = "0 in process"
TARGET = 10.0
INBOX_TARGET = 1.2
PARALLEL_TARGET = 2.0
LINE = 'sighting {op}/S-1 at "Checkpoint {i}" --grade B2'


async def _taskforce(path: str, n: int, *, inbox: bool = False) -> float:
    app = await prepared_app(f"sqlite+aiosqlite:///{path}", link_channel=False)
    try:
        for i in range(20):  # warm the statement caches
            await dispatch(app.core, _inv(i, "warm"))
        started = time.perf_counter()
        for i in range(n):
            inv = _inv(i, "run")
            if inbox:
                assert inv.event_key is not None
                await app.inbox.accept("slack", inv.event_key, "bench", {"text": inv.text})
            reply = await dispatch(app.core, inv)
            if not reply.ok:
                raise RuntimeError(f"bench sighting refused: {reply.message.plain_text()}")
            if inbox:
                assert inv.event_key is not None
                await app.inbox.done("slack", inv.event_key)
        return (time.perf_counter() - started) / n
    finally:
        await app.close()


def _inv(i: int, run: str, op: str = OP_CODE) -> Invocation:
    return slack_invocation(LINE.format(op=op, i=i), channel="DBENCH", event_key=f"{run}-{i}")


@dataclass
class Parallel:
    """One side of the operations-side-by-side case: the rate and what held it back."""

    rate: float  # commands per second
    cpu: float  # the process's CPU time over the wall time (1.0: one core kept busy)
    lock_waits: float  # mean backends of this database waiting on a lock, per sample


class _LockSampler:
    """Samples `pg_stat_activity` every 20 ms on its own connection, in a thread: how many
    of the database's backends wait on a lock (a row lock: a sequence, an audit chain)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.02):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()
                self.samples.append(int(row[0]) if row else 0)

    @property
    def mean(self) -> float:
        """Mean lock-waiting backends per sample."""
        return sum(self.samples) / len(self.samples) if self.samples else 0.0


async def _parallel(url: str, operations: int, senders: int, seconds: float) -> Parallel:
    """Commands per second with `senders` concurrent senders spread over `operations`."""
    app = await prepared_app(url, link_channel=False)
    codes = [OP_CODE]
    try:
        for n in range(1, operations):
            code = f"{OP_CODE}-{n}"
            await command(app, f'op new "Bench {n}" --code {code} --tlp amber')
            await command(app, f"op status {code} active")
            await command(app, f'subject add {code} person "Ivan Petrov {n}" --category suspect')
            codes.append(code)
        done = 0
        stop = time.perf_counter() + seconds

        async def sender(k: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < stop:
                reply = await dispatch(app.core, _inv(i, f"par{k}", codes[k % operations]))
                if not reply.ok:
                    raise RuntimeError(reply.message.plain_text())
                done += 1
                i += 1

        with _LockSampler(_sync_url(url)) as locks:
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(sender(k) for k in range(senders)))
            wall = time.perf_counter() - started
            busy = (time.process_time() - cpu) / wall
        return Parallel(done / wall, busy, locks.mean)
    finally:
        await app.close()


def _raw(path: str, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    team_user = ADMIN_KEY
    started = time.perf_counter()
    for i in range(n):
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn.execute("BEGIN IMMEDIATE")
        member_id = conn.execute(
            "SELECT m.id FROM identity i JOIN member m ON m.id = i.member_id "
            "WHERE i.platform = 'slack' AND i.key = ?",
            (team_user,),
        ).fetchone()[0]
        op_id = conn.execute("SELECT id FROM operation WHERE code = ?", (OP_CODE,)).fetchone()[0]
        conn.execute(
            "SELECT role FROM membership WHERE operation_id = ? AND member_id = ?",
            (op_id, member_id),
        ).fetchone()
        conn.execute(
            "SELECT * FROM channellink WHERE platform = 'slack' AND channel_key = 'DBENCH'"
        ).fetchone()
        subject_id = conn.execute(
            "SELECT id FROM subject WHERE operation_id = ? AND seq = 1", (op_id,)
        ).fetchone()[0]
        conn.execute(
            "SELECT id FROM notice WHERE subject_id = ? AND status = 'active' AND expires_at > ?",
            (subject_id, now),
        ).fetchall()
        seq = conn.execute(
            "UPDATE operation SET sighting_seq = sighting_seq + 1 WHERE id = ? "
            "RETURNING sighting_seq",
            (op_id,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO sighting (operation_id, seq, subject_id, location, observed_at, "
            "reported_at, grade, tlp, reporter_id) VALUES (?, ?, ?, ?, ?, ?, 'B2', 'amber', ?)",
            (op_id, seq, subject_id, f"Checkpoint {i}", now, now, member_id),
        )
        count, head = conn.execute(
            "UPDATE auditchain SET entries = entries + 1 WHERE chain = ? RETURNING entries, head",
            (op_id,),
        ).fetchone()
        digest = hashlib.sha256(
            json.dumps({"prev": head, "at": now, "seq": count}).encode()
        ).hexdigest()
        conn.execute(
            "INSERT INTO auditentry (chain, chain_seq, at, actor_id, actor, operation_id, "
            "action, command, object_ref, channel, outcome, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, 'bench', ?, 'collect', 'sighting', ?, 'slack:DBENCH', 'ok', "
            "?, ?)",
            (op_id, count, now, member_id, op_id, f"{OP_CODE}/SG-{seq}", head, digest),
        )
        conn.execute("UPDATE auditchain SET head = ? WHERE chain = ?", (digest, op_id))
        conn.execute(
            "INSERT INTO processedevent (platform, event_key, reply, created_at) "
            "VALUES ('slack', ?, ?, ?)",
            (f"raw-{i}", json.dumps({"message": {"lines": [f"SG-{seq}"]}}), now),
        )
        conn.execute("COMMIT")
    elapsed = (time.perf_counter() - started) / n
    conn.close()
    return elapsed


def run(sizes: Sizes) -> list[Row]:
    """The three cases of the module docstring."""
    n = sizes.inprocess_commands
    log_to_file("inprocess")  # JSON lines, as `taskforce serve` logs, off the terminal
    tf_path = sqlite_path("inprocess")
    per_command = asyncio.run(_taskforce(str(tf_path), n))
    raw_path = sqlite_path("inprocess-raw")
    shutil.copy(tf_path, raw_path)
    baseline = _raw(str(raw_path), n)
    ratio = per_command / baseline
    with_inbox = asyncio.run(_taskforce(str(sqlite_path("inprocess-inbox")), n, inbox=True))
    rows = _raw_row(n, per_command, baseline, ratio)
    rows.append(
        Row(
            NAME,
            f"sighting written to the inbox first ({n}), SQLite",
            with_inbox * 1000,
            "ms",
            per_command * 1000,
            target=f"≤ {INBOX_TARGET}× without the inbox",
            met=with_inbox / per_command <= INBOX_TARGET,
            note="baseline: the same sightings without Inbox.accept/done",
        )
    )
    if sizes.postgres and postgres_reachable(sizes.pg_admin_url):
        seconds = max(sizes.seconds, 1.0)
        with scratch_postgres(sizes.pg_admin_url) as one_url:
            alone = asyncio.run(_parallel(_async_url(one_url), 1, 10, seconds))
        with scratch_postgres(sizes.pg_admin_url) as four_url:
            side_by_side = asyncio.run(_parallel(_async_url(four_url), 4, 40, seconds))
        rows.append(
            Row(
                NAME,
                "4 operations x 10 senders vs 1 x 10, PostgreSQL",
                side_by_side.rate,
                "cmd/s",
                alone.rate,
                target=f"≥ {PARALLEL_TARGET:.0f}× one operation",
                met=side_by_side.rate / alone.rate >= PARALLEL_TARGET,
                note=(
                    "one process; baseline: 10 senders in one operation; process CPU "
                    f"{alone.cpu:.0%} (1 operation) and {side_by_side.cpu:.0%} (4) of a core; "
                    f"backends waiting on a lock, mean per sample: {alone.lock_waits:.2f} (1) "
                    f"and {side_by_side.lock_waits:.2f} (4)"
                ),
            )
        )
    return rows


def _async_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _sync_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _raw_row(n: int, per_command: float, baseline: float, ratio: float) -> list[Row]:
    return [
        Row(
            NAME,
            f"sighting, one after another ({n}), SQLite, no links",
            per_command * 1000,
            "ms",
            baseline * 1000,
            target=f"≤ {TARGET:.0f}× raw sqlite3",
            met=ratio <= TARGET,
            note="baseline: the same reads and writes in one plain sqlite3 transaction",
        )
    ]
