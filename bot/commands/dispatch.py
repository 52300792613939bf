"""Dispatch: parse, resolve actor and operation, permit, act, audit — in one transaction."""

from __future__ import annotations

import time
from datetime import datetime

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import audit, metrics, protection
from bot.access import TLP, Role, tlp_allows
from bot.adapters.base import Invocation, Reply, Visibility
from bot.commands import guard
from bot.commands.context import CommandContext, Core
from bot.commands.errors import CommandError, Denied, NotFound, UsageError
from bot.commands.refs import looks_like_ref, parse_ref
from bot.commands.registry import Command, OpMode
from bot.commands.tokenizer import tokenize
from bot.fanout import UNLINKED_GROUP_CEILING, channel_link, effective_ceiling
from bot.messages import Message
from bot.models import Identity, Member, Membership, Operation, ProcessedEvent
from bot.ratelimit import wait_seconds

log = structlog.get_logger(__name__)


def error_reply(sentence: str, usage: str | None = None, command: str | None = None) -> Reply:
    """One clear sentence, plus the usage line when it helps."""
    lines = [sentence]
    if usage:
        lines.append(f"Usage: {usage}")
    return Reply(message=Message(lines=lines), ok=False, command=command)


def actor_label(inv: Invocation, member: Member | None) -> str:
    """How an actor is named in the audit log: `Ana Ruiz (slack:T1/U2)`."""
    ident = f"{inv.actor.platform}:{inv.actor.key}"
    return f"{member.name} ({ident})" if member else ident


async def find_actor(
    session: AsyncSession, inv: Invocation
) -> tuple[Member | None, Identity | None]:
    """The member behind the invocation's platform identity, if registered."""
    ident = (
        await session.exec(
            select(Identity).where(
                Identity.platform == inv.actor.platform, Identity.key == inv.actor.key
            )
        )
    ).first()
    if ident is None:
        return None, None
    member = await session.get(Member, ident.member_id)
    shown = inv.actor.display_name.strip()[:200]
    if member is not None and shown:
        # A member bootstrapped from an id alone takes the name the platform shows.
        placeholder = Member.placeholder_name(ident.platform, ident.key)
        if member.name == placeholder and shown != placeholder:
            member.name = shown
            session.add(member)
        if ident.display_name is None:
            ident.display_name = shown
            session.add(ident)
    return member, ident


async def role_in(
    session: AsyncSession, member: Member, op: Operation, now: datetime | None = None
) -> Role | None:
    """The member's role in `op`. Admins are not readers: an admin who is not a member
    reads only through a running break-glass (`op access`), as a member who changes
    nothing."""
    ms = (
        await session.exec(
            select(Membership).where(
                Membership.operation_id == op.id, Membership.member_id == member.id
            )
        )
    ).first()
    if ms is not None:
        return Role(ms.role)
    if (
        member.is_admin
        and now is not None
        and await protection.active_breakglass(session, member.id, op.id, now) is not None
    ):
        return Role.MEMBER
    return None


async def _explicit_code(cmd: Command, ctx: CommandContext) -> str | None:
    if ctx.args.op_code:
        return ctx.args.op_code
    for value in ctx.args.values.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and looks_like_ref(item):
                ref = parse_ref(item)
                if ref.op_code:
                    return ref.op_code
    return None


async def resolve_operation(ctx: CommandContext) -> None:
    """Find the operation: explicit code, a reference's code, the channel, the only one."""
    cmd = ctx.command
    session = ctx.session
    member = ctx.actor
    code = await _explicit_code(cmd, ctx)
    if code:
        op = (await session.exec(select(Operation).where(Operation.code == code))).first()
        role = await role_in(session, member, op, ctx.now) if (op and member) else None
        if op is not None and role is None and guard.admin_outside(ctx, op):
            return
        if op is None or role is None:
            # Same answer whether it does not exist or the actor is not in it.
            raise NotFound(
                f"There is no operation {code} that you belong to.",
                denied=op is not None,
                operation_id=op.id if op else None,
            )
        ctx.op, ctx.role = op, role
        return
    link = await channel_link(session, ctx.inv.channel.platform, ctx.inv.channel.key)
    if link is not None and member is not None:
        op = await session.get(Operation, link.operation_id)
        role = await role_in(session, member, op, ctx.now) if op else None
        if op is not None and role is not None:
            ctx.op, ctx.role = op, role
            return
        if op is not None and guard.admin_outside(ctx, op):
            return
        if cmd.op is OpMode.REQUIRED:
            raise NotFound(
                "This channel's operation is not one you belong to.",
                denied=True,
                operation_id=link.operation_id,
            )
    if member is None:
        if cmd.op is OpMode.REQUIRED:
            raise NotFound("You are not in any operation yet.")
        return
    rows = (
        await session.exec(
            select(Operation)
            .join(Membership, col(Membership.operation_id) == col(Operation.id))
            .where(Membership.member_id == member.id, Operation.status != "closed")
            .order_by(col(Operation.code))
        )
    ).all()
    if len(rows) == 1:
        ctx.op = rows[0]
        ctx.role = await role_in(session, member, rows[0], ctx.now)
        return
    if cmd.op is OpMode.OPTIONAL:
        return
    if not rows:
        raise NotFound("You are not in any active operation; give its code, like OP-NIGHTJAR.")
    codes = ", ".join(o.code for o in rows)
    raise UsageError(
        f"Which operation? You are in {codes}; add the code, like `{cmd.name} {rows[0].code}`."
    )


