"""The weekly list of records past their review date, for the leads of each operation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import _, ngettext
from bot.base.messages import Message
from bot.core import lifecycle
from bot.core.access import TLP
from bot.core.fanout import fanout
from bot.core.recurrence import brief_trigger, last_fire
from bot.jobs.base import LOOKBACK, JobKind, Planned
from bot.store.models import AuditEntry, Operation, ScheduledFire

REVIEW_TRIGGER = brief_trigger("08:00", "mon", "UTC")  # bounded like every schedule
REVIEW_REF = 0  # one weekly review fire covers every operation


async def _in_use_since(session: AsyncSession, now: datetime) -> datetime:
    """When this database began recording: its first audit entry (`now` if it has none).

    The weekly review belongs to no row of its own: without this bound a new database would
    find last Monday's review "missed" and log it as skipped, days before it existed.
    """
    first = (await session.exec(select(func.min(AuditEntry.at)))).first()
    return first if first is not None else now


class Review(JobKind):
    """Job `review`: Mondays 08:00 UTC, one fire for every operation."""

    kind = "review"

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """One fixed weekly job."""
        return [Planned("review", REVIEW_TRIGGER, REVIEW_REF)] if ref_id is None else []

    async def due_at(
        self, session: AsyncSession, ref_id: int, fire_at: datetime | None, now: datetime
    ) -> datetime | None:
        """The newest Monday 08:00."""
        return last_fire(REVIEW_TRIGGER, now, LOOKBACK)

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Last Monday's list, if not sent and the database was in use then."""
        review = last_fire(REVIEW_TRIGGER, now, LOOKBACK)
        if review is None or review < await _in_use_since(session, now):
            return []
        seen = (
            await session.exec(
                select(ScheduledFire.id).where(
                    ScheduledFire.kind == self.kind,
                    ScheduledFire.ref_id == REVIEW_REF,
                    ScheduledFire.fire_at == review,
                )
            )
        ).first()
        return [] if seen is not None else [(REVIEW_REF, review)]

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """References only (TLP:GREEN), to each operation's channels."""
        # Subjects, notices and sightings, in closed operations too (bot.core.lifecycle).
        by_op = await lifecycle.due_for_review(session, now)
        posts = 0
        for op_id, seqs in by_op.items():
            op = await session.get(Operation, op_id)
            if op is None:
                continue
            refs = ", ".join(seqs[:30])
            more = _(" and {n} more").format(n=len(seqs) - 30) if len(seqs) > 30 else ""
            # English keeps its "record(s)"; each language writes its own plural forms.
            title = ngettext(
                "For the leads of {op}: {n} record(s) due for review",
                "For the leads of {op}: {n} record(s) due for review",
                len(seqs),
            )
            message = Message(
                title=title.format(op=op.code, n=len(seqs)),
                lines=[
                    _("Past their review date: {refs}{more}.").format(refs=refs, more=more),
                    _(
                        'Leads: open each and keep it (`review keep <ref> --reason "…"`) or '
                        "erase it (`subject erase`, `sighting erase`, `notice erase`)."
                    ),
                ],
                context=_("{op} · weekly review list · references only").format(op=op.code),
                mark="LATE" if late else None,
            )
            result = await fanout(
                session, now=now, op=op, message=message, tlp=TLP.GREEN, kind="review"
            )
            posts += len(result.posted)
        return posts
