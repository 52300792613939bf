"""`handover` (issue 28): the last shift summarised for the next.

Since the previous hand-over (or the last 12 hours): the new records (subjects, sightings,
notices, victim referrals) and the tasks done, then the open tasks and the raids ahead in
the next 24 hours — each counted and listed only as the disclosure rule lets this reader,
here, read it (`bot.core.disclosure`): a hand-over never tells what `show` denies. The
hand-over is recorded, so the next one starts where this one ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.base.i18n import N_, _
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.intel import reader
from bot.commands.registry import OpMode, command
from bot.commands.tasks import task_line
from bot.contracts import Reply, Visibility
from bot.core import raidview
from bot.core.access import TLP, Perm
from bot.core.disclosure import Level, RaidPart, Reader
from bot.core.fanout import UNLINKED_GROUP_CEILING, channel_link, effective_ceiling
from bot.core.tasks import tasks_seen
from bot.core.victims import victims_seen
from bot.store.audit import Action
from bot.store.models import Notice, Operation, Raid, Sighting, Subject
from bot.store.models_victims import Handover

SHIFT = timedelta(hours=12)  # the shift a first hand-over looks back over
AHEAD = timedelta(hours=24)


async def _here(ctx: CommandContext) -> Reader:
    """The actor as a reader where the hand-over is shown (a channel's ceiling)."""
    op = ctx.operation()
    ch = ctx.inv.channel
    link = await channel_link(ctx.session, ch.platform, ch.key)
    if link is not None and link.operation_id == op.id:
        ceiling = effective_ceiling(link)
    else:
        ceiling = UNLINKED_GROUP_CEILING if ch.is_group else TLP.RED
    return (await reader(ctx)).seen_by(ceiling=ceiling, in_group=ch.is_group)


def _listable(who: Reader, level: Level, tlp: str) -> bool:
    """A hand-over lists no TLP:RED item (those are read one by one), like a briefing."""
    return level is not Level.NONE and TLP(tlp) is not TLP.RED


async def _new_records(
    ctx: CommandContext, op: Operation, who: Reader, since: datetime
) -> tuple[list[str], TLP]:
    s, now = ctx.session, ctx.now
    top = TLP.CLEAR
    subjects = (
        await s.exec(
            select(Subject).where(Subject.operation_id == op.id, col(Subject.erased_at).is_(None))
        )
    ).all()
    by_id = {x.id: x for x in subjects}
    new_subjects = [
        x for x in subjects if since < x.created_at <= now and _listable(who, who.subject(x), x.tlp)
    ]
    sightings = (
        await s.exec(
            select(Sighting).where(
                Sighting.operation_id == op.id,
                col(Sighting.erased_at).is_(None),
                col(Sighting.reported_at) > since,
                col(Sighting.reported_at) <= now,
            )
        )
    ).all()
    new_sightings = []
    for sg in sightings:
        subject = by_id.get(sg.subject_id) if sg.subject_id is not None else None
        if subject is not None and TLP(subject.tlp) is TLP.RED:
            continue
        if _listable(who, who.sighting(sg, subject), sg.tlp):
            new_sightings.append(sg)
    notices = (
        await s.exec(
            select(Notice).where(
                Notice.operation_id == op.id,
                col(Notice.erased_at).is_(None),
                col(Notice.recorded_at) > since,
                col(Notice.recorded_at) <= now,
            )
        )
    ).all()
    new_notices = []
    for n in notices:
        subject = by_id.get(n.subject_id) if n.subject_id is not None else None
        if subject is not None and TLP(subject.tlp) is TLP.RED:
            continue
        level = who.item("notice", n.id, n.recorded_by, n.tlp, subject)
        if _listable(who, level, n.tlp):
            new_notices.append(n)
    referrals = [
        r
        for care in await victims_seen(s, op, who, now)
        if TLP(care.subject.tlp) is not TLP.RED
        for r in care.referrals
        if since < r.created_at <= now
    ]
    for label in [x.tlp for x in new_subjects + new_sightings + new_notices]:
        top = max(top, TLP(label), key=lambda t: t.rank)
    lines = [
        _(
            "New since {time}: {s} subjects, {sg} sightings, {n} notices, {r} victim referrals."
        ).format(
            time=format_time(since, await ctx.tz()),
            s=len(new_subjects),
            sg=len(new_sightings),
            n=len(new_notices),
            r=len(referrals),
        )
    ]
    if referrals:
        top = max(top, TLP.AMBER, key=lambda t: t.rank)
    return lines, top


@command(
    "handover",
    "handover [OP]",
    N_("Hand the shift over: what is new since the last hand-over, open tasks, raids ahead."),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
    writes=True,
    action=Action.CONSULT,
    visibility=Visibility.CHANNEL,
    details=N_(
        "Shown here only as far as this channel and your role may read; the next hand-over "
        "starts where this one ends (the first looks back 12 hours)."
    ),
)
async def handover(ctx: CommandContext) -> Reply:
    """Summarise the shift since the last hand-over and record this one."""
    op = ctx.operation()
    s, now = ctx.session, ctx.now
    who = await _here(ctx)
    tz = await ctx.tz()
    last = (
        await s.exec(
            select(Handover)
            .where(Handover.operation_id == op.id)
            .order_by(col(Handover.given_at).desc())
            .limit(1)
        )
    ).first()
    since = last.given_at if last is not None else now - SHIFT
    lines, top = await _new_records(ctx, op, who, since)
    every = await tasks_seen(s, op, who, open_only=False)
    done = [(t, m) for t, m in every if t.done_at is not None and since < t.done_at <= now]
    still = [(t, m) for t, m in every if t.done_at is None]
    lines.append(_("Tasks done this shift: {n}").format(n=len(done)))
    lines.append(_("Open tasks: {n}").format(n=len(still)))
    lines += ["  " + task_line(t, m, tz, t.due_at <= now) for t, m in still]
    for t, _m in still:
        top = max(top, TLP(t.tlp), key=lambda x: x.rank)
    raids = (
        await s.exec(
            select(Raid)
            .where(
                Raid.operation_id == op.id,
                col(Raid.status).in_(raidview.ACTIVE_STATUSES),
                col(Raid.at) > now,
                col(Raid.at) <= now + AHEAD,
            )
            .order_by(col(Raid.at))
        )
    ).all()
    ahead = [r for r in raids if who.raid(op, r, RaidPart.TIME) is Level.FULL]
    lines.append(_("Raids in the next 24 h: {n}").format(n=len(ahead)))
    for r in ahead:
        top = max(top, raidview.time_label(op, r), key=lambda x: x.rank)
        lines.append(
            f"  {raidview.raid_ref(r)} {r.title} — {raidview.when(r, str(tz))} — {r.status}"
        )
    s.add(Handover(operation_id=op.id or 0, given_by=ctx.member().id, given_at=now))
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/handover")
    return Reply(
        Message(
            title=_("Hand-over: {op} {name}").format(op=op.code, name=op.name),
            fields=[(_("Given by"), ctx.member().name), (_("As of"), format_time(now, tz))],
            lines=lines,
            tlp=top.value,
        ),
        visibility=Visibility.CHANNEL,
    )
