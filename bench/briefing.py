"""Benchmark 3, briefing at scale: `bot.core.briefing.build` over 10,000 and 1,000,000 sightings.

The history is generated in bulk (`bench.bulk`), with `new` sightings reported since the
last briefing; subjects and a red notice are made with real commands. The briefing is built
as the scheduler builds it for a linked group channel (ceiling TLP:AMBER), in a read
transaction, the median of a few builds after one warm-up. Baseline beside each size: the
least a briefing must read — the new sightings fetched by the same index through the same
session. Target: the large history within 1.5× the small one.

SQLite histories are cached under `bench/out/` (keyed by the migration, the generator and
the size), since inserting a million rows takes a while; PostgreSQL ones are loaded with
COPY into a scratch database each run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import shutil
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlmodel import col, select, update

from bench import bulk
from bench.common import (
    OUT,
    Row,
    Sizes,
    log_to_file,
    median,
    postgres_reachable,
    scratch_postgres,
)
from bench.scenario import (
    ADMIN_KEY,
    OP_CODE,
    bench_settings,
    command,
    prepare_operation,
    prepared_app,
)
from bot.core import briefing
from bot.core.access import TLP, Role
from bot.core.disclosure import Reader
from bot.serving.app import App, build_app
from bot.store.engine import MIGRATIONS_DIR
from bot.store.models import Identity, Operation, Subject

NAME = "3 briefing"
TARGET = 1.5
SUBJECTS = 20
# A fixed "last briefing", so a cached history stays valid; the build runs two hours later.
SINCE = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
NOW = SINCE + timedelta(hours=2)
# The readers the disclosure rule is asked for: a linked group channel, and a lead.
CHANNEL_AUDIENCE = Reader.channel(ceiling=TLP.AMBER, is_group=True, agency=None, now=NOW)
FULL_AUDIENCE = Reader(role=Role.LEAD, member_id=None, now=NOW)


async def populate(app: App, total: int, new: int, sync_url: str) -> None:
    """Subjects and a notice through commands, then `total` sightings in bulk."""
    for n in range(2, SUBJECTS + 1):
        category = "victim" if n % 5 == 0 else "suspect"
        await command(app, f'subject add {OP_CODE} person "Subject {n}" --category {category}')
    await command(
        app,
        'notice record red S-1 --charges "trafficking in human beings" --warrant W-1 '
        "--warrant-country PT --ref A-1/1-2026 --requested-by PT",
    )
    async with app.store.transaction() as session:
        op = (await session.exec(select(Operation).where(Operation.code == OP_CODE))).one()
        subject_ids = [
            s.id or 0
            for s in (await session.exec(select(Subject).where(Subject.operation_id == op.id)))
        ]
        reporter = (await session.exec(select(Identity).where(Identity.key == ADMIN_KEY))).one()
        op_id, reporter_id = op.id or 0, reporter.member_id
    rows = bulk.sighting_rows(
        operation_id=op_id,
        subject_ids=subject_ids,
        reporter_id=reporter_id,
        total=total,
        new=new,
        since=SINCE,
    )
    if sync_url.startswith("sqlite"):
        await asyncio.to_thread(bulk.insert_sqlite, sync_url.split(":///", 1)[1], rows)
    else:
        await asyncio.to_thread(bulk.insert_postgres, sync_url, rows)
    async with app.store.transaction() as session:
        await session.exec(
            update(Operation).where(col(Operation.id) == op_id).values(sighting_seq=total)
        )


def cache_key(total: int, new: int) -> str:
    """Changes whenever the schema, the generator or the set-up changes."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.glob("versions/*.py")):
        digest.update(path.read_bytes())
    digest.update(Path(bulk.__file__).read_bytes())
    digest.update(inspect.getsource(populate).encode())
    digest.update(inspect.getsource(prepare_operation).encode())
    digest.update(f"{total}:{new}:{SUBJECTS}".encode())
    return digest.hexdigest()[:12]


async def sqlite_history(total: int, new: int) -> Path:
    """A SQLite file with the history, built once and cached under bench/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"briefing-{total}-{cache_key(total, new)}.db"
    if path.exists():
        return path
    for old in OUT.glob(f"briefing-{total}-*.db*"):  # stale caches of this size
        old.unlink()
    building = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(building) + suffix).unlink(missing_ok=True)
    app = await prepared_app(f"sqlite:///{building}")
    try:
        await populate(app, total, new, f"sqlite:///{building}")
    finally:
        await app.close()
    shutil.move(building, path)
    return path


@contextlib.asynccontextmanager
async def postgres_history(admin_url: str, total: int, new: int) -> AsyncIterator[str]:
    """A scratch PostgreSQL database with the history (dropped after)."""
    with scratch_postgres(admin_url) as url:
        app = await prepared_app(url)
        try:
            await populate(app, total, new, url)
        finally:
            await app.close()
        yield url


@dataclass
class Timing:
    """Median seconds of the briefing build and of the bare read, and the check line."""

    build: float
    bare: float
    headline: str


async def measure(db_url: str, new: int, rounds: int) -> Timing:
    """Build the briefing `rounds` times (after a warm-up) and time the bare read beside."""
    app = build_app(bench_settings(db_url))
    try:
        async with app.store.transaction() as session:
            op = (await session.exec(select(Operation).where(Operation.code == OP_CODE))).one()
            full = await briefing.build(
                session, op, now=NOW, since=SINCE, reader=FULL_AUDIENCE, tz="UTC"
            )
        headline = next((ln for ln in full.lines if ln.startswith("New sightings:")), "")
        if not headline.startswith(f"New sightings: {new}"):
            raise RuntimeError(f"the briefing shows {headline!r}, expected {new} new")
        bare_sql = text(
            "SELECT * FROM sighting WHERE operation_id = :op AND reported_at > :since "
            "AND reported_at <= :now"
        )
        params = {
            "op": op.id,
            "since": SINCE.replace(tzinfo=None),
            "now": NOW.replace(tzinfo=None),
        }
        builds: list[float] = []
        bares: list[float] = []
        for n in range(rounds + 1):
            async with app.store.transaction() as session:
                t0 = time.perf_counter()
                await briefing.build(
                    session, op, now=NOW, since=SINCE, reader=CHANNEL_AUDIENCE, tz="UTC"
                )
                t1 = time.perf_counter()
            async with app.store.transaction() as session:
                t2 = time.perf_counter()
                conn = await session.connection()
                got = (await conn.execute(bare_sql, params)).all()
                t3 = time.perf_counter()
            if len(got) != new:
                raise RuntimeError(f"bare read found {len(got)} new sightings, not {new}")
            if n:  # the first round warms caches
                builds.append(t1 - t0)
                bares.append(t3 - t2)
        return Timing(median(builds), median(bares), headline)
    finally:
        await app.close()


def rows_for(backend: str, sizes: Sizes, timings: dict[int, Timing]) -> list[Row]:
    """A row per size (against the bare read) and the large-versus-small row."""
    small, big = sizes.briefing_sizes
    out = [
        Row(
            NAME,
            f"{backend}, {n:,} sightings ({sizes.briefing_new} new)",
            t.build * 1000,
            "ms",
            t.bare * 1000,
        )
        for n, t in timings.items()
    ]
    ratio = timings[big].build / timings[small].build
    out.append(
        Row(
            NAME,
            f"{backend}, {big:,} vs {small:,} sightings",
            timings[big].build * 1000,
            "ms",
            timings[small].build * 1000,
            target=f"≤ {TARGET}× the {small:,} case",
            met=ratio <= TARGET,
        )
    )
    return out


def progress(label: str, since: float) -> None:
    """Set-up time on stderr (not on the table)."""
    print(f"  {label}: {time.perf_counter() - since:.0f} s", file=sys.stderr, flush=True)


def run(sizes: Sizes) -> list[Row]:
    """Benchmark 3 on SQLite and (when reachable) on PostgreSQL."""

    async def go() -> list[Row]:
        log_to_file("briefing")
        rows: list[Row] = []
        timings: dict[int, Timing] = {}
        for total in sizes.briefing_sizes:
            t0 = time.perf_counter()
            path = await sqlite_history(total, sizes.briefing_new)
            progress(f"SQLite history of {total:,}", t0)
            timings[total] = await measure(
                f"sqlite:///{path}", sizes.briefing_new, sizes.briefing_rounds
            )
        rows += rows_for("SQLite", sizes, timings)
        if sizes.postgres and postgres_reachable(sizes.pg_admin_url):
            timings = {}
            for total in sizes.briefing_sizes:
                t0 = time.perf_counter()
                async with postgres_history(sizes.pg_admin_url, total, sizes.briefing_new) as url:
                    progress(f"PostgreSQL history of {total:,}", t0)
                    timings[total] = await measure(url, sizes.briefing_new, sizes.briefing_rounds)
            rows += rows_for("PostgreSQL", sizes, timings)
        return rows

    return asyncio.run(go())
