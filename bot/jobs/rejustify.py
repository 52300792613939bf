"""The reminder to re-justify a red notice 6 months before it expires (issue 15).

INTERPOL asks the requesting country to re-justify a red notice before its 5 years run
out. Six months ahead, the operation's linked channels get a post naming the notice by
reference only (TLP:GREEN, like the review list); the lead who recorded it renews it with
`notice renew N-n --reason "…"`. One fire per notice and expiry (ref = the notice's id,
fire time = expiry − 6 months), so a renewal (a new expiry) gets its own reminder and no
reminder is sent twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.clock import add_months
from bot.base.i18n import _
from bot.base.messages import Message
from bot.core.access import TLP
from bot.core.fanout import fanout
from bot.jobs.base import JobKind, Planned, unclaimed
from bot.store.models import Notice, Operation

MONTHS_BEFORE = 6


def fire_time(notice: Notice) -> datetime:
    """When the reminder of this notice's current expiry is due."""
    return add_months(notice.expires_at, -MONTHS_BEFORE).astimezone(UTC)


def _active_reds(now: datetime) -> Any:
    return select(Notice).where(
        Notice.colour == "red",
        Notice.kind == "notice",
        Notice.status == "active",
        col(Notice.erased_at).is_(None),
        col(Notice.expires_at) > now,
    )


def _still_due(notice: Notice | None, now: datetime) -> bool:
    return (
        notice is not None
        and notice.colour == "red"
        and notice.kind == "notice"
        and notice.status == "active"
        and notice.erased_at is None
        and notice.expires_at > now
    )


class Rejustify(JobKind):
    """Jobs `rejustify:<notice id>`: one-off, 6 months before each active red's expiry."""

    kind = "rejustify"

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """The reminders still ahead (the periodic sync picks up renewals and cancels)."""
        if ref_id is not None:
            found = await session.get(Notice, ref_id)
            notices = [found] if found is not None and _still_due(found, now) else []
        else:
            notices = list((await session.exec(_active_reds(now))).all())
        return [
            Planned(
                f"{self.kind}:{n.id}",
                DateTrigger(run_date=fire_time(n), timezone=UTC),
                n.id or 0,
                fire_time(n),
            )
            for n in notices
            if fire_time(n) > now
        ]

    async def due_at(
        self, session: AsyncSession, ref_id: int, fire_at: datetime | None, now: datetime
    ) -> datetime | None:
        """The fire time the job stands for, while the notice still has that expiry."""
        notice = await session.get(Notice, ref_id)
        if notice is None or not _still_due(notice, now) or fire_time(notice) != fire_at:
            return None
        return fire_at

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Reminders due by `now` (before expiry) and not yet claimed."""
        rows = (await session.exec(_active_reds(now))).all()
        wanted = [(n.id or 0, fire_time(n)) for n in rows if fire_time(n) <= now]
        return await unclaimed(session, self.kind, wanted)

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """Post the reminder (references only) to the operation's linked channels."""
        notice = await session.get(Notice, ref_id)
        if notice is None or not _still_due(notice, now) or fire_time(notice) != fire_at:
            return 0  # renewed, cancelled or erased since: this reminder is void
        op = await session.get(Operation, notice.operation_id)
        if op is None:
            return 0
        ref = f"N-{notice.seq}"
        message = Message(
            title=_("For the leads of {op}: Red notice {ref} expires on {day}").format(
                op=op.code, ref=ref, day=f"{notice.expires_at:%d %b %Y}"
            ),
            lines=[
                _(
                    "INTERPOL asks the requesting country to re-justify a red notice before it "
                    "expires. Once the NCB has, the lead who recorded it renews it: "
                    '`notice renew {ref} --reason "…"`.'
                ).format(ref=ref)
            ],
            context=_("{op} · re-justification reminder · references only").format(op=op.code),
            mark="LATE" if late else None,
        )
        result = await fanout(
            session, now=now, op=op, message=message, tlp=TLP.GREEN, kind=self.kind
        )
        return len(result.posted)
