"""What one kind of scheduled job is: its triggers, its due times and the posts it builds.

A job kind is one module in `bot/jobs/` with one `JobKind` subclass, and one line in
`bot/jobs/__init__.py`'s `JOBS`. The scheduler (`bot/jobs/scheduler.py`) does the rest the same
for every kind: APScheduler registration, leader-only firing, the claim of each fire by a
unique `ScheduledFire(kind, ref_id, fire_at)` row, late and skipped fires, catch-up after a
restart, metrics and logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import ScheduledFire

LOOKBACK = timedelta(days=7)  # how far back start-up looks for missed fires


class Cancel(Exception):
    """Raised by `build` (inside the fire's transaction) to roll the claim back: the row
    changed or ended since the job was registered. Nothing is recorded."""


@dataclass(frozen=True)
class Planned:
    """One APScheduler job a kind wants: its id, trigger, the row it is about, and (for a
    one-off fire) the fire time it stands for."""

    job_id: str
    trigger: BaseTrigger
    ref_id: int
    fire_at: datetime | None = None


class JobKind:
    """One kind of scheduled job. Subclasses set `kind` and implement the four methods."""

    kind: ClassVar[str]  # ScheduledFire.kind and the metrics label: "brief", "reminder", …
    # The `Core.on_schedule_change` kind ("raid", "brief") after which a row's jobs are
    # registered again; None for a kind whose jobs never change (a fixed weekly time).
    watches: ClassVar[str | None] = None

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """The jobs to register: for every active row (`ref_id` None), or for one row."""
        raise NotImplementedError

    async def due_at(
        self, session: AsyncSession, ref_id: int, fire_at: datetime | None, now: datetime
    ) -> datetime | None:
        """When APScheduler runs a job: the fire time it stands for (None: nothing now)."""
        return fire_at

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Fires due up to `now` and not claimed yet (catch-up after a restart, each sync)."""
        raise NotImplementedError

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """Build the fire's posts and queue them in `session`; return how many. `Cancel` if
        the row changed or ended."""
        raise NotImplementedError

    def owns(self, job_id: str, ref_id: int | None = None) -> bool:
        """Whether a registered job id is one of this kind's (of one row, given `ref_id`)."""
        prefix = f"{self.kind}:" if ref_id is None else f"{self.kind}:{ref_id}"
        return job_id.startswith(prefix) and (
            ref_id is None or job_id == prefix or job_id.startswith(prefix + ":")
        )


async def latest_claims(session: AsyncSession, kind: str) -> dict[int, datetime]:
    """The newest claimed fire time of each row of `kind`."""
    rows = (
        await session.exec(
            select(ScheduledFire.ref_id, func.max(ScheduledFire.fire_at))
            .where(ScheduledFire.kind == kind)
            .group_by(col(ScheduledFire.ref_id))
        )
    ).all()
    return dict(rows)


async def claimed(
    session: AsyncSession, kind: str, ref_ids: Iterable[int]
) -> set[tuple[int, datetime]]:
    """The (ref_id, fire_at) pairs of `kind` claimed already, for these rows."""
    rows = (
        await session.exec(
            select(ScheduledFire.ref_id, ScheduledFire.fire_at).where(
                ScheduledFire.kind == kind, col(ScheduledFire.ref_id).in_(list(ref_ids))
            )
        )
    ).all()
    return set(rows)


async def unclaimed(
    session: AsyncSession, kind: str, wanted: list[tuple[int, datetime]]
) -> list[tuple[int, datetime]]:
    """The (ref_id, fire_at) pairs of `wanted` that no process has claimed yet."""
    if not wanted:
        return []
    done = await claimed(session, kind, [n for n, _t in wanted])
    return [(n, t) for n, t in wanted if (n, t) not in done]
