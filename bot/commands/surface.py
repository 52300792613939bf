"""Surfaces without a chat channel (the situation room in a browser).

A command run there has no channel for its channel reply: what the channel would have
seen (a tick, `✓ R-1 3. … — ticked by Ana`) is posted instead to every channel linked to
the operation that may receive it, through the outbox, in the command's own transaction.
"""

from __future__ import annotations

from bot.adapters.base import Reply, Visibility
from bot.commands.context import CommandContext

ROOM_PLATFORM = "room"


async def echo_to_channels(ctx: CommandContext, reply: Reply) -> None:
    """Post a channel reply of a command run in the room to the operation's channels."""
    if ctx.inv.channel.platform != ROOM_PLATFORM or ctx.op is None:
        return
    if not reply.ok or reply.visibility is not Visibility.CHANNEL:
        return
    await ctx.fanout(
        reply.message,
        tlp=reply.message.tlp or ctx.op.tlp,
        kind="room",
        object_ref=(ctx.audit_object or "").split("/", 1)[-1] or None,
    )
