"""`brief` (now, here) and `brief schedule|list|stop` (recurring, per channel).

README, "Raids and briefings".
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from bot.base.i18n import N_, _
from bot.base.localtime import format_date, format_time
from bot.base.messages import Message
from bot.commands.combine import combined
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.fieldtime import read_clock
from bot.commands.intel import reader
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.values import parse_int, zone
from bot.contracts import Reply, Visibility

# Module access (not `from … import name`): bot.core.briefing imports this package's values.
from bot.core import briefing, lifecycle
from bot.core.access import TLP, Perm
from bot.core.fanout import UNLINKED_GROUP_CEILING, channel_link, effective_ceiling
from bot.core.recurrence import brief_trigger, clock_change_ahead, next_fire, parse_days
from bot.store.audit import Action
from bot.store.models import BriefSchedule, ChannelLink


async def _this_link(ctx: CommandContext) -> ChannelLink | None:
    return await channel_link(ctx.session, ctx.inv.channel.platform, ctx.inv.channel.key)


def _days_label(days: str) -> str:
    return "daily" if days == "*" else days  # the `--days` word, as typed


def _clock_change_note(time_of_day: str, days: str, timezone: str, now: datetime) -> str | None:
    """The sentence about the next night the clocks skip or repeat this schedule's time
    (README, "Clock-change nights"), if one comes within a year."""
    change = clock_change_ahead(brief_trigger(time_of_day, days, timezone), now)
    if change is None:
        return None
    local = change.fires_at.astimezone(zone(timezone))
    values = {
        "time": time_of_day,
        "zone": timezone,
        "day": format_date(local),
        "fires": f"{local:%H:%M} {local.tzname()} ({change.fires_at.astimezone(UTC):%H:%M} UTC)",
    }
    if change.skipped:
        return _(
            "On {day} the clocks skip {time} in {zone}: that day's briefing comes at {fires}, "
            "when they jump."
        ).format(**values)
    return _(
        "On {day} {time} comes twice in {zone}: the briefing goes once, at the first, {fires}."
    ).format(**values)


@command(
    "brief",
    "brief [OP]",
    N_("An IIMARCH briefing now, here (only what this channel and your role may show)."),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
    visibility=Visibility.CHANNEL,
)
async def brief_now(ctx: CommandContext) -> Reply:
    """Build a briefing for this channel's ceiling and the asker's role."""
    op = ctx.operation()
    link = await _this_link(ctx)
    ch = ctx.inv.channel
    if link is not None and link.operation_id == op.id:
        ceiling = effective_ceiling(link)
    else:
        ceiling = UNLINKED_GROUP_CEILING if ch.is_group else TLP.RED
    last = (
        await ctx.session.exec(
            select(BriefSchedule.last_fired_at)
            .where(
                BriefSchedule.operation_id == op.id,
                BriefSchedule.platform == ch.platform,
                BriefSchedule.channel_key == ch.key,
                col(BriefSchedule.last_fired_at).is_not(None),
            )
            .order_by(col(BriefSchedule.last_fired_at).desc())
            .limit(1)
        )
    ).first()
    message = await briefing.build(
        ctx.session,
        op,
        now=ctx.now,
        since=last,
        reader=(await reader(ctx)).seen_by(ceiling=ceiling, in_group=ch.is_group),
        tz=str(await ctx.tz()),
    )
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/briefing")
    await combined(ctx, "brief", "briefing", lifecycle.BRIEFING_SOURCES)
    return Reply(message, visibility=Visibility.CHANNEL)


@command(
    "brief schedule",
    "brief schedule [OP] <HH:MM> [--days daily|mon-fri|mon,wed,fri] [--tz Area/City]",
    N_("Post a briefing into this linked channel at HH:MM on the chosen days (lead)."),
    args=(Arg("time", rest=True),),
    flags=(Flag("days"), Flag("tz")),
    op=OpMode.REQUIRED,
    perm=Perm.SCHEDULE_BRIEF,
    writes=True,
    action=Action.COLLECT,
    visibility=Visibility.CHANNEL,
    details=N_("The time zone defaults to the operation's; daylight-saving changes are followed."),
)
async def brief_schedule(ctx: CommandContext) -> Reply:
    """Create a recurring briefing for the current channel."""
    op = ctx.operation()
    at = read_clock(" ".join(ctx.args["time"]))
    hhmm = f"{at.hour:02d}:{at.minute:02d}"
    try:
        days = parse_days(str(ctx.args.get("days") or "daily"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tz = zone(ctx.args["tz"]) if ctx.args.get("tz") else zone(op.timezone)
    link = await _this_link(ctx)
    if link is None or link.operation_id != op.id:
        raise CommandError(
            _(
                "This channel is not linked to {code}; `op link` it first, then schedule here."
            ).format(code=op.code)
        )
    ch = ctx.inv.channel
    clash = (
        await ctx.session.exec(
            select(BriefSchedule).where(
                BriefSchedule.operation_id == op.id,
                BriefSchedule.platform == ch.platform,
                BriefSchedule.channel_key == ch.key,
                BriefSchedule.time_of_day == hhmm,
                BriefSchedule.days == days,
                BriefSchedule.timezone == str(tz),
                col(BriefSchedule.active).is_(True),
            )
        )
    ).first()
    if clash is not None:
        raise CommandError(
            _("Briefing #{id} already runs here at {time}.").format(
                id=clash.id, time=f"{hhmm} {tz}"
            )
        )
    row = BriefSchedule(
        operation_id=op.id or 0,
        platform=ch.platform,
        channel_key=ch.key,
        time_of_day=hhmm,
        days=days,
        timezone=str(tz),
        active=True,
        created_by=ctx.member().id,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    await ctx.session.flush()
    ctx.schedule_changed("brief", row.id or 0)
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/brief#{row.id}", reason=f"{hhmm} {days} {tz}")
    nxt = next_fire(brief_trigger(hhmm, days, str(tz)), ctx.now)
    change = _clock_change_note(hhmm, days, str(tz), ctx.now)
    return Reply(
        Message(
            title=_("Briefing #{id} scheduled").format(id=row.id),
            fields=[
                (_("When"), f"{hhmm} {tz}, {_days_label(days)}"),
                (_("Next"), format_time(nxt, tz) if nxt else "—"),
                (_("Shown up to"), TLP(link.max_tlp).label),
            ],
            lines=[
                *([change] if change else []),
                _("`{command}` ends it.").format(command=f"brief stop {row.id}"),
            ],
            context=op.code,
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "brief list",
    "brief list [OP]",
    N_("List the scheduled briefings of an operation."),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
)
async def brief_list(ctx: CommandContext) -> Reply:
    """Active schedules with their channel and next fire in the reader's zone."""
    op = ctx.operation()
    reader = await ctx.tz()
    rows = (
        await ctx.session.exec(
            select(BriefSchedule)
            .where(BriefSchedule.operation_id == op.id, col(BriefSchedule.active).is_(True))
            .order_by(col(BriefSchedule.id))
        )
    ).all()
    names = {
        (ln.platform, ln.channel_key): ln.channel_name or ln.channel_key
        for ln in (
            await ctx.session.exec(select(ChannelLink).where(ChannelLink.operation_id == op.id))
        ).all()
    }
    lines = []
    for r in rows:
        nxt = next_fire(brief_trigger(r.time_of_day, r.days, r.timezone), ctx.now)
        where = names.get((r.platform, r.channel_key)) or _("{channel} (no longer linked)").format(
            channel=r.channel_key
        )
        lines.append(
            f"#{r.id} {r.platform} {where} — {r.time_of_day} {r.timezone}, {_days_label(r.days)}"
            " — " + _("next {time}").format(time=format_time(nxt, reader) if nxt else "—")
        )
        change = _clock_change_note(r.time_of_day, r.days, r.timezone, ctx.now)
        if change:
            lines.append(change)
    return Reply(
        Message(
            title=_("{code} briefings").format(code=op.code),
            lines=lines or [_("None scheduled; `brief schedule 07:00` in a linked channel.")],
            context=op.code,
        )
    )


