"""The data's life cycle (EU Law Enforcement Directive): erasure, review dates, retention.

Erasure removes a record's content and keeps its shell: reference, when, by whom and why
(the hash-chained audit log never held the content, so it still verifies). Erasing a
subject erases its sightings, its notices, its search keys, its rectification history, its
decided links, and the stored copies of the posts about them. Every subject, sighting and
notice has a review date; the weekly review list names the records past it in every
operation, closed ones included, until they are erased or kept with a reason. When an
operation closes, its records come up for review once its retention period has run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, null, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.clock import add_months
from bot.core.evidence import FileStore
from bot.store import audit
from bot.store.models import (
    Evidence,
    FieldPending,
    Notice,
    Operation,
    OutboxMessage,
    ProcessedEvent,
    ReadGrant,
    Sighting,
    Subject,
    SubjectKey,
    SubjectLink,
    SubjectRevision,
)
from bot.store.models_entities import DeconflictionHit, SubjectRelation
from bot.store.models_records import SightingGrade, SightingRevision

ERASED = "[erased]"
RETENTION_MONTHS = 24  # an operation's records, after it closes, unless `op retention` says
# Commands a closed operation still takes: its records are reviewed until erased or kept.
LIFECYCLE_COMMANDS = frozenset(
    {
        "subject edit",
        "subject erase",
        "sighting erase",
        "notice erase",
        "review keep",
        "op retention",
    }
)


def _mark(row: Subject | Sighting | Notice, by: int | None, now: datetime, reason: str) -> None:
    row.erased_at, row.erased_by, row.erase_reason = now, by, reason


def blank_subject(subject: Subject, by: int | None, now: datetime, reason: str) -> None:
    """Remove a subject's content (its kind and category stay, for the reading rules)."""
    subject.name, subject.aliases = ERASED, []
    subject.nationality = subject.dob = subject.sex = subject.description = None
    subject.protection_reason = None
    _mark(subject, by, now, reason)


def blank_sighting(sighting: Sighting, by: int | None, now: datetime, reason: str) -> None:
    """Remove what a sighting says: what, where, when exactly, by whom, how graded."""
    sighting.location, sighting.description, sighting.note, sighting.observer = (
        ERASED,
        None,
        None,
        None,
    )
    sighting.lat = sighting.lon = sighting.cell = None
    sighting.activity = sighting.direction = sighting.count = sighting.equipment = None
    sighting.grade = sighting.reporter_grade = None
    _mark(sighting, by, now, reason)


def blank_notice(notice: Notice, by: int | None, now: datetime, reason: str) -> None:
    """Remove a notice's content; it is no longer active (nothing matches it)."""
    notice.charges = notice.summary = notice.external_ref = notice.requested_by = None
    notice.warrant_ref = notice.warrant_country = notice.countries = None
    notice.cancel_reason = None
    notice.status = "erased"
    _mark(notice, by, now, reason)


async def scrub_posts(session: AsyncSession, op: Operation, refs: Iterable[str]) -> None:
    """Remove the stored copies of the posts about `refs` (a pending one is not sent)."""
    wanted = [f"{op.code}/{r}" for r in refs]
    if not wanted:
        return
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    gone = {"title": ERASED, "lines": [], "fields": []}
    conn = await session.connection()
    await conn.execute(
        update(table)
        .where(table.c.object_ref.in_(wanted), table.c.status.in_(["pending", "sending"]))
        .values(status="dead", payload=gone, last_error="erased before it was sent")
    )
    await conn.execute(update(table).where(table.c.object_ref.in_(wanted)).values(payload=gone))


async def forget_stored_answers(session: AsyncSession) -> None:
    """Forget the first answers kept for redelivered platform events: they quote records
    ("Recorded SG-4 — S-1 Ivan Petrov at …") and their JSON does not say which reliably.
    Erasure is rare and a lead's, so every stored answer goes; a later redelivery is still
    recognised by its key and answered "Already handled.", never run again."""
    events = ProcessedEvent.__table__  # type: ignore[attr-defined]
    conn = await session.connection()
    await conn.execute(update(events).where(events.c.reply.is_not(None)).values(reply=null()))


async def erase_subject_data(session: AsyncSession, subject: Subject) -> None:
    """Delete what hangs off a subject: search keys, rectified values, links, grants."""
    conn = await session.connection()
    for model, column in (
        (SubjectKey, SubjectKey.subject_id),
        (SubjectRevision, SubjectRevision.subject_id),
        (ReadGrant, ReadGrant.subject_id),
    ):
        await conn.execute(delete(model).where(col(column) == subject.id))
    for pair in (SubjectLink, SubjectRelation, DeconflictionHit):
        await conn.execute(
            delete(pair).where(
                or_(col(pair.subject_a) == subject.id, col(pair.subject_b) == subject.id)
            )
        )


