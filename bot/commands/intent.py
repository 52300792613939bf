"""`op intent`: the operation's aim and objectives, the Intent of its IIMARCH briefings."""

from __future__ import annotations

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import UsageError
from bot.commands.registry import Arg, OpMode, command
from bot.contracts import Reply
from bot.core.access import Perm
from bot.store.audit import Action

MAX_INTENT = 1000


@command(
    "op intent",
    'op intent [OP] "<aim and objectives>"',
    N_("State the operation's aim and objectives (lead); briefings show them as Intent."),
    args=(Arg("text", rest=True),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "The intent carries the operation's label: a channel below it is told only that it is set."
    ),
)
async def op_intent(ctx: CommandContext) -> Reply:
    """Set (or replace) the operation's intent."""
    op = ctx.operation()
    text = " ".join(ctx.args["text"]).strip()
    if not text:
        raise UsageError(_('Say the aim and objectives: `op intent "…"`.'))
    if len(text) > MAX_INTENT:
        raise UsageError(
            _("The intent is too long; the limit is {n} characters.").format(n=MAX_INTENT)
        )
    had = op.intent is not None
    op.intent = text
    ctx.session.add(op)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/intent", reason="replaced" if had else "set")
    return Reply(
        Message(
            lines=[_("{op}'s intent is set; briefings show it.").format(op=op.code)], tlp=op.tlp
        )
    )