def _confidential(inv: Invocation, reply: Reply, ceiling: TLP) -> bool:
    label = reply.message.tlp
    if not label or not inv.channel.is_group:
        return False
    tlp = TLP(label)
    return tlp is TLP.RED or not tlp_allows(ceiling, tlp)


async def _channel_ceiling(session: AsyncSession, inv: Invocation) -> TLP:
    link = await channel_link(session, inv.channel.platform, inv.channel.key)
    return effective_ceiling(link) if link else UNLINKED_GROUP_CEILING


async def _stored_reply(core: Core, inv: Invocation) -> Reply | None:
    if not inv.event_key:
        return None
    async with core.store.transaction() as session:
        row = (
            await session.exec(
                select(ProcessedEvent).where(
                    ProcessedEvent.platform == inv.actor.platform,
                    ProcessedEvent.event_key == inv.event_key,
                )
            )
        ).first()
    if row is None:
        return None
    metrics.INBOUND_DUPLICATES.labels(inv.actor.platform).inc()
    log.info("dispatch.duplicate", platform=inv.actor.platform)
    if row.reply:
        return Reply.from_json(row.reply)
    return Reply(message=Message(lines=["Already handled."]))


async def _remember(core: Core, inv: Invocation, reply: Reply, now: datetime) -> Reply | None:
    """Store a refusal as the event's answer; if a twin got there first, return its answer."""
    if not inv.event_key:
        return None
    try:
        async with core.store.transaction() as session:
            session.add(
                ProcessedEvent(
                    platform=inv.actor.platform,
                    event_key=inv.event_key,
                    reply=reply.to_json(),
                    created_at=now,
                )
            )
    except IntegrityError:
        # The same event ran at the same moment and won: its answer is the answer.
        return await _stored_reply(core, inv)
    return None


async def was_processed(core: Core, platform: str, event_key: str) -> bool:
    """Whether an inbound event with this key was already handled.

    Adapters that post their answers themselves (rather than returning them in the
    request's response) check this first, so a redelivered event posts nothing twice.
    """
    async with core.store.transaction() as session:
        row = (
            await session.exec(
                select(ProcessedEvent.id).where(
                    ProcessedEvent.platform == platform, ProcessedEvent.event_key == event_key
                )
            )
        ).first()
    return row is not None


async def dispatch(core: Core, inv: Invocation) -> Reply:
    """Run one command line and return the reply; never raises for user errors."""
    started = time.perf_counter()
    name = "?"
    outcome = "error"
    try:
        reply = await _dispatch(core, inv)
        name = reply.command or "?"
        outcome = "ok" if reply.ok else "refused"
        return reply
    finally:
        metrics.COMMANDS.labels(name, outcome).inc()
        metrics.COMMAND_LATENCY.labels(name).observe(time.perf_counter() - started)


