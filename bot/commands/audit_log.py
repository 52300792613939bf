"""`audit [OP] [--limit 20]` and `audit verify`: read and check the hash-chained log."""

from __future__ import annotations

from sqlmodel import col, select

from bot.base.i18n import N_, _
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import Denied
from bot.commands.registry import Flag, OpMode, command
from bot.contracts import Reply
from bot.core.access import Perm
from bot.core.protection import DENIED
from bot.store import audit_anchor
from bot.store.audit import Action
from bot.store.models import AuditEntry, Membership

MAX_LIMIT = 200


@command(
    "audit",
    "audit [OP] [--limit 20] [--denied]",
    N_("The latest audit entries of an operation (lead); --denied: only refused accesses."),
    flags=(Flag("limit", kind="int", high=MAX_LIMIT), Flag("denied", kind="bool")),
    op=OpMode.REQUIRED,
    perm=Perm.AUDIT,
)
async def audit_list(ctx: CommandContext) -> Reply:
    """Latest entries of the operation, newest first."""
    op = ctx.operation()
    limit = int(ctx.args.get("limit", 20))  # read by the registry (`Flag(kind="int")`)
    only_denied = bool(ctx.args.get("denied"))
    denied = [AuditEntry.outcome == DENIED] if only_denied else []
    rows = (
        await ctx.session.exec(
            select(AuditEntry)
            .where(AuditEntry.operation_id == op.id, *denied)
            .order_by(col(AuditEntry.id).desc())
            .limit(limit)
        )
    ).all()
    tz = await ctx.tz()
    lines = [
        f"#{e.id} {format_time(e.at, tz)} {e.actor} {e.action} {e.command}"
        + (f" {e.object_ref}" if e.object_ref else "")
        + (f" → {e.channel}" if e.action == "disclose" and e.channel else "")
        + (f" ({e.reason})" if e.reason else "")
        + (f" → {e.channel} DENIED" if e.outcome == DENIED else "")  # i18n: keep (a mark)
        for e in rows
    ]
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/audit")
    return Reply(
        Message(
            title=(
                _("{code} audit log: denied accesses") if only_denied else _("{code} audit log")
            ).format(code=op.code),
            lines=lines or [_("No entries.")],
            context=op.code,
        )
    )


@command(
    "audit verify",
    "audit verify",
    N_(
        "Recompute every audit hash chain (one per operation, one for admin actions); name the "
        "first broken entry."
    ),
)
async def audit_verify(ctx: CommandContext) -> Reply:
    """Check the chains: every one for an admin; for a lead, those of the operations they
    lead (the sentence counts only what the actor may know of)."""
    member = ctx.member()
    chains: list[int] | None = None
    if not member.is_admin:
        chains = list(
            (
                await ctx.session.exec(
                    select(Membership.operation_id).where(
                        Membership.member_id == member.id, Membership.role == "lead"
                    )
                )
            ).all()
        )
        if not chains:
            raise Denied(_("Only leads and admins can verify the audit log."))
    places = audit_anchor.Places.of(ctx.settings)
    result = await audit_anchor.verify_anchored(ctx.session, places, chains=chains)
    ctx.audit(Action.CONSULT, object_ref="audit-chain", reason="verify")
    return Reply(Message(lines=[result.sentence()]), ok=result.ok)
