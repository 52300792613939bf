"""Sightings begun in the field and finished by a second message (issue 16).

Platform-free state in the store (`FieldPending`): a location pin waiting for whom was
seen, or a `sighting S-1` typed without a place waiting for a pin. Each belongs to one
member in one chat of one operation, and lasts `PENDING_TTL`; the first answer finishes
it, a second finds it finished. The commands that finish it are in `fieldpins`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from bot.base.i18n import _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.fieldtime import Direction, member_language, read_time
from bot.commands.intel import find_subject
from bot.commands.refs import looks_like_ref, parse_ref
from bot.commands.values import parse_coords, parse_grade, parse_tlp
from bot.contracts import Reply, Visibility
from bot.core.access import Perm, Role
from bot.store.audit import Action
from bot.store.models import FieldPending, Membership, Operation

PENDING_TTL = timedelta(hours=1)
STATES = ("subject", "text", "where")


def wants_a_place(words: Sequence[str]) -> bool:
    """Whether a `sighting` line names what was seen and nothing else (`sighting S-1`)."""
    return len(words) == 1 and words[0].strip().lower() not in ("", "at")


async def open_pending(ctx: CommandContext, states: Sequence[str] = STATES) -> FieldPending | None:
    """The actor's newest unfinished, unexpired pending sighting in this chat, if any (in
    the command's operation when it has one, else in any)."""
    member = ctx.member()
    query = (
        select(FieldPending)
        .where(
            FieldPending.member_id == member.id,
            FieldPending.platform == ctx.inv.channel.platform,
            FieldPending.channel_key == ctx.inv.channel.key,
            col(FieldPending.closed_at).is_(None),
            col(FieldPending.expires_at) > ctx.now,
            col(FieldPending.state).in_(list(states)),
        )
        .order_by(col(FieldPending.id).desc())
        .limit(1)
    )
    if ctx.op is not None:
        query = query.where(FieldPending.operation_id == ctx.op.id)
    return (await ctx.session.exec(query)).first()


async def adopt(ctx: CommandContext, operation_id: int) -> None:
    """Act in the operation of a pending sighting (a chat that names no single operation):
    the actor's membership, the permission to post sightings and an open operation, as the
    dispatch checks them for a command that names its operation."""
    op = await ctx.session.get(Operation, operation_id)
    role = (
        await ctx.session.exec(
            select(Membership.role).where(
                Membership.operation_id == operation_id, Membership.member_id == ctx.member().id
            )
        )
    ).first()
    if op is None or role is None:
        raise NotFound(_("Nothing of yours is waiting for an answer here."))
    ctx.op, ctx.role = op, Role(role)
    ctx.require(Perm.POST_SIGHTING)
    if op.status == "closed":
        raise CommandError(_("{code} is closed; it takes no more changes.").format(code=op.code))


async def own_pending(ctx: CommandContext, raw: str) -> FieldPending:
    """The actor's pending sighting number `raw` in this operation, still open.

    Another member's, another operation's and a missing one answer alike."""
    number = raw.strip()
    if not (number.isascii() and number.isdigit() and len(number) < 10):
        raise UsageError(_("A pin number is a whole number, like 3."))
    found = await ctx.session.get(FieldPending, int(number))
    if (
        found is None
        or found.member_id != ctx.member().id
        or (found.operation_id != ctx.operation().id)
    ):
        raise NotFound(_("There is no location pin {n} of yours here.").format(n=int(number)))
    if found.closed_at is not None:
        raise CommandError(_("That pin is already recorded; see `sightings`."))
    if found.expires_at <= ctx.now:
        raise CommandError(_("That pin is more than an hour old; share the location again."))
    return found


async def new_pending(ctx: CommandContext, state: str, **fields: Any) -> FieldPending:
    """A pending sighting of the actor in this chat, added to the session. Pins past their
    hour go first: what they held (a place, coordinates) is not kept beyond its use."""
    conn = await ctx.session.connection()
    await conn.execute(delete(FieldPending).where(col(FieldPending.expires_at) < ctx.now))
    pending = FieldPending(
        operation_id=ctx.operation().id or 0,
        member_id=ctx.member().id or 0,
        platform=ctx.inv.channel.platform,
        channel_key=ctx.inv.channel.key,
        state=state,
        created_at=ctx.now,
        expires_at=ctx.now + PENDING_TTL,
        **fields,
    )
    ctx.session.add(pending)
    return pending


async def ask_where(ctx: CommandContext, what: str) -> Reply:
    """`sighting S-1` without `at`: check the rest now, keep it, ask for the place."""
    if looks_like_ref(what):
        await find_subject(ctx, what)
    flags = {k: v for k, v in ctx.args.values.items() if k != "what" and v not in (None, "")}
    if flags.get("grade"):
        parse_grade(str(flags["grade"]))
    if flags.get("tlp"):
        parse_tlp(str(flags["tlp"]))
    if flags.get("coords"):
        parse_coords(str(flags["coords"]))
    if flags.get("when"):
        tz = await ctx.tz()
        when = read_time(
            str(flags["when"]), ctx.now, tz, lang=member_language(ctx), direction=Direction.PAST
        )
        flags["when"] = when.astimezone(UTC).isoformat()
    pending = await new_pending(ctx, "where", what=what[:1000], flags=flags)
    await ctx.session.flush()
    ctx.audit(Action.COLLECT, object_ref=f"{ctx.operation().code}/pin-{pending.id}")
    return Reply(
        Message(
            lines=[
                _(
                    "Where was {what} seen? Share a location as a reply to this message, or "
                    "type `sighting {what} at <place>`."
                ).format(what=what)
            ]
        ),
        visibility=Visibility.CHANNEL,
    )


async def forget_pending_about(ctx: CommandContext, subject_seq: int) -> None:
    """Delete the operation's waiting `sighting S-n` of an erased subject: what it holds
    (the flags typed, a note, an observer) is about someone whose data is erased."""
    rows = (
        await ctx.session.exec(
            select(FieldPending).where(
                FieldPending.operation_id == ctx.operation().id,
                FieldPending.state == "where",
                col(FieldPending.closed_at).is_(None),
            )
        )
    ).all()
    for row in rows:
        if row.what and looks_like_ref(row.what):
            ref = parse_ref(row.what)
            mine = ref.op_code in (None, ctx.operation().code)
            if mine and ref.prefix == "S" and ref.seq == subject_seq:
                await ctx.session.delete(row)