async def _dispatch(core: Core, inv: Invocation) -> Reply:
    settings = core.settings
    now = core.clock()
    line = inv.text.strip()
    if line.startswith("/"):
        line = line[1:]
    if line.lower().startswith("tf ") or line.lower() == "tf":
        line = line[2:].strip()
    if len(line) > settings.max_command_chars:
        metrics.REFUSED.labels(inv.actor.platform, "command_too_long").inc()
        log.info("command", outcome="too_long", platform=inv.actor.platform)
        return error_reply(
            f"That command is too long ({len(line)} characters); the limit is "
            f"{settings.max_command_chars}."
        )
    # Before any database work: a flooding member costs the others nothing. The console is
    # the operator's own terminal on the server (and the test harness), not a remote member.
    delay = (
        core.limiter.take(
            (inv.actor.platform, inv.actor.key), settings.rate_limit_per_minute, now.timestamp()
        )
        if inv.actor.platform != "console"
        else 0.0
    )
    if delay > 0:
        metrics.REFUSED.labels(inv.actor.platform, "rate_limited").inc()
        log.info("command", outcome="rate_limited", platform=inv.actor.platform)
        wait = wait_seconds(delay)
        return error_reply(
            f"You are sending commands too fast; wait {wait} second{'s' if wait != 1 else ''}."
        )
    stored = await _stored_reply(core, inv)
    if stored is not None:
        return stored
    cmd: Command | None = None
    ctx: CommandContext | None = None
    op_code: str | None = None  # kept apart: a rollback expires ctx.op
    op_id: int | None = None
    try:
        words = tokenize(line)
        if not words:
            words = ["help"]
        cmd, rest = core.registry.resolve(words)
        parsed = cmd.parse(rest, settings.max_text_chars)
        async with core.store.transaction() as session:
            ctx = CommandContext(
                core=core, session=session, inv=inv, command=cmd, args=parsed, now=now
            )
            ctx.actor, ctx.identity = await find_actor(session, inv)
            if cmd.needs_member and ctx.actor is None:
                raise Denied(
                    "You are not registered with Taskforce yet: ask a lead of your operation for "
                    "an invite and type `join <code>`, or `link <code>` to add this account to "
                    "your existing one."
                )
            if cmd.admin_only and not ctx.is_admin:
                raise Denied(f"Only Taskforce admins can `{cmd.name}`.")
            if cmd.op is not OpMode.NONE:
                await resolve_operation(ctx)
                op_code = ctx.op.code if ctx.op else None
                op_id = ctx.op.id if ctx.op else None
            if ctx.op is not None:
                if cmd.perm is not None and not (cmd.admin_manages and ctx.is_admin):
                    ctx.require(cmd.perm)
                if cmd.writes and ctx.role is not None and ctx.is_admin:
                    await guard.read_only_breakglass(ctx)
                if (
                    cmd.writes
                    and ctx.op.status == "closed"
                    and not (cmd.name == "op status" and ctx.is_admin)
                ):
                    raise CommandError(f"{ctx.op.code} is closed; it takes no more changes.")
            elif cmd.perm is not None and cmd.op is OpMode.REQUIRED:
                raise NotFound("Which operation? Add its code, like OP-NIGHTJAR.")
            reply = await cmd.handler(ctx)
            reply.command = cmd.name
            reply.confidential = _confidential(inv, reply, await _channel_ceiling(session, inv))
            if reply.confidential and reply.visibility is Visibility.CHANNEL:
                reply.visibility = Visibility.PRIVATE
            await core.store.lock_audit_chain(session)
            await audit.append(
                session,
                at=now,
                actor=actor_label(inv, ctx.actor),
                actor_id=ctx.actor.id if ctx.actor else None,
                action=ctx.audit_action or cmd.action,
                command=cmd.name,
                operation_id=ctx.audit_operation_id or (ctx.op.id if ctx.op else None),
                object_ref=ctx.audit_object,
                channel=f"{inv.channel.platform}:{inv.channel.key}",
                reason=ctx.audit_reason,
            )
            if inv.event_key:
                session.add(
                    ProcessedEvent(
                        platform=inv.actor.platform,
                        event_key=inv.event_key,
                        reply=reply.to_json(),
                        created_at=now,
                    )
                )
        if ctx.posts:
            core.on_outbox()
        for kind, ref_id in ctx.schedule_changes:
            core.on_schedule_change(kind, ref_id)
        log.info(
            "command", command=cmd.name, operation=ctx.op.code if ctx.op else None, outcome="ok"
        )
        return reply
    except CommandError as exc:
        usage = cmd.usage if (cmd is not None and exc.show_usage) else None
        reply = error_reply(exc.sentence, usage, cmd.name if cmd else None)
        log.info(
            "command",
            command=cmd.name if cmd else None,
            operation=op_code,
            outcome="refused",
        )
        first = await _remember(core, inv, reply, now)
        if first is None and guard.is_denied_access(exc):
            await guard.record_denied(core, inv, cmd.name if cmd else "?", exc, op_id, now)
        return first or reply
    except IntegrityError:
        again = await _stored_reply(core, inv)
        if again is not None:
            return again
        log.exception("command.integrity_error", command=cmd.name if cmd else None)
        return error_reply("That clashed with a change made at the same moment; please try again.")
    except Exception:
        log.exception("command.crashed", command=cmd.name if cmd else None)
        return error_reply(
            "Something went wrong on our side and nothing was changed; the error is logged."
        )
