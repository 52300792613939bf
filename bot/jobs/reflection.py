"""The reminder that a victim's reflection and recovery period is ending (issue 28).

A week before the period of an NRM referral ends (`victim refer … --reflection DAYS`), the
member who recorded the referral and the operation's leads get a private message: the
victim is a protected person, so nothing goes to a channel. One fire per referral (ref =
the referral's id, fire time = its end − 7 days), claimed once, caught up after a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.base.i18n import _, use_language
from bot.base.messages import Message
from bot.core.access import TLP
from bot.core.protection import deliver_private, lead_ids
from bot.core.victims import REFLECTION_NOTICE, reflection_reminder_at
from bot.jobs.base import JobKind, Planned, unclaimed
from bot.store.models import Member, Operation, Subject
from bot.store.models_victims import VictimReferral


def _pending(now: datetime) -> SelectOfScalar[VictimReferral]:
    return select(VictimReferral).where(
        col(VictimReferral.reflection_ends).is_not(None),
        col(VictimReferral.reflection_ends) > now,
    )


class Reflection(JobKind):
    """Jobs `reflection:<referral id>`: one-off, a week before a reflection period ends."""

    kind = "reflection"
    watches = "referral"

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """The reminders still ahead, of every referral with a period (or of one)."""
        if ref_id is not None:
            found = await session.get(VictimReferral, ref_id)
            rows = [found] if found is not None else []
        else:
            rows = list((await session.exec(_pending(now))).all())
        out = []
        for r in rows:
            at = reflection_reminder_at(r)
            if at is not None and at > now and at > r.created_at:
                out.append(
                    Planned(
                        f"{self.kind}:{r.id}",
                        DateTrigger(run_date=at, timezone=UTC),
                        r.id or 0,
                        at.astimezone(UTC),
                    )
                )
        return out

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Reminders due by `now` (before the period ends) and not yet claimed."""
        rows = (await session.exec(_pending(now))).all()
        wanted = [
            (r.id or 0, at)
            for r in rows
            if (at := reflection_reminder_at(r)) is not None and r.created_at < at <= now
        ]
        return await unclaimed(session, self.kind, wanted)

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """The private reminder to the referrer and the leads."""
        referral = await session.get(VictimReferral, ref_id)
        if referral is None or referral.reflection_ends is None:
            return 0
        if (
            referral.reflection_ends - REFLECTION_NOTICE != fire_at
            or now >= referral.reflection_ends
        ):
            return 0
        op = await session.get(Operation, referral.operation_id)
        subject = await session.get(Subject, referral.subject_id)
        if op is None or subject is None or subject.erased_at is not None:
            return 0
        to = {
            *(await lead_ids(session, op)),
            *([referral.referred_by] if referral.referred_by else []),
        }
        reached = 0
        for member_id in sorted(to):
            member = await session.get(Member, member_id)
            with use_language(member.language if member else None):
                message = Message(
                    title=_("{op}: the reflection period of S-{n} ends on {day}").format(
                        op=op.code, n=subject.seq, day=f"{referral.reflection_ends:%Y-%m-%d}"
                    ),
                    lines=[
                        _(
                            "S-{n} {name} was referred to the National Referral Mechanism "
                            "({agency}{ref}) on {on}. Before the reflection and recovery "
                            "period ends: the victim's decision on co-operation, their "
                            "residence and the support that follows."
                        ).format(
                            n=subject.seq,
                            name=subject.name,
                            agency=referral.agency,
                            ref=f", {referral.reference}" if referral.reference else "",
                            on=referral.referred_on.isoformat(),
                        )
                    ],
                    context=_("{op} · protected person · private reminder").format(op=op.code),
                    mark="LATE" if late else None,
                    tlp=TLP.RED.value,
                )
            sent = await deliver_private(
                session,
                now=now,
                op=op,
                member_ids=[member_id],
                message=message,
                kind=self.kind,
                object_ref=f"S-{subject.seq}",
                tlp=TLP.RED,
            )
            reached += len(sent.reached)
        return reached
