"""The `combine` audit entry of a command that puts records of several kinds together
(a briefing, an export), written beside the command's own entry (issue 15)."""

from __future__ import annotations

from bot.commands.context import CommandContext
from bot.core import lifecycle


async def combined(ctx: CommandContext, command: str, into: str, sources: str) -> None:
    """Append a `combine` entry for this command: who combined which kinds into what."""
    from bot.commands.dispatch import actor_label  # dispatch imports the command modules

    await lifecycle.audit_combine(
        ctx.session,
        at=ctx.now,
        actor=actor_label(ctx.inv, ctx.actor),
        actor_id=ctx.actor.id if ctx.actor else None,
        op=ctx.operation(),
        command=command,
        into=into,
        sources=sources,
    )
