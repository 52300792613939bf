"""The reminder to re-justify a red notice 6 months before it expires (issue 15).

INTERPOL asks the requesting country to re-justify a red notice before its 5 years run
out. Six months ahead, the operation's linked channels get a post naming the notice by
reference only (TLP:GREEN, like the review list); the lead who recorded it renews it with
`notice renew N-n --reason "…"`. One fire per notice and expiry, claimed like every other
fire (`kind` = `rejustify`, ref = the notice's id, fire time = expiry − 6 months), so a
renewal (a new expiry) gets its own reminder and no reminder is sent twice.

The scheduler calls in with three hooks: `ahead` and `register` (APScheduler jobs, from
`Scheduler.sync`), `due` (catch-up, from `Scheduler._due`) and `build` (from
`Scheduler._build`); this module holds the logic so it moves into a job module as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import TLP
from bot.commands.intel import add_months
from bot.fanout import fanout
from bot.i18n import _
from bot.messages import Message
from bot.models import Notice, Operation, ScheduledFire

KIND = "rejustify"
MONTHS_BEFORE = 6


def fire_time(notice: Notice) -> datetime:
    """When the reminder of this notice's current expiry is due."""
    return add_months(notice.expires_at, -MONTHS_BEFORE)


def _active_reds() -> Any:
    return select(Notice).where(
        Notice.colour == "red",
        Notice.kind == "notice",
        Notice.status == "active",
        col(Notice.erased_at).is_(None),
    )


async def ahead(session: AsyncSession, now: datetime) -> dict[int, datetime]:
    """Active red notices whose reminder is still ahead: notice id → fire time."""
    rows = (await session.exec(_active_reds().where(col(Notice.expires_at) > now))).all()
    return {n.id or 0: fire_time(n) for n in rows if fire_time(n) > now}


def job_id(notice_id: int) -> str:
    """`rejustify:7`."""
    return f"{KIND}:{notice_id}"


def register(
    aps: Any, run: Callable[..., Awaitable[None]], key: str, times: dict[int, datetime]
) -> set[str]:
    """Register (or move) one APScheduler job per notice; return the job ids wanted."""
    for notice_id, when in times.items():
        aps.add_job(
            run,
            DateTrigger(run_date=when, timezone=UTC),
            id=job_id(notice_id),
            args=[key, KIND, notice_id, when.astimezone(UTC).isoformat()],
            replace_existing=True,
        )
    return {job_id(n) for n in times}


async def due(session: AsyncSession, now: datetime) -> list[tuple[str, int, datetime]]:
    """Reminders due by `now` (before expiry) and not yet claimed."""
    rows = (await session.exec(_active_reds().where(col(Notice.expires_at) > now))).all()
    wanted = [(n.id or 0, fire_time(n)) for n in rows if fire_time(n) <= now]
    if not wanted:
        return []
    claimed = set(
        (
            await session.exec(
                select(ScheduledFire.ref_id, ScheduledFire.fire_at).where(
                    ScheduledFire.kind == KIND,
                    col(ScheduledFire.ref_id).in_([n for n, _t in wanted]),
                )
            )
        ).all()
    )
    return [(KIND, n, t) for n, t in wanted if (n, t) not in claimed]


async def build(
    session: AsyncSession, notice_id: int, fire_at: datetime, now: datetime, late: bool
) -> int:
    """Post the reminder (references only) to the operation's linked channels."""
    notice = await session.get(Notice, notice_id)
    if (
        notice is None
        or notice.status != "active"
        or notice.erased_at is not None
        or fire_time(notice) != fire_at
    ):
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
    result = await fanout(session, now=now, op=op, message=message, tlp=TLP.GREEN, kind=KIND)
    return len(result.posted)
