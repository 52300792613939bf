"""Need-to-know commands: break-glass for admins, lifting protection, grants by name.

- `op access OP --reason "…" [--for 1h]`: an admin who is not a member reads the operation
  for a limited time (read-only), audited and announced privately to its leads.
- `subject unprotect S-n --reason "…"` / `subject protect S-n`: a lead lifts (or restores)
  the protection of one victim, witness or child, never silently.
- `subject grant S-n <member>` / `subject revoke S-n <member>`: a lead lets one partner or
  observer read one protected subject.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.intel import find_subject
from bot.commands.operations import find_member_in_op, member_ref, normalise_code
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import subject_name, subject_ref
from bot.commands.values import parse_duration
from bot.contracts import Reply
from bot.core import protection
from bot.core.access import TLP, Perm, Role
from bot.core.vocabulary import term
from bot.store.audit import Action
from bot.store.models import BreakGlass, Operation, ReadGrant

DEFAULT_ACCESS = timedelta(hours=1)
MAX_ACCESS = timedelta(hours=8)


def _reason(ctx: CommandContext, what: str) -> str:
    reason = str(ctx.args.get("reason") or "").strip()
    if not reason:
        raise UsageError(_('Say why with --reason "…"; {what} is audited.').format(what=what))
    if len(reason) > 1000:
        raise UsageError(_("--reason is too long; the limit is 1000 characters."))
    return reason


@command(
    "op access",
    'op access <OP> --reason "…" [--for 1h]',
    N_("Break-glass: read an operation you are not a member of, for a limited time (admin)."),
    args=(Arg("op"),),
    flags=(Flag("reason"), Flag("for")),
    admin_only=True,
    writes=True,
    action=Action.CONSULT,
    details=N_(
        "Admins manage the service but are not readers of every operation. `op access` opens "
        "read-only access for --for (default 1h, at most 8h); it is audited with the reason "
        "and announced privately to the operation's leads."
    ),
)
async def op_access(ctx: CommandContext) -> Reply:
    """Open a time-limited, audited, announced read access for an admin."""
    code = normalise_code(str(ctx.args["op"]))
    reason = _reason(ctx, _("break-glass access"))
    length = parse_duration(str(ctx.args["for"])) if ctx.args.get("for") else DEFAULT_ACCESS
    if not timedelta(minutes=1) <= length <= MAX_ACCESS:
        raise UsageError(_("--for must be between 1m and 8h."))
    op = (await ctx.session.exec(select(Operation).where(Operation.code == code))).first()
    if op is None:
        raise NotFound(_("There is no operation {code}.").format(code=code))
    member = ctx.member()
    grant = BreakGlass(
        operation_id=op.id or 0,
        member_id=member.id or 0,
        reason=reason,
        started_at=ctx.now,
        expires_at=ctx.now + length,
    )
    ctx.session.add(grant)
    ctx.op = op
    ctx.audit_operation_id = op.id
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/break-glass", reason=reason)
    with use_language(CHANNEL_LANGUAGE):  # posted to the leads (README "Languages")
        notice = Message(
            title=_("Break-glass access to {code}").format(code=op.code),
            lines=[
                _("Admin {name} opened read-only access to {code} until {until}.").format(
                    name=member.name, code=op.code, until=format_time(grant.expires_at, op.timezone)
                ),
                _("Reason: {reason}").format(reason=reason),
                _("Every read is in the audit log (`audit`)."),
            ],
            context=_("{code} · break-glass · for the leads").format(code=op.code),
        )
    until = format_time(grant.expires_at, await ctx.tz())
    sent = await protection.deliver_private(
        ctx.session,
        now=ctx.now,
        op=op,
        member_ids=await protection.lead_ids(ctx.session, op),
        message=notice,
        kind="break-glass",
        object_ref="break-glass",
        tlp=TLP.AMBER,
    )
    ctx.posts += len(sent.reached)
    lines = [
        _(
            "Read-only access to {code} until {until}; give the code in each command (`{example}`)."
        ).format(code=op.code, until=until, example=f"subject list {op.code}"),
        sent.summary(_("Announced to the leads:"))
        or _("The operation has no lead to announce it to."),
    ]
    return Reply(
        Message(title=_("Break-glass: {code}").format(code=op.code), lines=lines, context=op.code)
    )


@command(
    "subject unprotect",
    'subject unprotect <S-n> --reason "…"',
    N_("Lift the protection of one victim, witness or child (lead; audited)."),
    args=(Arg("ref", ref=True),),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "Protected persons reach group channels only as a neutral line. Lifting it lets "
        "channels receive this subject's name and places like any other record; "
        "`subject protect` restores it."
    ),
)
async def subject_unprotect(ctx: CommandContext) -> Reply:
    """Lift one subject's protection, with the reason, audited."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["ref"])
    reason = _reason(ctx, _("lifting protection"))
    if not protection.is_protected(subject, ctx.now):
        raise CommandError(_("{ref} is not protected.").format(ref=subject_ref(subject)))
    child = protection.is_child(subject, ctx.now)
    subject.protection_lifted_at = ctx.now
    subject.protection_lifted_by = ctx.member().id
    subject.protection_reason = reason
    ctx.session.add(subject)
    ctx.audit(
        Action.ALTER, object_ref=f"{op.code}/{subject_ref(subject)}", reason=f"unprotect: {reason}"
    )
    lines = [
        _("Protection lifted for {name}: {reason}").format(
            name=subject_name(subject), reason=reason
        )
    ]
    if child:
        lines.append(_("This is a child: refer to child protection whatever is shared."))
    return Reply(Message(lines=lines, context=op.code, tlp=TLP.RED.value))


