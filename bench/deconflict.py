"""Benchmark 7, deconfliction across operations (issue 27): the check `subject add` runs.

`deconflict_ops` operations holding `deconflict_keys` normalised keys in all (phones, one
per generated subject), loaded straight into the store. Measured, the median of a few
runs after one warm-up, in one session:

- the check (`bot.core.deconfliction.check`) of a new phone that no other operation holds
  (the usual no-hit), as `subject add` runs it: the lookup through the token index with
  the operations' status and the member's memberships;
- its baseline: the bare indexed lookup it rests on (`SELECT … FROM subjectkey WHERE
  token IN (…)`), the least any check must do.

Target: the check within 2× the bare lookup. PostgreSQL runs too when reachable.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.common import Row, Sizes, log_to_file, median, postgres_reachable, scratch_postgres
from bench.scenario import bench_settings, sqlite_path
from bot.core import deconfliction
from bot.serving.app import App, build_app
from bot.store.models import Member, Operation, Subject, SubjectKey

NAME = "7 deconfliction"
WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BATCH = 20_000


def _phone(n: int) -> str:
    return f"phone:+346{n:08d}"


async def _load(app: App, ops: int, keys: int) -> tuple[Member, Operation, Subject]:
    """`ops` operations with `keys` phone subjects spread over them; a member of the first;
    a new subject of the first to check."""
    op_t = Operation.__table__  # type: ignore[attr-defined]
    sub_t = Subject.__table__  # type: ignore[attr-defined]
    key_t = SubjectKey.__table__  # type: ignore[attr-defined]
    async with app.store.transaction() as session:
        member = Member(name="bench", created_at=WHEN)
        session.add(member)
        await session.flush()
        conn = await session.connection()
        await conn.execute(
            op_t.insert(),
            [
                {"id": i, "code": f"OP-D{i}", "name": f"D{i}", "created_at": WHEN}
                for i in range(1, ops + 1)
            ],
        )
        review = WHEN + timedelta(days=365)
        for start in range(0, keys, BATCH):
            ids = range(start + 1, min(keys, start + BATCH) + 1)
            await conn.execute(
                sub_t.insert(),
                [
                    {
                        "id": i,
                        "operation_id": i % ops + 1,
                        "seq": i,
                        "kind": "phone",
                        "name": _phone(i),
                        "aliases": [],
                        "tlp": "amber",
                        "review_at": review,
                        "created_at": WHEN,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                key_t.insert(),
                [
                    {
                        "operation_id": i % ops + 1,
                        "subject_id": i,
                        "part": "phone",
                        "source": _phone(i),
                        "token": _phone(i),
                        "skel": _phone(i),
                    }
                    for i in ids
                ],
            )
        op = await session.get(Operation, 1)
        new = await session.get(Subject, ops)  # of operation 1 (ops % ops + 1)
        assert op is not None and new is not None
    return member, op, new


async def measure(url: str, sizes: Sizes) -> tuple[float, float]:
    """Median seconds of the check and of the bare lookup."""
    app = build_app(bench_settings(url))
    await app.prepare()
    try:
        member, op, subject = await _load(app, sizes.deconflict_ops, sizes.deconflict_keys)
        bare_stmt = sa.select(SubjectKey.subject_id, SubjectKey.operation_id).where(
            sa.column("token").in_(sa.bindparam("tokens", expanding=True))
        )
        check_times: list[float] = []
        bare_times: list[float] = []
        for n in range(sizes.deconflict_rounds + 1):
            wanted = [_phone(sizes.deconflict_keys + 1 + n)]  # nobody holds it: no hit
            async with app.store.transaction() as session:
                conn = await session.connection()
                t0 = time.perf_counter()
                told = await deconfliction.check(
                    session,
                    now=WHEN,
                    op=op,
                    subject=subject,
                    actor=member,
                    actor_label="bench",
                    command="subject add",
                    tokens=wanted,
                )
                t1 = time.perf_counter()
                (await conn.execute(bare_stmt, {"tokens": wanted})).all()
                t2 = time.perf_counter()
            if told.hits:
                raise RuntimeError("a key nobody holds made a hit")
            if n:
                check_times.append(t1 - t0)
                bare_times.append(t2 - t1)
        return median(check_times), median(bare_times)
    finally:
        await app.close()


def run(sizes: Sizes) -> list[Row]:
    """Benchmark 7 on SQLite and (when reachable) on PostgreSQL."""

    async def go() -> list[Row]:
        log_to_file("deconflict")
        found = [("SQLite", await measure(f"sqlite:///{sqlite_path('deconflict')}", sizes))]
        if sizes.postgres and postgres_reachable(sizes.pg_admin_url):
            with scratch_postgres(sizes.pg_admin_url) as url:
                found.append(("PostgreSQL", await measure(url, sizes)))
        case = f"{sizes.deconflict_ops:,} operations / {sizes.deconflict_keys:,} keys"
        return [
            Row(
                NAME,
                f"{backend}, {case}: check on `subject add` (no hit)",
                check * 1000,
                "ms",
                bare * 1000,
                target="≤ 2× bare lookup",
                met=check <= 2 * bare,
            )
            for backend, (check, bare) in found
        ]

    return asyncio.run(go())
