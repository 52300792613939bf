"""Dispatch: parse, resolve actor and operation, permit, act, audit — in one transaction."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

import structlog
from sqlalchemy import bindparam, insert
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base import bidi, metrics
from bot.base.i18n import (
    _,
    current_language,
    is_rtl,
    ngettext,
    pick_language,
    switch_language,
    use_language,
)
from bot.base.messages import Message
from bot.base.ratelimit import wait_seconds
from bot.commands import guard, surface
from bot.commands.context import CommandContext, Core
from bot.commands.errors import CommandError, Denied, NotFound, UsageError
from bot.commands.refs import looks_like_ref, parse_ref
from bot.commands.registry import Command, OpMode
from bot.commands.tokenizer import tokenize
from bot.contracts import (
    UNACCEPTABLE_TEXT,
    Invocation,
    Reply,
    Visibility,
    clean_name,
    normalise_text,
)
from bot.core import protection, typography
from bot.core.access import TLP, Role, tlp_allows
from bot.core.disclosure import BreakGlassNote
from bot.core.fanout import UNLINKED_GROUP_CEILING, channel_link, effective_ceiling
from bot.core.lifecycle import LIFECYCLE_COMMANDS
from bot.store import audit, tables
from bot.store.entityrows import EntityRows
from bot.store.fastsql import Prepared
from bot.store.models import (
    ChannelLink,
    Identity,
    Member,
    Membership,
    Operation,
    ProcessedEvent,
)

log = structlog.get_logger(__name__)


def error_reply(sentence: str, usage: str | None = None, command: str | None = None) -> Reply:
    """One clear sentence, plus the usage line when it helps."""
    lines = [sentence]
    if usage:
        lines.append(_("Usage: {usage}").format(usage=usage))
    return Reply(message=Message(lines=lines), ok=False, command=command)


def actor_label(inv: Invocation, member: Member | None) -> str:
    """How an actor is named in the audit log: `Ana Ruiz (slack:T1/U2)`."""
    ident = f"{inv.actor.platform}:{inv.actor.key}"
    return f"{member.name} ({ident})" if member else ident


# Actor, agency time zone, the channel's link, its operation and the actor's role there, in
# one statement (the hot path of every command), run at the driver (`bot.store.entityrows`).
# Outer joins: a channel may be unlinked, the actor may not be a member of the linked
# operation.
_IDENTITY = tables.IDENTITY
_MEMBER = tables.MEMBER
_AGENCY = tables.AGENCY
_LINK = tables.CHANNEL_LINK
_OPERATION = tables.OPERATION
_MEMBERSHIP = tables.MEMBERSHIP
_LINK_OP = _OPERATION.alias("link_op")
_LINK_MS = _MEMBERSHIP.alias("link_ms")
_ACTOR_AND_CHANNEL = EntityRows(
    [
        Identity,
        Member,
        _AGENCY.c.timezone,
        ChannelLink,
        (Operation, _LINK_OP),
        _LINK_MS.c.role,
        _AGENCY.c.language,
    ],
    lambda columns: (
        core_select(*columns)
        .select_from(_IDENTITY)
        .join(_MEMBER, _MEMBER.c.id == _IDENTITY.c.member_id)
        .outerjoin(_AGENCY, _AGENCY.c.id == _MEMBER.c.agency_id)
        .outerjoin(
            _LINK,
            (_LINK.c.platform == bindparam("channel_platform"))
            & (_LINK.c.channel_key == bindparam("channel_key")),
        )
        .outerjoin(_LINK_OP, _LINK_OP.c.id == _LINK.c.operation_id)
        .outerjoin(
            _LINK_MS,
            (_LINK_MS.c.operation_id == _LINK.c.operation_id)
            & (_LINK_MS.c.member_id == _MEMBER.c.id),
        )
        .where(_IDENTITY.c.platform == bindparam("platform"), _IDENTITY.c.key == bindparam("key"))
    ),
)
_OP_AND_ROLE = EntityRows(
    [Operation, _MEMBERSHIP.c.role],
    lambda columns: (
        core_select(*columns)
        .select_from(_OPERATION)
        .outerjoin(
            _MEMBERSHIP,
            (_MEMBERSHIP.c.operation_id == _OPERATION.c.id)
            & (_MEMBERSHIP.c.member_id == bindparam("member_id")),
        )
        .where(_OPERATION.c.code == bindparam("code"))
    ),
)


def _actor_and_channel_keys(inv: Invocation) -> dict[str, str]:
    """The parameters of `_ACTOR_AND_CHANNEL`: who typed, and where."""
    return {
        "platform": inv.actor.platform,
        "key": inv.actor.key,
        "channel_platform": inv.channel.platform,
        "channel_key": inv.channel.key,
    }


async def load_actor_and_channel(ctx: CommandContext) -> None:
    """Fill in the actor, the channel's link, and the linked operation with the actor's
    role there (`ctx.link_op`, `ctx.link_role`), in one statement; a second one only for an
    actor not registered yet (the channel's link alone)."""
    session, inv = ctx.session, ctx.inv
    row = await _ACTOR_AND_CHANNEL.first(session, _actor_and_channel_keys(inv))
    if row is None:
        ctx.link = await channel_link(session, inv.channel.platform, inv.channel.key)
        return
    ident, member, agency_tz, link, link_op, link_role, agency_language = row
    ctx.actor, ctx.identity, ctx.agency_timezone, ctx.link = member, ident, agency_tz, link
    # The reply's language (README "Languages"): the member's choice, else the platform's
    # locale, else the agency's language, else English.
    switch_language(pick_language(member.language, inv.locale, agency_language))
    if link_op is not None:
        ctx.link_op, ctx.link_role = link_op, Role(link_role) if link_role is not None else None
    shown = inv.actor.display_name.strip()[:200]
    if shown:
        # A member bootstrapped from an id alone takes the name the platform shows.
        placeholder = Member.placeholder_name(ident.platform, ident.key)
        if member.name == placeholder and shown != placeholder:
            member.name = shown
            session.add(member)
        if ident.display_name is None:
            ident.display_name = shown
            session.add(ident)


async def _note_breakglass(ctx: CommandContext) -> None:
    """Keep the running break-glass's end and reason on the context (`op show`, audit)."""
    member, op = ctx.actor, ctx.op
    found = await protection.active_breakglass(
        ctx.session, member.id if member else None, op.id if op else None, ctx.now
    )
    if found is not None:
        ctx.breakglass_note = BreakGlassNote(until=found.expires_at, reason=found.reason)


def _justification(ctx: CommandContext, action: audit.Action) -> str | None:
    """The reason an audit entry carries: a read under break-glass says so, with the
    break-glass's reason; a consultation names the command that caused it (EU LED Art. 25)
    by its name and references only: free text (a searched name, a place) would outlive an
    erasure in the hash-chained log."""
    reason = ctx.audit_reason
    if action is audit.Action.CONSULT and not reason:
        refs = [r for r in ctx.command.references(ctx.args) if looks_like_ref(r)]
        reason = " ".join(["command:", ctx.command.name, *refs])
    if ctx.breakglass_note is not None:
        reason = f"break-glass ({ctx.breakglass_note.reason})" + (f"; {reason}" if reason else "")
    return reason[:1000] if reason else None


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
    """The operation the line names: its code, or the code of an argument declared as a
    reference (`Arg(ref=True)`). Free text (`--note`, `--desc`, the place after `at`) never
    chooses the operation, whatever it contains."""
    if ctx.args.op_code:
        return ctx.args.op_code
    for item in cmd.references(ctx.args):
        if looks_like_ref(item):
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
        op: Operation | None = None
        role: Role | None = None
        if ctx.link_op is not None and ctx.link_op.code == code:
            op, role = ctx.link_op, ctx.link_role
        elif member is not None:
            hit = await _OP_AND_ROLE.first(session, {"code": code, "member_id": member.id})
            if hit is not None:
                op, role = hit[0], (Role(hit[1]) if hit[1] is not None else None)
        if op is not None and role is None and member is not None and member.is_admin:
            role = await role_in(session, member, op, ctx.now)  # a running break-glass
            ctx.breakglass = role is not None
        if op is not None and role is None and guard.admin_outside(ctx, op):
            return
        if op is None or role is None:
            # Same answer whether it does not exist or the actor is not in it.
            raise NotFound(
                _("There is no operation {code} that you belong to.").format(code=code),
                denied=op is not None,
                operation_id=op.id if op else None,
            )
        ctx.op, ctx.role = op, role
        return
    link = ctx.link
    if link is not None and member is not None:
        op, role = ctx.link_op, ctx.link_role
        if op is not None and role is None and member.is_admin:
            role = await role_in(session, member, op, ctx.now)  # a running break-glass
            ctx.breakglass = role is not None
        if op is not None and role is not None:
            ctx.op, ctx.role = op, role
            return
        if op is not None and guard.admin_outside(ctx, op):
            return
        if cmd.op is OpMode.REQUIRED:
            raise NotFound(
                _("This channel's operation is not one you belong to."),
                denied=True,
                operation_id=link.operation_id,
            )
    if member is None:
        if cmd.op is OpMode.REQUIRED:
            raise NotFound(_("You are not in any operation yet."))
        return
    mine = (
        await session.exec(
            select(Operation, Membership.role)
            .join(Membership, col(Membership.operation_id) == col(Operation.id))
            .where(Membership.member_id == member.id, Operation.status != "closed")
            .order_by(col(Operation.code))
        )
    ).all()
    rows = [row[0] for row in mine]
    if len(rows) == 1:
        ctx.op, ctx.role = rows[0], Role(mine[0][1])
        return
    if cmd.op is OpMode.OPTIONAL:
        return
    if not rows:
        raise NotFound(_("You are not in any active operation; give its code, like OP-NIGHTJAR."))
    codes = ", ".join(o.code for o in rows)
    raise UsageError(
        _("Which operation? You are in {codes}; add the code, like `{example}`.").format(
            codes=codes, example=f"{cmd.name} {rows[0].code}"
        )
    )


def _confidential(inv: Invocation, reply: Reply, ceiling: TLP) -> bool:
    label = reply.message.tlp
    if not label or not inv.channel.is_group:
        return False
    tlp = TLP(label)
    return tlp is TLP.RED or not tlp_allows(ceiling, tlp)


async def _elsewhere(ctx: CommandContext) -> bool:
    """Whether the reply is about an operation this group channel is not linked to.

    Such a reply goes to the actor alone (the adapters leave a one-line pointer in the
    channel), whatever its label: the channel's members are another operation's, or
    nobody's. The link is read again only when it does not match (`op link` and
    `op unlink` change it inside the command)."""
    inv, op = ctx.inv, ctx.op
    if op is None or not inv.channel.is_group:
        return False
    if ctx.link is not None and ctx.link.operation_id == op.id:
        return False
    now_linked = await channel_link(ctx.session, inv.channel.platform, inv.channel.key)
    return now_linked is None or now_linked.operation_id != op.id


_PROCESSED = tables.PROCESSED_EVENT
_REMEMBER = Prepared(
    insert(_PROCESSED).values(
        {name: bindparam(name) for name in ("platform", "event_key", "reply", "created_at")}
    )
)
_PROCESSED_KEY = Prepared(
    select(_PROCESSED.c.id).where(
        _PROCESSED.c.platform == bindparam("platform"),
        _PROCESSED.c.event_key == bindparam("event_key"),
    )
)
_STORED_REPLY = select(ProcessedEvent.id, ProcessedEvent.reply).where(
    col(ProcessedEvent.platform) == bindparam("platform"),
    col(ProcessedEvent.event_key) == bindparam("event_key"),
)


async def _stored_reply(core: Core, inv: Invocation) -> Reply | None:
    """The answer first given to this event, if it was handled before (marked duplicate)."""
    if not inv.event_key:
        return None
    async with core.store.transaction() as session:
        found = (
            await session.exec(
                _STORED_REPLY,
                params={"platform": inv.actor.platform, "event_key": inv.event_key},
            )
        ).first()
    if found is None:
        return None
    metrics.INBOUND_DUPLICATES.labels(inv.actor.platform).inc()
    log.info("dispatch.duplicate", platform=inv.actor.platform)
    reply = (
        Reply.from_json(dict(found[1]))
        if found[1]
        else Reply(message=Message(lines=[_("Already handled.")]))
    )
    reply.duplicate = True
    return reply


async def _remember(core: Core, inv: Invocation, reply: Reply, now: datetime) -> Reply | None:
    """Store a refusal as the event's answer; if a twin got there first, return its answer."""
    if not inv.event_key:
        return None
    try:
        async with core.store.transaction() as session:
            await _record_processed(session, inv, reply, now)
    except IntegrityError:
        # The same event ran at the same moment and won: its answer is the answer.
        return await _stored_reply(core, inv)
    return None


async def _record_processed(
    session: AsyncSession, inv: Invocation, reply: Reply, now: datetime
) -> None:
    """Record the event's key with its answer; the unique key fails a second delivery
    (raised by the commit's round trip at the latest, `Prepared.later`)."""
    await _REMEMBER.later(
        session,
        {
            "platform": inv.actor.platform,
            "event_key": inv.event_key,
            "reply": reply.to_json(),
            "created_at": now,
        },
    )


def _resolve_line(core: Core, line: str) -> tuple[Command, list[str]]:
    """The command a line names and the words after its name; `CommandError` otherwise."""
    return core.registry.resolve(tokenize(line) or ["help"])


async def _language_of(core: Core, inv: Invocation) -> str:
    """The language the actor's replies are written in (as `load_actor_and_channel` picks
    it), read in a short transaction of its own."""
    async with core.store.transaction() as session:
        row = await _ACTOR_AND_CHANNEL.first(session, _actor_and_channel_keys(inv))
    if row is None:
        return pick_language(inv.locale)
    member, agency_language = row[1], row[6]
    return pick_language(member.language, inv.locale, agency_language)


async def was_processed(core: Core, platform: str, event_key: str) -> bool:
    """Whether an inbound event with this key was already handled.

    Adapters that post their answers themselves (rather than returning them in the
    request's response) check this first, so a redelivered event posts nothing twice.
    """
    async with core.store.transaction() as session:
        rows = await _PROCESSED_KEY.rows(session, {"platform": platform, "event_key": event_key})
    return bool(rows)


async def dispatch(core: Core, inv: Invocation) -> Reply:
    """Run one command line and return the reply; never raises for user errors."""
    started = time.perf_counter()
    name = "?"
    outcome = "error"
    try:
        # Sentences are written in the platform's locale until the member is known.
        with use_language(inv.locale):
            reply = await _dispatch(core, inv)
            reply.language = current_language()
            if is_rtl() and not reply.duplicate:
                reply.message = bidi.rtl_message(reply.message)
                reply.extra = [bidi.rtl_message(m) for m in reply.extra]
            if current_language() == "fr" and not reply.duplicate:  # `Statut : …`
                reply.message = typography.french_message(reply.message)
                reply.extra = [typography.french_message(m) for m in reply.extra]
        name = reply.command or "?"
        outcome = "ok" if reply.ok else "refused"
        return reply
    finally:
        metrics.COMMANDS.labels(name, outcome).inc()
        metrics.COMMAND_LATENCY.labels(name).observe(time.perf_counter() - started)


async def _dispatch(core: Core, inv: Invocation) -> Reply:
    settings = core.settings
    now = core.clock()
    # The boundary between the platforms and the core: one form of every text, and nothing
    # that cannot be stored, rendered or sent (the sentence does not echo the text).
    normal = normalise_text(inv.text)
    if normal is None:
        metrics.REFUSED.labels(inv.actor.platform, "bad_text").inc()
        log.info("command", outcome="bad_text", platform=inv.actor.platform)
        return error_reply(_(UNACCEPTABLE_TEXT))
    if normal != inv.text or clean_name(inv.actor.display_name) != inv.actor.display_name:
        inv = replace(
            inv,
            text=normal,
            actor=replace(inv.actor, display_name=clean_name(inv.actor.display_name)),
        )
    line = inv.text.strip()  # the adapter has taken off its prefix and mention
    if len(line) > settings.max_command_chars:
        metrics.REFUSED.labels(inv.actor.platform, "command_too_long").inc()
        log.info("command", outcome="too_long", platform=inv.actor.platform)
        return error_reply(
            _("That command is too long ({length} characters); the limit is {limit}.").format(
                length=len(line), limit=settings.max_command_chars
            )
        )
    # Before any database work: a flooding member costs the others nothing. The console is
    # the operator's own terminal on the server (and the test harness), not a remote member.
    delay = (
        core.limiter.take(
            (inv.actor.platform, inv.actor.key), settings.rate_limit_per_minute, now.timestamp()
        )
        if not inv.local
        else 0.0
    )
    if delay > 0:
        metrics.REFUSED.labels(inv.actor.platform, "rate_limited").inc()
        log.info("command", outcome="rate_limited", platform=inv.actor.platform)
        wait = wait_seconds(delay)
        return error_reply(
            ngettext(
                "You are sending commands too fast; wait {n} second.",
                "You are sending commands too fast; wait {n} seconds.",
                wait,
            ).format(n=wait)
        )
    cmd: Command | None = None
    ctx: CommandContext | None = None
    op_code: str | None = None  # kept apart: a rollback expires ctx.op
    op_id: int | None = None
    try:
        try:
            cmd, rest = _resolve_line(core, line)
            parsed = cmd.parse(rest, settings.max_text_chars)
        except CommandError:
            # The sentence is for the member: written in their language, not the platform's
            # (`foo` after `me lang es`). Their language is read only for a refused line.
            switch_language(await _language_of(core, inv))
            cmd, rest = _resolve_line(core, line)
            parsed = cmd.parse(rest, settings.max_text_chars)  # raises again, in their language
        if core.before_transaction is not None:
            await core.before_transaction(inv)

        async def admit(ctx: CommandContext) -> None:
            """Who acts, in which operation, whether they may: refused here, or admitted."""
            nonlocal op_code, op_id
            await load_actor_and_channel(ctx)
            if cmd.needs_member and ctx.actor is None:
                raise Denied(
                    _(
                        "You are not registered with Taskforce yet: ask a lead of your "
                        "operation for an invite and type `join <code>`, or `link <code>` to "
                        "add this account to your existing one."
                    )
                )
            if cmd.admin_only and not ctx.is_admin:
                raise Denied(_("Only Taskforce admins can `{command}`.").format(command=cmd.name))
            if cmd.op is not OpMode.NONE:
                await resolve_operation(ctx)
                op_code = ctx.op.code if ctx.op else None
                op_id = ctx.op.id if ctx.op else None
            if ctx.op is not None:
                if ctx.breakglass:
                    await _note_breakglass(ctx)
                if cmd.perm is not None and not (cmd.admin_manages and ctx.is_admin):
                    ctx.require(cmd.perm)
                if cmd.writes and ctx.breakglass:
                    guard.read_only_breakglass(ctx)
                if (
                    cmd.writes
                    and ctx.op.status == "closed"
                    and not (cmd.name == "op status" and ctx.is_admin)
                    and cmd.name not in LIFECYCLE_COMMANDS
                ):
                    raise CommandError(
                        _("{code} is closed; it takes no more changes.").format(code=ctx.op.code)
                    )
            elif cmd.perm is not None and cmd.op is OpMode.REQUIRED:
                raise NotFound(_("Which operation? Add its code, like OP-NIGHTJAR."))

        prepared: object = None
        if cmd.prepare is not None:
            # Admitted first, in a short transaction of its own: nothing is fetched for a
            # sender who may not act here. Then the slow work (a photo's download, decoding
            # and hashing) runs outside any transaction, holding no writer; the command's
            # own transaction admits the actor again.
            async with core.store.transaction() as session:
                await admit(
                    CommandContext(
                        core=core, session=session, inv=inv, command=cmd, args=parsed, now=now
                    )
                )
            prepared = await cmd.prepare(core, inv)
        async with core.store.transaction() as session:
            ctx = CommandContext(
                core=core,
                session=session,
                inv=inv,
                command=cmd,
                args=parsed,
                now=now,
                prepared=prepared,
            )
            await admit(ctx)
            reply = await cmd.handler(ctx)
            reply.command = cmd.name
            await surface.echo_to_channels(ctx, reply)  # the room has no channel
            ceiling = effective_ceiling(ctx.link) if ctx.link else UNLINKED_GROUP_CEILING
            reply.confidential = _confidential(inv, reply, ceiling) or await _elsewhere(ctx)
            if reply.confidential and reply.visibility is Visibility.CHANNEL:
                reply.visibility = Visibility.PRIVATE
            await session.flush()  # the handler's ORM changes go first (foreign keys)
            own = audit.Entry(
                at=now,
                actor=actor_label(inv, ctx.actor),
                actor_id=ctx.actor.id if ctx.actor else None,
                action=ctx.audit_action or cmd.action,
                command=cmd.name,
                operation_id=ctx.audit_operation_id or (ctx.op.id if ctx.op else None),
                object_ref=ctx.audit_object,
                channel=f"{inv.channel.platform}:{inv.channel.key}",
                reason=_justification(ctx, ctx.audit_action or cmd.action),
            )
            await audit.append_entries(session, [own, *ctx.extra_audit])
            if inv.event_key:
                await _record_processed(session, inv, reply, now)
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
        return error_reply(
            _("That clashed with a change made at the same moment; please try again.")
        )
    except Exception:
        log.exception("command.crashed", command=cmd.name if cmd else None)
        return error_reply(
            _("Something went wrong on our side and nothing was changed; the error is logged.")
        )
