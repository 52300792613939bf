"""`pin`: a sighting begun from a shared location, finished by a button or a reply.

Platform-free: an adapter turns a shared location into `pin LAT,LON [--place "venue"]
[--live]` (Telegram: a location or venue message), a reply to the bot into `pin text …`;
the console types them. The pin answers "Whom did you see?" with buttons for the
operation's recent subjects and "Something else" (`pin use`, `pin other`); or, when the
member's `sighting S-1` is waiting for a place (`fieldpending.ask_where`), finishes it.
The sighting itself is recorded by the `sighting` command's own handler, so labels,
matches, posts, protection and audit are exactly a typed sighting's.
"""

from __future__ import annotations

from sqlmodel import col, select, update

from bot.base.i18n import N_, _
from bot.base.messages import Button, Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.fieldpending import adopt, new_pending, open_pending, own_pending
from bot.commands.intel import may_read_subject, reader
from bot.commands.refs import parse_ref
from bot.commands.registry import Arg, Flag, OpMode, ParsedArgs, command
from bot.commands.render import subject_ref
from bot.commands.sightings import MAX_LOCATION, sighting_add
from bot.commands.values import parse_coords
from bot.contracts import Reply, Visibility
from bot.core import protection
from bot.core.access import Perm, Role, role_allows, tlp_max
from bot.store.audit import Action
from bot.store.models import FieldPending, Membership, Operation, Sighting, Subject

BUTTONS = 6  # recent subjects offered
_SPECIAL = set("\"'“”„‘’«»\\")
MAX_DESCRIPTION = 500
LIVE_NOTE = N_("This is a live location: I record its first point only, not where it moves next.")


def _place(lat: float, lon: float, place: str | None) -> str:
    """The place text of a pin: the venue's name, else its coordinates."""
    return (place or "").strip()[:MAX_LOCATION] or f"{lat:.5f},{lon:.5f}"


async def recorded_sighting(ctx: CommandContext) -> tuple[Sighting, Subject | None]:
    """The sighting the `sighting` handler just recorded in this command, with its subject."""
    ref = (ctx.audit_object or "").rsplit("/", 1)[-1]
    seq = parse_ref(ref, "SG").seq
    row = (
        await ctx.session.exec(
            select(Sighting, Subject)
            .join(Subject, col(Subject.id) == col(Sighting.subject_id), isouter=True)
            .where(Sighting.operation_id == ctx.operation().id, Sighting.seq == seq)
        )
    ).first()
    assert row is not None, "the sighting handler recorded no sighting"
    return row[0], row[1]


