"""Reads of the case file's evidence every surface shares (commands, the export): the
exhibits and statements a reader may see (disclosure rule, clause 9), with their custody
trails and translations, and what every reader of one operation was hidden."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.disclosure import Level, Reader
from bot.store.models import Evidence, Operation, Raid, Sighting, Subject
from bot.store.models_casefile import Exhibit, ExhibitTransfer, Statement, StatementTranslation


@dataclass
class ExhibitView:
    """One exhibit as its reader sees it: the record, what it hangs on, its custody."""

    exhibit: Exhibit
    sighting: Sighting | None = None
    raid: Raid | None = None
    photo: Evidence | None = None
    trail: list[ExhibitTransfer] = field(default_factory=list)


@dataclass
class StatementView:
    """One statement as its reader sees it, with its maker and translations."""

    statement: Statement
    subject: Subject | None = None
    translations: list[StatementTranslation] = field(default_factory=list)


T = TypeVar("T", Sighting, Raid, Evidence, Subject)


async def _by_id(session: AsyncSession, model: type[T], ids: set[int | None]) -> dict[int, T]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await session.exec(select(model).where(col(model.id).in_(wanted)))).all()
    return {r.id: r for r in rows if r.id is not None}


async def readable_exhibits(
    session: AsyncSession, op: Operation, who: Reader, *, seq: int | None = None
) -> tuple[list[ExhibitView], int]:
    """The operation's exhibits (or the one numbered `seq`) `who` may read, in `E-n`
    order, each with its custody trail (oldest first); and how many were hidden."""
    stmt = select(Exhibit).where(Exhibit.operation_id == op.id)
    if seq is not None:
        stmt = stmt.where(Exhibit.seq == seq)
    exhibits = list((await session.exec(stmt.order_by(col(Exhibit.seq)))).all())
    sightings = await _by_id(session, Sighting, {e.sighting_id for e in exhibits})
    subjects = await _by_id(session, Subject, {s.subject_id for s in sightings.values()})
    raids = await _by_id(session, Raid, {e.raid_id for e in exhibits})
    photos = await _by_id(session, Evidence, {e.evidence_id for e in exhibits})
    views: list[ExhibitView] = []
    for exhibit in exhibits:
        sighting = sightings.get(exhibit.sighting_id or 0)
        subject = subjects.get(sighting.subject_id or 0) if sighting else None
        raid = raids.get(exhibit.raid_id or 0)
        if who.exhibit(op, exhibit, sighting, subject, raid) is Level.FULL:
            photo = photos.get(exhibit.evidence_id or 0)
            views.append(ExhibitView(exhibit, sighting, raid, photo))
    if views:
        trail = (
            await session.exec(
                select(ExhibitTransfer)
                .where(col(ExhibitTransfer.exhibit_id).in_([v.exhibit.id for v in views]))
                .order_by(col(ExhibitTransfer.at), col(ExhibitTransfer.id))
            )
        ).all()
        by_exhibit = {v.exhibit.id: v for v in views}
        for link in trail:
            by_exhibit[link.exhibit_id].trail.append(link)
    return views, len(exhibits) - len(views)


async def readable_statements(
    session: AsyncSession, op: Operation, who: Reader, *, seq: int | None = None
) -> tuple[list[StatementView], int]:
    """The operation's statements (or the one numbered `seq`) `who` may read, in `ST-n`
    order, with their translations; and how many were hidden."""
    stmt = select(Statement).where(Statement.operation_id == op.id)
    if seq is not None:
        stmt = stmt.where(Statement.seq == seq)
    statements = list((await session.exec(stmt.order_by(col(Statement.seq)))).all())
    subjects = await _by_id(session, Subject, {s.subject_id for s in statements})
    views = [
        StatementView(s, subjects.get(s.subject_id or 0))
        for s in statements
        if who.statement(s, subjects.get(s.subject_id or 0)) is Level.FULL
    ]
    if views:
        rows = (
            await session.exec(
                select(StatementTranslation)
                .where(col(StatementTranslation.statement_id).in_([v.statement.id for v in views]))
                .order_by(col(StatementTranslation.id))
            )
        ).all()
        by_statement = {v.statement.id: v for v in views}
        for row in rows:
            by_statement[row.statement_id].translations.append(row)
    return views, len(statements) - len(views)
