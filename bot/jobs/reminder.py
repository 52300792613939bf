"""Raid reminders: 24 h, 2 h and 30 min before a planned raid (`bot/core/raidview.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core import raidview
from bot.jobs.base import Cancel, JobKind, Planned, claimed
from bot.store.models import Operation, Raid


def job_id(raid_id: int, offset: timedelta) -> str:
    """`reminder:7:120`: the job of raid 7's reminder 120 minutes before it."""
    return f"reminder:{raid_id}:{int(offset.total_seconds() // 60)}"


class Reminder(JobKind):
    """Jobs `reminder:<raid id>:<minutes before>`: one-off, at each reminder time ahead."""

    kind = "reminder"
    watches = "raid"

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """The reminders still ahead of each active raid (or of one raid)."""
        if ref_id is not None:
            raid = await session.get(Raid, ref_id)
            raids = [raid] if raid is not None else []
        else:
            raids = list(
                (
                    await session.exec(
                        select(Raid).where(
                            col(Raid.status).in_(raidview.ACTIVE_STATUSES), col(Raid.at) > now
                        )
                    )
                ).all()
            )
        out: list[Planned] = []
        for raid in raids:
            if raid.status not in raidview.ACTIVE_STATUSES:
                continue
            for t, _label in raidview.reminder_times(raid.at, now):
                out.append(
                    Planned(
                        job_id(raid.id or 0, raid.at - t),
                        DateTrigger(run_date=t, timezone=UTC),
                        raid.id or 0,
                        t.astimezone(UTC),
                    )
                )
        return out

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Reminders of raids in the next 24 h whose time has come and is not claimed."""
        raids = (
            await session.exec(
                select(Raid).where(
                    col(Raid.status).in_(raidview.ACTIVE_STATUSES),
                    col(Raid.at) > now,
                    col(Raid.at) <= now + raidview.REMINDERS[0][0],
                )
            )
        ).all()
        if not raids:
            return []
        done = await claimed(session, self.kind, [r.id or 0 for r in raids])
        out: list[tuple[int, datetime]] = []
        for raid in raids:
            for off, _label in raidview.REMINDERS:
                t = raid.at - off
                # Only reminders due after the raid got this time: a raid planned (or moved)
                # less than 24 h ahead gets just the reminders still ahead.
                if raid.updated_at < t <= now and (raid.id, t) not in done:
                    out.append((raid.id or 0, t))
        return out

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """The reminder with the raid's checklist, to the operation's channels."""
        raid = await session.get(Raid, ref_id)
        if raid is None or raid.status not in raidview.ACTIVE_STATUSES:
            raise Cancel("raid ended")
        labels = {raid.at - off: label for off, label in raidview.REMINDERS}
        label = labels.get(fire_at)
        if label is None or fire_at <= raid.updated_at:
            raise Cancel("raid moved")
        if now >= raid.at:
            raise Cancel("raid time passed")
        op = await session.get(Operation, raid.operation_id)
        if op is None:
            raise Cancel("operation gone")
        items = await raidview.load_items(session, raid.id)
        message = raidview.reminder(op, raid, items, label, late=late)
        result = await raidview.post_raid(
            session, now=now, op=op, raid=raid, message=message, kind="reminder"
        )
        return len(result.posted)
