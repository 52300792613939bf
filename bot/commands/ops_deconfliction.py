"""`op deconfliction [OP] --contact open|via-admin`: whether the other side of a
deconfliction hit is told this operation's leads' names (`bot.core.deconfliction`)."""

from __future__ import annotations

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import UsageError
from bot.commands.registry import Flag, OpMode, command
from bot.contracts import Reply
from bot.core import deconfliction
from bot.core.access import Perm
from bot.store.audit import Action
from bot.store.models_entities import DeconflictionPolicy


@command(
    "op deconfliction",
    "op deconfliction [OP] --contact open|via-admin",
    N_("Whether the other side of a deconfliction hit is told your leads' names (lead)."),
    flags=(Flag("contact", required=True),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "open: the other side of a hit is told your leads' names and agencies; via-admin (the "
        "default): contact goes through a Taskforce admin, quoting the hit's reference."
    ),
)
async def op_deconfliction(ctx: CommandContext) -> Reply:
    """Set the operation's deconfliction contact policy."""
    op = ctx.operation()
    contact = str(ctx.args["contact"]).strip().lower()
    if contact not in deconfliction.CONTACTS:
        raise UsageError(
            _("'{value}' is not a contact policy; use open or via-admin.").format(
                value=ctx.args["contact"]
            )
        )
    row = await ctx.session.get(DeconflictionPolicy, op.id)
    if row is None:
        row = DeconflictionPolicy(operation_id=op.id or 0, contact=contact, set_at=ctx.now)
    row.contact, row.set_by, row.set_at = contact, ctx.member().id, ctx.now
    ctx.session.add(row)
    ctx.audit(Action.ALTER, object_ref=op.code, reason=f"deconfliction contact: {contact}")
    said = (
        _("{code}: the other side of a hit is told your leads' names and agencies.")
        if contact == deconfliction.CONTACT_OPEN
        else _("{code}: contact after a hit goes through a Taskforce admin.")
    )
    return Reply(Message(lines=[said.format(code=op.code)]))
