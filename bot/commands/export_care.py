"""The case file's victim care and tasks (issue 28), as JSON: the age assessments and
referrals of the victims the export holds, and the operation's tasks. Called by
`bot/commands/export.py`; the subjects given are those the exporting reader may read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.access import TLP
from bot.store.models import Operation, Subject
from bot.store.models_victims import AgeAssessment, Task, VictimReferral

People = Callable[[int | None], dict[str, Any] | None]
Iso = Callable[[datetime | None], str | None]


async def victim_care(
    session: AsyncSession, subjects: Sequence[Subject], people: People, iso: Iso
) -> list[dict[str, Any]]:
    """One entry per victim in the file that has an age assessment or a referral."""
    refs = {s.id: f"S-{s.seq}" for s in subjects if s.id is not None}
    if not refs:
        return []
    assessed = (
        await session.exec(
            select(AgeAssessment)
            .where(col(AgeAssessment.subject_id).in_(list(refs)))
            .order_by(col(AgeAssessment.id))
        )
    ).all()
    referred = (
        await session.exec(
            select(VictimReferral)
            .where(col(VictimReferral.subject_id).in_(list(refs)))
            .order_by(col(VictimReferral.id))
        )
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for a in assessed:
        entry = out.setdefault(a.subject_id, _entry(refs[a.subject_id]))
        entry["age_assessments"].append(
            {
                "apparent_age": [a.apparent_low, a.apparent_high],
                "stated_age": a.stated_age,
                "disputed": a.disputed,
                "reason_to_believe_minor": a.minor_reason,
                "assessed_by": people(a.assessed_by),
                "assessed_at": iso(a.assessed_at),
            }
        )
    for r in referred:
        entry = out.setdefault(r.subject_id, _entry(refs[r.subject_id]))
        entry["referrals"].append(
            {
                "kind": r.kind,
                "agency": r.agency,
                "reference": r.reference,
                "referred_on": r.referred_on.isoformat(),
                "consent": r.consent,
                "reflection_ends": iso(r.reflection_ends),
                "handed_to": people(r.handed_to),
                "note": r.note,
                "referred_by": people(r.referred_by),
                "recorded_at": iso(r.created_at),
            }
        )
    return [out[k] for k in sorted(out, key=lambda k: int(refs[k][2:]))]


def _entry(ref: str) -> dict[str, Any]:
    return {"subject": ref, "age_assessments": [], "referrals": []}


async def tasks(
    session: AsyncSession, op: Operation, people: People, iso: Iso
) -> list[dict[str, Any]]:
    """Every task of the operation (a lead exports; tasks are never TLP:RED)."""
    rows = (
        await session.exec(select(Task).where(Task.operation_id == op.id).order_by(col(Task.seq)))
    ).all()
    return [
        {
            "ref": f"T-{t.seq}",
            "text": t.text,
            "assignee": people(t.assignee_id),
            "due_at": iso(t.due_at),
            "tlp": TLP(t.tlp).label,
            "given_by": people(t.created_by),
            "given_at": iso(t.created_at),
            "done_at": iso(t.done_at),
            "done_by": people(t.done_by),
        }
        for t in rows
    ]
