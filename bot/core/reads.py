"""Reads every surface shares (commands, the situation room): the sightings a reader may
see, filtered by the disclosure rule, and the names shown beside them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import _
from bot.core.disclosure import Level, Reader, hide_place, is_protected_place
from bot.store.models import Member, Sighting, Subject


async def readable_sightings(
    session: AsyncSession, op_id: int | None, who: Reader, *conditions: Any
) -> tuple[list[int], int]:
    """Ids of the operation's sightings (matching `conditions`) `who` may read, newest
    observed first, and how many were hidden.

    Only the labels are read for the check, so long histories stay cheap; load the rows of
    one page with `load_sightings`.
    """
    rows = (
        await session.exec(
            select(  # type: ignore[call-overload]
                Sighting.id,
                Sighting.tlp,
                Sighting.reporter_id,
                Sighting.subject_id,
                Sighting.place_kind,
            )
            .where(Sighting.operation_id == op_id, col(Sighting.erased_at).is_(None), *conditions)
            .order_by(col(Sighting.observed_at).desc(), col(Sighting.seq).desc())
        )
    ).all()
    subject_ids = {r[3] for r in rows if r[3] is not None}
    subjects = (
        {
            s.id: s
            for s in (
                await session.exec(select(Subject).where(col(Subject.id).in_(subject_ids)))
            ).all()
        }
        if subject_ids
        else {}
    )
    ids = [
        sid
        for sid, tlp, reporter, subject_id, place in rows
        if sid is not None
        and who.item("sighting", sid, reporter, tlp, subjects.get(subject_id), place)
        is not Level.NONE
    ]
    return ids, len(rows) - len(ids)


async def load_sightings(
    session: AsyncSession, ids: Sequence[int], who: Reader | None = None
) -> list[tuple[Sighting, Subject | None]]:
    """The sightings with these ids and their subjects, in the order of `ids`; for `who`,
    a sighting at a protected place they read only neutrally comes without its place."""
    if not ids:
        return []
    rows = (
        await session.exec(
            select(Sighting, Subject)
            .join(Subject, col(Subject.id) == col(Sighting.subject_id), isouter=True)
            .where(col(Sighting.id).in_(list(ids)))
        )
    ).all()
    by_id: dict[int | None, tuple[Sighting, Subject | None]] = {sg.id: (sg, s) for sg, s in rows}
    found = [by_id[i] for i in ids if i in by_id]
    if who is None:
        return found
    return [(as_read(who, sg, s), s) for sg, s in found]


def as_read(who: Reader, sighting: Sighting, subject: Subject | None) -> Sighting:
    """The sighting as `who` may read it: in full, or without its protected place."""
    if who.sighting(sighting, subject) is Level.NEUTRAL and is_protected_place(sighting.place_kind):
        return hide_place(sighting, _("a protected place"))
    return sighting


async def member_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of members by id (reporters, issuers, tickers)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await session.exec(select(Member).where(col(Member.id).in_(wanted)))).all()
    return {m.id: m.name for m in rows if m.id is not None}