async def finish(
    ctx: CommandContext, pending: FieldPending, what: str, place: str, coords: str | None
) -> Reply:
    """Record the sighting a pending one became, through `sighting`'s handler.

    The pending row is claimed first with a conditional UPDATE, so two presses at once (a
    double tap: two updates) record one sighting; the second waits for the first's row
    lock and finds it taken."""
    claimed = await ctx.session.exec(
        update(FieldPending)
        .where(col(FieldPending.id) == pending.id, col(FieldPending.closed_at).is_(None))
        .values(closed_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise CommandError(_("That pin is already recorded; see `sightings`."))
    values = dict(pending.flags or {})
    values["what"] = [what, "at", place]
    if coords:
        values["coords"] = coords
    values.setdefault("when", pending.created_at.isoformat())
    ctx.args = ParsedArgs(values=values)
    reply = await sighting_add(ctx)
    sighting, _subject = await recorded_sighting(ctx)
    pending.sighting_id = sighting.id
    pending.closed_at = ctx.now
    ctx.session.add(pending)
    if pending.live:
        reply.message.lines.append(_(LIVE_NOTE))
    return reply


async def _recent_subjects(ctx: CommandContext) -> list[Subject]:
    """Up to `BUTTONS` subjects to offer: the most recently sighted, then the newest added;
    only those the actor may read, and never a protected person (a name on a button may be
    seen by the whole chat)."""
    op = ctx.operation()
    sighted = (
        await ctx.session.exec(
            select(Sighting.subject_id)
            .where(Sighting.operation_id == op.id, col(Sighting.subject_id).is_not(None))
            .order_by(col(Sighting.id).desc())
            .limit(50)
        )
    ).all()
    newest = (
        await ctx.session.exec(
            select(Subject.id)
            .where(Subject.operation_id == op.id)
            .order_by(col(Subject.seq).desc())
            .limit(20)
        )
    ).all()
    ids = list(dict.fromkeys(i for i in [*sighted, *newest] if i is not None))
    if not ids:
        return []
    found = {
        s.id: s
        for s in (await ctx.session.exec(select(Subject).where(col(Subject.id).in_(ids)))).all()
    }
    who = await reader(ctx)
    out: list[Subject] = []
    for i in ids:
        subject = found.get(i)
        if (
            subject is not None
            and subject.operation_id == op.id
            and may_read_subject(who, subject)
            and not protection.is_protected(subject, ctx.now)
        ):
            out.append(subject)
        if len(out) == BUTTONS:
            break
    return out


def _word(text: str) -> str:
    """`text` as one word of a command line (a button's): spaces and quotes escaped."""
    return "".join("\\" + ch if ch in _SPECIAL or ch.isspace() else ch for ch in text)


async def _which_operation(
    ctx: CommandContext, lat: float, lon: float, place: str, live: bool
) -> Reply:
    """A pin in a chat that names no single operation: a button per operation where the
    member may post sightings."""
    rows = (
        await ctx.session.exec(
            select(Operation, Membership.role)
            .join(Membership, col(Membership.operation_id) == col(Operation.id))
            .where(Membership.member_id == ctx.member().id, Operation.status != "closed")
            .order_by(col(Operation.code))
        )
    ).all()
    codes = [op.code for op, role in rows if role_allows(Role(role), Perm.POST_SIGHTING)]
    if not codes:
        raise NotFound(_("You are not in any active operation where you may post sightings."))
    tail = f"{lat},{lon} --place {_word(place)}" + (" --live" if live else "")
    return Reply(
        Message(
            lines=[_("Which operation is this location for?")],
            buttons=[Button(code, f"pin {code} {tail}") for code in codes],
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "pin",
    'pin <LAT,LON> [--place "…"] [--live]',
    N_("Start a sighting from a location (a shared location on Telegram does this for you)."),
    args=(Arg("coords", rest=True),),  # `36,1600, -5,3480`: a decimal comma, two words
    flags=(Flag("place"), Flag("live", kind="bool")),
    op=OpMode.OPTIONAL,  # a private chat of a member of several operations: asked which
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.COLLECT,
    visibility=Visibility.CHANNEL,
    details=N_(
        "The answer asks whom you saw, with a button for each of the operation's recent "
        "subjects and one for something else. If your `sighting S-1` is waiting for a place, "
        "the location finishes it. --place names the place (a venue), else the coordinates "
        "do. A pin waits an hour."
    ),
)
async def pin_start(ctx: CommandContext) -> Reply:
    """A shared location: finish a sighting waiting for its place, or ask whom was seen."""
    lat, lon = parse_coords(" ".join(ctx.args["coords"]))
    place = _place(lat, lon, ctx.args.get("place"))
    live = bool(ctx.args.get("live"))
    waiting = await open_pending(ctx, ("where",))
    if waiting is not None:
        if ctx.op is None:
            await adopt(ctx, waiting.operation_id)
        waiting.live = live
        return await finish(ctx, waiting, waiting.what or "", place, f"{lat},{lon}")
    if ctx.op is None:
        return await _which_operation(ctx, lat, lon, place, live)
    op = ctx.operation()
    pending = await new_pending(ctx, "subject", lat=lat, lon=lon, place=place, live=live)
    await ctx.session.flush()
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/pin-{pending.id}")
    subjects = await _recent_subjects(ctx)
    buttons = [
        Button(
            f"{subject_ref(s)} {s.name}"[:40], f"pin use {op.code} {pending.id} {subject_ref(s)}"
        )
        for s in subjects
    ]
    buttons.append(Button(_("Something else"), f"pin other {op.code} {pending.id}"))
    lines = [_("Whom did you see at {place}?").format(place=place)]
    if not subjects:
        lines.append(_("Press the button, or reply to this message with what you saw."))
    if live:
        lines.append(_(LIVE_NOTE))
    label = tlp_max(*(s.tlp for s in subjects))
    return Reply(
        Message(
            lines=lines,
            buttons=buttons,
            context=f"{op.code} · pin {pending.id}",  # i18n: keep
            tlp=label.value if label is not None else None,
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "pin use",
    "pin use <n> <S-n>",
    N_("Finish location pin n as a sighting of subject S-n (the buttons of `pin` do this)."),
    args=(Arg("number"), Arg("subject", ref=True)),
    op=OpMode.REQUIRED,
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.COLLECT,
    visibility=Visibility.CHANNEL,
)
async def pin_use(ctx: CommandContext) -> Reply:
    """The subject chosen for a pin: record the sighting."""
    pending = await own_pending(ctx, str(ctx.args["number"]))
    if pending.state == "where":
        raise UsageError(_("That one is waiting for a place; share a location."))
    subject = str(ctx.args["subject"])
    return await finish(ctx, pending, subject, pending.place or "", f"{pending.lat},{pending.lon}")


@command(
    "pin other",
    "pin other <n>",
    N_("Say that location pin n is of something else: the next reply describes it."),
    args=(Arg("number"),),
    op=OpMode.REQUIRED,
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def pin_other(ctx: CommandContext) -> Reply:
    """Something else was seen: wait for its description."""
    pending = await own_pending(ctx, str(ctx.args["number"]))
    pending.state = "text"
    # The answer comes where the button was pressed (a private chat, when the question was
    # too sensitive for the group).
    pending.platform, pending.channel_key = ctx.inv.channel.platform, ctx.inv.channel.key
    ctx.session.add(pending)
    ctx.audit(Action.ALTER, object_ref=f"{ctx.operation().code}/pin-{pending.id}")
    return Reply(
        Message(
            lines=[
                _(
                    "What did you see? Reply to this message with a short description, like "
                    "white Transit van, ES plates."
                )
            ]
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "pin text",
    "pin text <what was seen, or the place>",
    N_("Answer your waiting pin (what was seen) or your waiting `sighting` (the place)."),
    args=(Arg("text", rest=True),),
    op=OpMode.OPTIONAL,  # the waiting pin says which operation
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.COLLECT,
    visibility=Visibility.CHANNEL,
)
async def pin_text(ctx: CommandContext) -> Reply:
    """A reply with text: the description of a pin, or the place of a `sighting S-1`."""
    text = " ".join(ctx.args["text"]).strip()
    ctx.op = None  # the waiting pin's operation, whatever this chat would resolve to
    pending = await open_pending(ctx)
    if pending is None:
        raise UsageError(
            _("Nothing of yours is waiting for an answer here; share a location to start.")
        )
    await adopt(ctx, pending.operation_id)
    if len(text) > MAX_DESCRIPTION:
        raise UsageError(
            _("That is too long; the limit is {n} characters.").format(n=MAX_DESCRIPTION)
        )
    if pending.state == "where":
        return await finish(ctx, pending, pending.what or "", text, None)
    coords = f"{pending.lat},{pending.lon}"
    return await finish(ctx, pending, text, pending.place or "", coords)
