"""Hooks of the dispatch for need-to-know: read-only break-glass, denied-access audit.

Kept out of `dispatch.py` so the hot path stays small; see `bot.core.protection` for the rules.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlmodel import select

from bot.base.i18n import _
from bot.commands.context import CommandContext, Core
from bot.commands.errors import CommandError, Denied, NotFound
from bot.commands.registry import OpMode
from bot.contracts import Invocation
from bot.core import protection
from bot.store.models import Identity, Member, Operation

log = structlog.get_logger(__name__)


def admin_outside(ctx: CommandContext, op: Operation) -> bool:
    """An admin who is not a member of `op` (and has no running break-glass).

    Service management (`admin_manages`, like `op status`) goes ahead without a role: True,
    and `ctx.op` is set. Anything else is refused with a sentence that names the way in,
    recorded as a denied access. Not an admin: False (the caller answers as for anyone).
    """
    if ctx.actor is None or not ctx.actor.is_admin:
        return False
    if ctx.command.admin_manages:
        ctx.op, ctx.role = op, None
        return True
    if ctx.command.op is not OpMode.REQUIRED:
        return False
    raise NotFound(
        _(
            "You are not a member of {code}; an admin reads an operation only through "
            "`{command}` (audited and announced to its leads)."
        ).format(code=op.code, command=f'op access {op.code} --reason "…"'),
        denied=True,
        operation_id=op.id,
    )


def read_only_breakglass(ctx: CommandContext) -> None:
    """A break-glass reader (an admin who is not a member: dispatch sets `ctx.breakglass`)
    changes nothing (service management aside: `admin_manages`)."""
    if ctx.command.admin_manages:
        return
    raise Denied(
        _("Your break-glass access to {code} is read-only.").format(code=ctx.operation().code)
    )


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
    Only refusals about an operation are recorded: they are what its leads must see; an
    unregistered account or a non-admin asking for an admin command learns nothing either
    way, and recording those would let anyone fill the log.
    """
    operation_id = exc.operation_id if isinstance(exc, NotFound) and exc.operation_id else op_id
    if operation_id is None:
        return
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
