"""Who holds each duty of a raid (`raid assign`): the read the commands, the briefing and
the room share."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import Member, Raid, RaidDuty


async def holders(session: AsyncSession, raid: Raid) -> dict[str, Member]:
    """The raid's duties and the members who hold them."""
    rows = (
        await session.exec(
            select(RaidDuty, Member)
            .join(Member, col(Member.id) == col(RaidDuty.member_id))
            .where(RaidDuty.raid_id == raid.id)
        )
    ).all()
    return {duty.duty: member for duty, member in rows}
