"""`room` and `room logout`: sign-in links to the situation room, and signing out.

The link goes to the member alone (a private reply; asked in a group, the adapters answer
in the private chat and leave a pointer). The core stores only the link's hash.
"""

from __future__ import annotations

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError
from bot.commands.registry import command
from bot.contracts import Reply, Visibility
from bot.core import room_tokens as tokens
from bot.store.audit import Action

ROOM_PATH = "/room/"


@command(
    "room",
    "room",
    N_("Open the situation room in a browser: a one-time sign-in link, sent to you alone."),
    writes=True,
    action=Action.ALTER,
    details=N_(
        "The link works once, within 10 minutes, for you only. The room shows each of your "
        "operations on a map, its timeline, raid checklists and briefings, with the same "
        "rules as chat. `room logout` signs out every browser."
    ),
)
async def room(ctx: CommandContext) -> Reply:
    """Issue a one-time sign-in link for the asking member."""
    base = (ctx.settings.public_url or "").rstrip("/")
    if not base:
        raise CommandError(
            _(
                "The situation room is not set up on this server: an admin sets "
                "TASKFORCE_PUBLIC_URL to the address people open."
            )
        )
    member, identity = ctx.member(), ctx.identity
    assert identity is not None and identity.id is not None and member.id is not None
    secret = await tokens.issue_link(ctx.session, member.id, identity.id, ctx.now)
    ctx.audit(Action.ALTER, object_ref="room/link", reason="sign-in link issued")
    url = f"{base}{ROOM_PATH}login?t={secret}"
    return Reply(
        Message(
            title=_("Situation room"),
            lines=[
                _("Your sign-in link (works once, for 10 minutes, for you alone):"),
                url,
                _("Do not forward it. `room logout` signs out every browser."),
            ],
            secret=True,  # never stored: not as the event's answer, not in the outbox
        ),
        Visibility.PRIVATE,
    )


@command(
    "room logout",
    "room logout",
    N_("Sign out of the situation room in every browser."),
    writes=True,
    action=Action.ALTER,
)
async def room_logout(ctx: CommandContext) -> Reply:
    """Revoke every open room session of the asking member."""
    member = ctx.member()
    assert member.id is not None
    ended = await tokens.revoke(ctx.session, ctx.now, member_id=member.id)
    ctx.audit(Action.ALTER, object_ref="room/sessions", reason=f"signed out ({ended})")
    return Reply(Message(lines=[_("Signed out of the situation room in every browser.")]))
