"""Victim care (issue 28): age assessments, referrals and reflection periods, read through
the disclosure rule (`bot.core.disclosure`, clause 9).

A victim's record holds the assessments of their age (apparent, stated, disputed, who and
when; a recorded reason to believe they are under 18 makes the presumption of childhood,
Directive 2011/36/EU Art. 13(2)), the referral to the National Referral Mechanism (agency,
reference, date, consent given or refused) with the reflection and recovery period, the
child-protection referral and the hand-over to an NGO partner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.disclosure import Level, Reader, is_child
from bot.store.models import Operation, Subject
from bot.store.models_victims import AgeAssessment, VictimReferral

REFERRAL_KINDS = ("nrm", "child-protection", "ngo")
CONSENT = ("given", "refused")
# The reminder of a reflection period's end: this long before it (or never, if it is
# nearer than that when recorded).
REFLECTION_NOTICE = timedelta(days=7)
MAX_AGE = 120


def reflection_reminder_at(referral: VictimReferral) -> datetime | None:
    """When the reminder of the referral's reflection period is due (None: no period)."""
    if referral.reflection_ends is None:
        return None
    return referral.reflection_ends - REFLECTION_NOTICE


@dataclass
class VictimCare:
    """One victim as a reader sees them: the level, the latest assessment, the referrals."""

    subject: Subject
    level: Level
    child: bool
    assessments: list[AgeAssessment] = field(default_factory=list)
    referrals: list[VictimReferral] = field(default_factory=list)

    def referred(self, kind: str) -> bool:
        """Whether a referral of `kind` is recorded."""
        return any(r.kind == kind for r in self.referrals)

    def open_items(self) -> list[str]:
        """The referrals still owed: `nrm` for every victim, `child-protection` for a
        child (the safeguarding the briefing lists as open)."""
        owed = [] if self.referred("nrm") else ["nrm"]
        if self.child and not self.referred("child-protection"):
            owed.append("child-protection")
        return owed


async def victims_seen(
    session: AsyncSession, op: Operation, reader: Reader, now: datetime
) -> list[VictimCare]:
    """Every victim of `op` this reader may know of (not erased), with their care record,
    as the disclosure rule lets them read it (clause 9)."""
    subjects = (
        await session.exec(
            select(Subject)
            .where(
                Subject.operation_id == op.id,
                Subject.kind == "person",
                Subject.category == "victim",
                col(Subject.erased_at).is_(None),
            )
            .order_by(col(Subject.seq))
        )
    ).all()
    seen = {
        s.id or 0: VictimCare(s, level, is_child(s, now))
        for s in subjects
        if (level := reader.victim_care(s)) is not Level.NONE
    }
    if not seen:
        return []
    ids = list(seen)
    for a in (
        await session.exec(
            select(AgeAssessment)
            .where(col(AgeAssessment.subject_id).in_(ids))
            .order_by(col(AgeAssessment.id))
        )
    ).all():
        seen[a.subject_id].assessments.append(a)
    for r in (
        await session.exec(
            select(VictimReferral)
            .where(col(VictimReferral.subject_id).in_(ids))
            .order_by(col(VictimReferral.id))
        )
    ).all():
        seen[r.subject_id].referrals.append(r)
    return list(seen.values())
