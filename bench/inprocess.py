"""Benchmark 0, the command path in process: `sighting …` through the core, no HTTP.

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
import time
from datetime import UTC, datetime

from bench.common import Row, Sizes
from bench.scenario import ADMIN_KEY, OP_CODE, prepared_app, slack_invocation, sqlite_path
from bot.commands.dispatch import dispatch

NAME = "0 in process"
TARGET = 10.0
LINE = 'sighting {op}/S-1 at "Checkpoint {i}" --grade B2'


async def _taskforce(path: str, n: int) -> float:
    app = await prepared_app(f"sqlite+aiosqlite:///{path}", link_channel=False)
    try:
        for i in range(20):  # warm the statement caches
            await dispatch(app.core, _inv(i, "warm"))
        started = time.perf_counter()
        for i in range(n):
            reply = await dispatch(app.core, _inv(i, "run"))
            if not reply.ok:
                raise RuntimeError(f"bench sighting refused: {reply.message.plain_text()}")
        return (time.perf_counter() - started) / n
    finally:
        await app.close()


def _inv(i: int, run: str):  # type: ignore[no-untyped-def]
    return slack_invocation(
        LINE.format(op=OP_CODE, i=i), channel="DBENCH", event_key=f"bench-{run}-{i}"
    )


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
    """Taskforce's in-process sighting against the raw sqlite3 transaction, per command."""
    n = sizes.inprocess_commands
    tf_path = sqlite_path("inprocess")
    per_command = asyncio.run(_taskforce(str(tf_path), n))
    raw_path = sqlite_path("inprocess-raw")
    shutil.copy(tf_path, raw_path)
    baseline = _raw(str(raw_path), n)
    ratio = per_command / baseline
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