@command(
    "subject protect",
    "subject protect <S-n>",
    N_("Restore the protection of a victim, witness or child (lead)."),
    args=(Arg("ref", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
)
async def subject_protect(ctx: CommandContext) -> Reply:
    """Undo `subject unprotect`."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["ref"])
    if subject.protection_lifted_at is None:
        raise CommandError(
            _("The protection of {ref} was never lifted.").format(ref=subject_ref(subject))
        )
    subject.protection_lifted_at = None
    subject.protection_lifted_by = None
    subject.protection_reason = None
    ctx.session.add(subject)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{subject_ref(subject)}", reason="protect")
    return Reply(
        Message(
            lines=[_("{ref} is protected again.").format(ref=subject_ref(subject))],
            context=op.code,
        )
    )


async def _grant_target(ctx: CommandContext) -> tuple[int, str, int]:
    subject = await find_subject(ctx, ctx.args["ref"])
    member, ms = await find_member_in_op(ctx, str(ctx.args["member"]))
    if Role(ms.role) not in (Role.PARTNER, Role.OBSERVER):
        raise CommandError(
            _(
                "{name} is {role} and reads protected persons already; grants are for "
                "partners and observers."
            ).format(name=member.name, role=term(ms.role))
        )
    return (
        subject.id or 0,
        f"{subject_ref(subject)} to {member_ref(member)} {member.name}",
        member.id or 0,
    )


async def _grant(ctx: CommandContext, subject_id: int, member_id: int) -> ReadGrant | None:
    """The grant of one subject to one member, if there is one."""
    stmt = select(ReadGrant).where(
        ReadGrant.subject_id == subject_id, ReadGrant.member_id == member_id
    )
    return (await ctx.session.exec(stmt)).first()


@command(
    "subject grant",
    "subject grant <S-n> <member>",
    N_("Let one partner or observer read one protected subject (lead)."),
    args=(Arg("ref", ref=True), Arg("member")),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
)
async def subject_grant(ctx: CommandContext) -> Reply:
    """Grant by name."""
    subject_id, what, member_id = await _grant_target(ctx)
    exists = await _grant(ctx, subject_id, member_id)
    if exists is None:
        ctx.session.add(
            ReadGrant(
                subject_id=subject_id,
                member_id=member_id,
                granted_by=ctx.member().id,
                granted_at=ctx.now,
            )
        )
    ctx.audit(Action.ALTER, object_ref=ctx.operation().code, reason=f"grant {what}")
    return Reply(Message(lines=[_("Granted {what}.").format(what=what)]))


@command(
    "subject revoke",
    "subject revoke <S-n> <member>",
    N_("Withdraw a grant made with `subject grant` (lead)."),
    args=(Arg("ref", ref=True), Arg("member")),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
)
async def subject_revoke(ctx: CommandContext) -> Reply:
    """Revoke by name."""
    subject_id, what, member_id = await _grant_target(ctx)
    row = await _grant(ctx, subject_id, member_id)
    if row is None:
        raise CommandError(_("There is no grant of {what}.").format(what=what))
    await ctx.session.delete(row)
    ctx.audit(Action.ALTER, object_ref=ctx.operation().code, reason=f"revoke {what}")
    return Reply(Message(lines=[_("Revoked {what}.").format(what=what)]))
