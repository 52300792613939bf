"""Hooks of the dispatch for need-to-know: read-only break-glass, denied-access audit.

Kept out of `dispatch.py` so the hot path stays small; see `bot.protection` for the rules.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlmodel import select

from bot import protection
from bot.adapters.base import Invocation
from bot.commands.context import CommandContext, Core
from bot.commands.errors import CommandError, Denied, NotFound
from bot.models import Identity, Member, Membership

log = structlog.get_logger(__name__)


async def read_only_breakglass(ctx: CommandContext) -> None:
    """A break-glass reader (an admin who is not a member) changes nothing."""
    op = ctx.operation()
    member = ctx.member()
    ms = (
        await ctx.session.exec(
            select(Membership.id).where(
                Membership.operation_id == op.id, Membership.member_id == member.id
            )
        )
    ).first()
    if ms is None:
        raise Denied(f"Your break-glass access to {op.code} is read-only.")


def is_denied_access(exc: CommandError) -> bool:
    """A refusal of access (not a typo): a role refusal, or something hidden from the actor."""
    return isinstance(exc, Denied) or (isinstance(exc, NotFound) and exc.denied)


async def record_denied(
    core: Core,
    inv: Invocation,
    command: str,
    exc: CommandError,
    op_id: int | None,
    now: datetime,
) -> None:
    """Every refused access is an audit entry the leads can list (`audit --denied`).

    Written in its own transaction (the command's was rolled back); the actor's answer is
    the one they would get anyway. A failure here is logged, never shown to the prober.
    """
    operation_id = exc.operation_id if isinstance(exc, NotFound) and exc.operation_id else op_id
    try:
        async with core.store.transaction() as session:
            ident = (
                await session.exec(
                    select(Identity).where(
                        Identity.platform == inv.actor.platform, Identity.key == inv.actor.key
                    )
                )
            ).first()
            member = await session.get(Member, ident.member_id) if ident else None
            who = f"{inv.actor.platform}:{inv.actor.key}"
            await core.store.lock_audit_chain(session)
            await protection.record_denied(
                session,
                now=now,
                actor=f"{member.name} ({who})" if member else who,
                actor_id=member.id if member else None,
                operation_id=operation_id,
                command=command,
                channel=f"{inv.channel.platform}:{inv.channel.key}",
                sentence=exc.sentence,
            )
    except Exception:
        log.exception("audit.denied_not_recorded", command=command)