async def erase_evidence(
    session: AsyncSession, sighting_ids: Sequence[int], files: FileStore
) -> int:
    """Delete what erased sightings leave elsewhere: the pins they were finished from, their
    grade history and corrected values, and their photos — the rows, and every file
    (original and onward copy) no other sighting still holds. Files go inside the erasing
    transaction: should it fail after this, the erasure is asked again and the rows go then;
    the other order could leave erased photos on disk for good. Returns how many photos went."""
    if not sighting_ids:
        return 0
    conn = await session.connection()
    # A pin that became one of these sightings holds its place and coordinates too.
    await conn.execute(delete(FieldPending).where(col(FieldPending.sighting_id).in_(sighting_ids)))
    # Their grade history and corrected values say what and how they were (issue 28).
    for model in (SightingGrade, SightingRevision):
        await conn.execute(delete(model).where(col(model.sighting_id).in_(sighting_ids)))
    rows = (
        await session.exec(select(Evidence).where(col(Evidence.sighting_id).in_(sighting_ids)))
    ).all()
    if not rows:
        return 0
    keys = {r.stored_key for r in rows} | {r.clean_key for r in rows}
    await conn.execute(delete(Evidence).where(col(Evidence.id).in_([r.id for r in rows])))
    kept = (
        await session.exec(
            select(Evidence.stored_key, Evidence.clean_key).where(
                or_(col(Evidence.stored_key).in_(keys), col(Evidence.clean_key).in_(keys))
            )
        )
    ).all()
    still = {k for pair in kept for k in pair}
    for key in sorted(keys - still):
        await asyncio.to_thread(files.remove, key)
    return len(rows)


async def on_close(session: AsyncSession, op: Operation, now: datetime) -> None:
    """An operation closes: its records come up for review when its retention has run."""
    op.closed_at = now
    session.add(op)
    await pull_reviews(session, op)


async def pull_reviews(session: AsyncSession, op: Operation) -> None:
    """Bring every review date of a closed operation to the end of its retention, at most."""

    if op.closed_at is None:
        return
    until = add_months(op.closed_at, op.retention_months or RETENTION_MONTHS)
    conn = await session.connection()
    for model in (Subject, Sighting, Notice):
        await conn.execute(
            update(model)
            .where(
                col(model.operation_id) == op.id,
                col(model.erased_at).is_(None),
                or_(col(model.review_at).is_(None), col(model.review_at) > until),
            )
            .values(review_at=until)
        )


async def due_for_review(session: AsyncSession, now: datetime) -> dict[int, list[str]]:
    """Per operation (closed ones too), the references of records past their review date
    and not erased: subjects, then notices, then sightings."""
    out: dict[int, list[str]] = {}
    for model, prefix in ((Subject, "S"), (Notice, "N"), (Sighting, "SG")):
        rows = (
            await session.exec(
                select(model.operation_id, model.seq)
                .where(col(model.review_at) <= now, col(model.erased_at).is_(None))
                .order_by(col(model.operation_id), col(model.seq))
            )
        ).all()
        for op_id, seq in rows:
            out.setdefault(op_id, []).append(f"{prefix}-{seq}")
    return out


BRIEFING_SOURCES = "sightings, subjects, notices, raids and their checklists, members, channels"
CASE_FILE_SOURCES = (
    "subjects, notices, sightings, raids and their checklists, members, agencies, channels "
    "and the audit trail"
)


async def audit_combine(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    actor_id: int | None,
    op: Operation,
    command: str,
    into: str,
    sources: str,
) -> None:
    """A `combine` entry: records of several kinds were put together into one product
    (a briefing, a case file). Names the kinds, never the data."""
    await audit.append(
        session,
        at=at,
        actor=actor,
        actor_id=actor_id,
        action=audit.Action.COMBINE,
        command=command,
        operation_id=op.id,
        object_ref=f"{op.code}/{into}",
        reason=f"combined {sources} into {into}",
    )


async def briefing_combined(session: AsyncSession, op: Operation, now: datetime) -> None:
    """The `combine` entry of a scheduled briefing."""
    await audit_combine(
        session,
        at=now,
        actor="scheduler",
        actor_id=None,
        op=op,
        command="brief",
        into="briefing",
        sources=BRIEFING_SOURCES,
    )