@command(
    "brief stop",
    "brief stop <id>",
    N_("Stop a scheduled briefing (lead)."),
    args=(Arg("id"),),
    op=OpMode.REQUIRED,
    perm=Perm.SCHEDULE_BRIEF,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def brief_stop(ctx: CommandContext) -> Reply:
    """Deactivate a schedule; its job leaves the scheduler."""
    op = ctx.operation()
    raw = str(ctx.args["id"]).strip().lstrip("#")
    if not raw.isascii() or not raw.isdigit():
        raise UsageError(
            _("'{value}' is not a briefing number; `brief list` shows them.").format(
                value=ctx.args["id"]
            )
        )
    number = parse_int(raw, "A briefing number")
    row = await ctx.session.get(BriefSchedule, number)
    if row is None or row.operation_id != op.id or not row.active:
        raise NotFound(
            _("There is no running briefing #{id} in {code}; see `brief list`.").format(
                id=raw, code=op.code
            )
        )
    row.active = False
    ctx.session.add(row)
    ctx.schedule_changed("brief", row.id or 0)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/brief#{row.id}", reason="stopped")
    return Reply(
        Message(
            lines=[
                _("Briefing #{id} ({time}) stopped.").format(
                    id=row.id, time=f"{row.time_of_day} {row.timezone}"
                )
            ]
        ),
        visibility=Visibility.CHANNEL,
    )
