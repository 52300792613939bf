"""The scheduled briefing of a linked channel (`brief set`): a cron time in a time zone."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core import briefing, lifecycle
from bot.core.access import TLP
from bot.core.disclosure import channel_reader
from bot.core.fanout import effective_ceiling, link_agencies, withheld_reason
from bot.core.recurrence import brief_trigger, fires_between, last_fire
from bot.jobs.base import LOOKBACK, Cancel, JobKind, Planned, latest_claims
from bot.store.models import BriefSchedule, ChannelLink, Operation
from bot.store.outbox import enqueue


class Briefing(JobKind):
    """Job `brief:<schedule id>`: the operation's briefing, posted to one linked channel."""

    kind = "brief"
    watches = "brief"

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """One cron job per active schedule."""
        if ref_id is not None:
            row = await session.get(BriefSchedule, ref_id)
            rows = [row] if row is not None and row.active else []
        else:
            rows = list(
                (
                    await session.exec(
                        select(BriefSchedule).where(col(BriefSchedule.active).is_(True))
                    )
                ).all()
            )
        return [
            Planned(f"brief:{r.id}", brief_trigger(r.time_of_day, r.days, r.timezone), r.id or 0)
            for r in rows
        ]

    async def due_at(
        self, session: AsyncSession, ref_id: int, fire_at: datetime | None, now: datetime
    ) -> datetime | None:
        """The newest cron time (the job runs at it, or a little after)."""
        row = await session.get(BriefSchedule, ref_id)
        if row is None or not row.active:
            return None
        return last_fire(brief_trigger(row.time_of_day, row.days, row.timezone), now, LOOKBACK)

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Every cron time since the schedule's last fire (or creation), up to `now`."""
        latest = await latest_claims(session, self.kind)
        rows = (
            await session.exec(select(BriefSchedule).where(col(BriefSchedule.active).is_(True)))
        ).all()
        out: list[tuple[int, datetime]] = []
        for row in rows:
            marks = [row.created_at, now - LOOKBACK, row.last_fired_at, latest.get(row.id or 0)]
            start = max(m for m in marks if m is not None)
            trigger = brief_trigger(row.time_of_day, row.days, row.timezone)
            out += [(row.id or 0, t) for t in fires_between(trigger, start, now)]
        return out

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """The briefing, within the channel's TLP ceiling, into the outbox."""
        row = await session.get(BriefSchedule, ref_id)
        if row is None or not row.active:
            raise Cancel("schedule stopped")
        op = await session.get(Operation, row.operation_id)
        if op is None or op.status == "closed":
            raise Cancel("operation closed")
        link = (
            await session.exec(
                select(ChannelLink).where(
                    ChannelLink.operation_id == op.id,
                    ChannelLink.platform == row.platform,
                    ChannelLink.channel_key == row.channel_key,
                )
            )
        ).first()
        if link is None:
            raise Cancel("channel no longer linked")
        message = await briefing.build(
            session,
            op,
            now=now,
            since=row.last_fired_at,
            reader=await channel_reader(
                session,
                op,
                ceiling=effective_ceiling(link),
                is_group=link.is_group,
                agencies=link_agencies(link),
                now=now,
            ),
            tz=row.timezone,
            late_since=fire_at if late else None,
        )
        await lifecycle.briefing_combined(session, op, now)  # a `combine` audit entry
        label = TLP(message.tlp or TLP.CLEAR)
        if withheld_reason(label, link) is not None:  # never, by build
            raise RuntimeError(f"briefing labelled {label.label} above its channel's ceiling")
        enqueue(
            session,
            now=now,
            platform=link.platform,
            channel_key=link.channel_key,
            message=message,
            operation_id=op.id,
            tlp=label.value,
            kind="briefing",
            object_ref=f"{op.code}/brief#{row.id}",
        )
        row.last_fired_at = now
        session.add(row)
        return 1
