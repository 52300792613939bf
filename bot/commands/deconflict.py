"""Deconfliction from the commands: the check after `subject add|edit` and `sighting`.

The rule and the notices are `bot.core.deconfliction`; here they are bound to a command:
its posts wake the outbox, its audit entries go with the command's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.context import CommandContext
from bot.commands.dispatch import actor_label
from bot.core import deconfliction
from bot.store.models import Subject


async def deconflict(
    ctx: CommandContext,
    subject: Subject,
    tokens: Sequence[str] | None = None,
    *,
    sighted: bool = False,
) -> None:
    """Tell both sides' leads of any hit of `subject`'s keys in another operation. Nothing
    of it shows in the command's reply: the actor may not be a lead, and the reply may be
    read in a channel."""
    told = await deconfliction.check(
        ctx.session,
        now=ctx.now,
        op=ctx.operation(),
        subject=subject,
        actor=ctx.member(),
        actor_label=actor_label(ctx.inv, ctx.actor),
        command=ctx.command.name,
        tokens=tokens,
        sighted=sighted,
    )
    ctx.posts += told.posts
    ctx.extra_audit.extend(told.entries)
