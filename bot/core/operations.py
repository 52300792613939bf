"""The operations aggregate: operations, memberships, invites and channel links — every
statement `op …` runs (README, "Identity and operations").

The command decides (permissions, the rules a reply explains) and renders; these functions
read and write, in the command's own transaction (`session`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core import lifecycle
from bot.store.models import Agency, ChannelLink, Identity, Invite, Member, Membership, Operation


async def code_taken(session: AsyncSession, code: str) -> bool:
    """Whether an operation already has this code."""
    return (
        await session.exec(select(Operation.id).where(Operation.code == code))
    ).first() is not None


async def create(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    countries: Sequence[str],
    tlp: str,
    timezone: str,
    creator_id: int,
    now: datetime,
) -> Operation:
    """A new operation in planning, its creator its first lead."""
    op = Operation(
        code=code,
        name=name,
        countries=",".join(countries),
        tlp=tlp,
        timezone=timezone,
        status="planning",
        created_by=creator_id,
        created_at=now,
    )
    session.add(op)
    await session.flush()
    session.add(
        Membership(operation_id=op.id or 0, member_id=creator_id, role="lead", joined_at=now)
    )
    return op


async def all_operations(session: AsyncSession) -> Sequence[Operation]:
    """Every operation, by code (what an admin lists)."""
    return (await session.exec(select(Operation).order_by(col(Operation.code)))).all()


async def roles_of(session: AsyncSession, member_id: int) -> dict[int, str]:
    """Operation id → the member's role there."""
    rows = await session.exec(select(Membership).where(Membership.member_id == member_id))
    return {ms.operation_id: ms.role for ms in rows.all()}


async def operations_of(
    session: AsyncSession, member_id: int
) -> Sequence[tuple[Operation, Membership]]:
    """The member's operations and memberships, by code."""
    return (
        await session.exec(
            select(Operation, Membership)
            .join(Membership, col(Membership.operation_id) == col(Operation.id))
            .where(Membership.member_id == member_id)
            .order_by(col(Operation.code))
        )
    ).all()


async def member_count(session: AsyncSession, operation_id: int) -> int:
    """How many members the operation has."""
    return int(
        (
            await session.exec(
                select(func.count())
                .select_from(Membership)
                .where(Membership.operation_id == operation_id)
            )
        ).one()
    )


async def count_leads(session: AsyncSession, operation_id: int) -> int:
    """How many leads the operation has."""
    return int(
        (
            await session.exec(
                select(func.count())
                .select_from(Membership)
                .where(Membership.operation_id == operation_id, Membership.role == "lead")
            )
        ).one()
    )


async def memberships(
    session: AsyncSession, operation_id: int
) -> Sequence[tuple[Member, Membership]]:
    """The operation's members with their memberships."""
    return (
        await session.exec(
            select(Member, Membership)
            .join(Membership, col(Membership.member_id) == col(Member.id))
            .where(Membership.operation_id == operation_id)
        )
    ).all()


async def identities_of(
    session: AsyncSession, member_ids: Sequence[int | None]
) -> Sequence[Identity]:
    """The platform identities of these members."""
    return (
        await session.exec(select(Identity).where(col(Identity.member_id).in_(list(member_ids))))
    ).all()


async def roster(
    session: AsyncSession, operation_id: int
) -> Sequence[tuple[Member, Membership, Agency | None]]:
    """Members with membership and agency, by role then name (`op members`)."""
    return (
        await session.exec(
            select(Member, Membership, Agency)
            .join(Membership, col(Membership.member_id) == col(Member.id))
            .join(Agency, col(Agency.id) == col(Member.agency_id), isouter=True)
            .where(Membership.operation_id == operation_id)
            .order_by(col(Membership.role), col(Member.name))
        )
    ).all()


async def set_status(session: AsyncSession, op: Operation, status: str, now: datetime) -> str:
    """Move the operation to `status`; return the old one. Closing pulls review dates in."""
    old, op.status = op.status, status
    session.add(op)
    if status == "closed":
        await lifecycle.on_close(session, op, now)  # reviews run on (issue 15)
    return old


def add_invite(session: AsyncSession, invite: Invite) -> Invite:
    """Keep a new invite."""
    session.add(invite)
    return invite


def set_role(session: AsyncSession, membership: Membership, role: str) -> str:
    """Change a membership's role; return the old one."""
    old, membership.role = membership.role, role
    session.add(membership)
    return old


async def remove_membership(session: AsyncSession, membership: Membership) -> None:
    """End a membership."""
    await session.delete(membership)


async def agency_by_code(session: AsyncSession, code: str) -> Agency | None:
    """The agency with this code, if any."""
    return (await session.exec(select(Agency).where(Agency.code == code))).first()


async def links_of(session: AsyncSession, operation_id: int) -> Sequence[ChannelLink]:
    """The operation's linked channels."""
    return (
        await session.exec(select(ChannelLink).where(ChannelLink.operation_id == operation_id))
    ).all()


async def link_here(
    session: AsyncSession, operation_id: int, platform: str, channel_key: str
) -> ChannelLink | None:
    """The link of this channel to this operation, if any."""
    return (
        await session.exec(
            select(ChannelLink).where(
                ChannelLink.platform == platform,
                ChannelLink.channel_key == channel_key,
                ChannelLink.operation_id == operation_id,
            )
        )
    ).first()


def change_link(
    session: AsyncSession, link: ChannelLink, ceiling: str, agencies: Sequence[str]
) -> str:
    """A new ceiling and agencies for a link; return the old ceiling."""
    old = link.max_tlp
    link.max_tlp = ceiling
    link.agencies = ",".join(agencies)
    session.add(link)
    return old


def add_link(session: AsyncSession, link: ChannelLink) -> ChannelLink:
    """Keep a new channel link."""
    session.add(link)
    return link


async def remove_link(session: AsyncSession, link: ChannelLink) -> None:
    """Remove a channel link."""
    await session.delete(link)
