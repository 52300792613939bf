"""The members aggregate: members, their platform identities, link codes and invites
redeemed — every statement `whoami`, `link`, `join` and `me …` run (README, "Identity and
operations"). The commands decide and render; these read and write in the command's own
transaction (`session`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import Agency, Identity, Invite, LinkCode, Member, Membership, Operation


@dataclass(frozen=True)
class Newcomer:
    """Who is redeeming a code: their platform identity as the platform gave it."""

    platform: str
    key: str
    display_name: str
    reachable: bool  # written in a private chat: the bot can write to them there


async def agency_of(session: AsyncSession, member: Member) -> Agency | None:
    """The member's agency, if any."""
    return await session.get(Agency, member.agency_id) if member.agency_id else None


async def identities(session: AsyncSession, member_id: int) -> Sequence[Identity]:
    """The member's platform identities."""
    return (await session.exec(select(Identity).where(Identity.member_id == member_id))).all()


async def memberships_of(
    session: AsyncSession, member_id: int
) -> Sequence[tuple[Membership, Operation]]:
    """The member's memberships with their operations, by code."""
    return (
        await session.exec(
            select(Membership, Operation)
            .join(Operation, col(Operation.id) == col(Membership.operation_id))
            .where(Membership.member_id == member_id)
            .order_by(col(Operation.code))
        )
    ).all()


def issue_link_code(session: AsyncSession, code: str, member_id: int, expires_at: datetime) -> None:
    """Keep a one-time code that attaches another account to this member."""
    session.add(LinkCode(code=code, member_id=member_id, expires_at=expires_at))


async def link_code(session: AsyncSession, code: str) -> LinkCode | None:
    """The link code, if it exists (used or expired ones included)."""
    return (await session.exec(select(LinkCode).where(LinkCode.code == code))).first()


def _identity(member_id: int, who: Newcomer, now: datetime) -> Identity:
    return Identity(
        member_id=member_id,
        platform=who.platform,
        key=who.key,
        display_name=who.display_name[:200] or None,
        can_dm=who.reachable,
        created_at=now,
    )


async def redeem_link_code(
    session: AsyncSession, row: LinkCode, who: Newcomer, now: datetime
) -> Member | None:
    """Attach `who` to the code's member and use the code up; return the member."""
    row.used_at = now
    session.add(row)
    session.add(_identity(row.member_id, who, now))
    return await session.get(Member, row.member_id)


async def invite(session: AsyncSession, code: str) -> Invite | None:
    """The invite with this code, if any."""
    return (await session.exec(select(Invite).where(Invite.code == code))).first()


async def operation_of(session: AsyncSession, invite: Invite) -> Operation:
    """The operation an invite is to."""
    op = await session.get(Operation, invite.operation_id)
    assert op is not None  # a foreign key
    return op


async def new_member(session: AsyncSession, who: Newcomer, now: datetime) -> Member:
    """A new member named after the platform's display name, with this identity."""
    member = Member(name=(who.display_name or f"{who.platform} {who.key}")[:200], created_at=now)
    session.add(member)
    await session.flush()
    session.add(_identity(member.id or 0, who, now))
    return member


async def membership(session: AsyncSession, operation_id: int, member_id: int) -> Membership | None:
    """The member's membership of the operation, if any."""
    return (
        await session.exec(
            select(Membership).where(
                Membership.operation_id == operation_id, Membership.member_id == member_id
            )
        )
    ).first()


def redeem_invite(session: AsyncSession, invite: Invite, member: Member, now: datetime) -> None:
    """Use one of the invite's uses: the member joins with its role."""
    invite.uses_left -= 1
    session.add(invite)
    session.add(
        Membership(
            operation_id=invite.operation_id,
            member_id=member.id or 0,
            role=invite.role,
            joined_at=now,
        )
    )


def set_timezone(session: AsyncSession, member: Member, timezone: str) -> None:
    """The member's time zone (an IANA name)."""
    member.timezone = timezone
    session.add(member)


def set_language(session: AsyncSession, member: Member, language: str) -> None:
    """The member's language (a code of `bot.base.i18n.LANGUAGES`)."""
    member.language = language
    session.add(member)
