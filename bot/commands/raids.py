"""`raid plan|move|list|show|go|abort|done`, `check`, `uncheck` (README, "Raids and briefings").

A raid is planned from a checklist template (default `trafficking-raid`); its items are
copied, so later template changes never alter a planned raid. Times are read in the
member's (or `--tz`) zone and stored in UTC. Every change that affects reminders is passed
to the scheduler after commit (`ctx.schedule_changed`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, ngettext, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.dispatch import actor_label
from bot.commands.duties import (
    duty_lines,
    late_mark,
    require_open_and_held,
    require_untick,
    spans_countries,
    tickable,
)
from bot.commands.errors import CommandError, Denied, NotFound, UsageError
from bot.commands.fieldtime import Direction, member_language, read_time
from bot.commands.intel import reader
from bot.commands.refs import parse_ref
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.values import parse_coords, parse_int, parse_tlp, zone
from bot.contracts import Reply, Visibility
from bot.core import raid_deconfliction, raidview
from bot.core.access import TLP, Perm, Role
from bot.core.checklists import DEFAULT_TEMPLATE, TemplateError, find, item_text, role_title
from bot.core.disclosure import Level, RaidPart
from bot.core.fanout import FanoutResult
from bot.core.vocabulary import term
from bot.store.audit import Action
from bot.store.models import Raid, RaidItem

RAID_GRAMMAR = (
    'raid plan [OP] <title> --at TIME [--tz Area/City] [--location "…"] [--coords LAT,LON] '
    "[--template NAME] [--tlp amber+strict]"
)


async def _post(ctx: CommandContext, raid: Raid, message: Message, *, kind: str) -> FanoutResult:
    """A raid post: its address only where the raid's label allows (`raidview.post_raid`)."""
    result = await raidview.post_raid(
        ctx.session, now=ctx.now, op=ctx.operation(), raid=raid, message=message, kind=kind
    )
    ctx.posts += len(result.posted)
    return result


async def find_raid(ctx: CommandContext, token: str) -> Raid:
    """A raid of the current operation by `R-n` (or `OP-X/R-n`)."""
    ref = parse_ref(token, "R")
    op = ctx.operation()
    raid = (
        await ctx.session.exec(select(Raid).where(Raid.operation_id == op.id, Raid.seq == ref.seq))
    ).first()
    if raid is None:
        raise NotFound(
            _("There is no raid {ref} in {op}; see `raid list`.").format(
                ref=f"R-{ref.seq}", op=op.code
            )
        )
    return raid


async def _raid_time(ctx: CommandContext) -> tuple[datetime, ZoneInfo]:
    tz = zone(ctx.args["tz"]) if ctx.args.get("tz") else await ctx.tz()
    at = read_time(
        str(ctx.args["at"]), ctx.now, tz, lang=member_language(ctx), direction=Direction.FUTURE
    )
    if at <= ctx.now:
        raise UsageError(
            _(
                "{time} is in the past; a raid needs a time ahead, like `--at tomorrow 05:30`."
            ).format(time=format_time(at, tz))
        )
    return at, tz


def _reminder_note(raid: Raid, ctx: CommandContext) -> str:
    ahead = raidview.reminder_times(raid.at, ctx.now)
    if not ahead:
        return _("No reminders: the raid is less than 30 minutes away.")
    shown = ", ".join(f"{label} ({format_time(t, zone(raid.timezone))})" for t, label in ahead)
    return _("Reminders to the linked channels: {times}.").format(times=shown)


@command(
    "raid plan",
    RAID_GRAMMAR,
    N_("Plan a raid from a checklist template; reminders go out at T−24 h, T−2 h, T−30 min."),
    args=(Arg("title", rest=True),),
    flags=(
        Flag("at", kind="time", required=True),
        Flag("tz"),
        Flag("location"),
        Flag("coords"),
        Flag("template"),
        Flag("tlp"),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.PLAN_RAID,
    writes=True,
    action=Action.COLLECT,
    visibility=Visibility.CHANNEL,
    details=N_(
        "TIME is read in your time zone unless --tz is given; it must be ahead.\n"
        "The title is the raid's code name: channels get it with the time. --location (the "
        "target) is labelled --tlp (default TLP:AMBER+STRICT) and reaches only channels that "
        "label allows (a single-agency channel for AMBER+STRICT)."
    ),
)
async def raid_plan(ctx: CommandContext) -> Reply:
    """Create a raid and its checklist."""
    op = ctx.operation()
    title = " ".join(ctx.args["title"]).strip()
    if not title:
        raise UsageError(_("The raid needs a title."))
    at, tz = await _raid_time(ctx)
    label = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else TLP.AMBER_STRICT
    if label is TLP.RED:
        raise UsageError(
            _(
                "A raid's target details go to the teams that act on them: use --tlp amber+strict "
                "at most (TLP:RED is for items sent to named people)."
            )
        )
    try:
        tpl, tpl_items = await find(ctx.session, str(ctx.args.get("template") or DEFAULT_TEMPLATE))
    except TemplateError as exc:
        raise UsageError(str(exc)) from None
    lat, lon = parse_coords(str(ctx.args["coords"])) if ctx.args.get("coords") else (None, None)
    seq = await ctx.next_seq("raid_seq")
    raid = Raid(
        operation_id=op.id or 0,
        seq=seq,
        title=title[:200],
        at=at,
        timezone=str(tz),
        location=ctx.args.get("location"),
        lat=lat,
        lon=lon,
        template_name=tpl.name,
        status="planned",
        tlp=label.value,
        created_by=ctx.member().id,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(raid)
    await ctx.session.flush()
    cross_border = await spans_countries(ctx.session, op)
    for t in tpl_items:
        ctx.session.add(
            RaidItem(
                raid_id=raid.id or 0,
                position=t.position,
                phase=t.phase,
                text=t.text,
                mandatory=t.mandatory or (t.rule == "cross-border" and cross_border),
                role=t.role,
                rule=t.rule,
            )
        )
    ref = raidview.raid_ref(raid)
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/{ref}", reason=f"template {tpl.name}")
    ctx.schedule_changed("raid", raid.id or 0)
    await _deconflict(ctx, raid)
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("{ref} planned: {title}").format(ref=ref, title=raid.title),
            fields=[(_("When"), raidview.when(raid)), (_("Planned by"), ctx.member().name)],
            lines=[
                _("Checklist: {template}, {n} items. `raid show {ref}` to tick.").format(
                    template=item_text(tpl.title), n=len(tpl_items), ref=ref
                )
            ],
            context=f"{op.code}/{ref}",
        )
    await _post(ctx, raid, post, kind="raid")
    mandatory = sum(1 for t in tpl_items if t.mandatory)
    return Reply(
        Message(
            title=_("{ref} planned: {title}").format(ref=ref, title=raid.title),
            fields=[
                (_("When"), format_time(at, tz)),
                (_(raidview.LOCATION), raid.location or "—"),
                (
                    _("Checklist"),
                    _("{template}: {n} items, {mandatory} mandatory").format(
                        template=tpl.name, n=len(tpl_items), mandatory=mandatory
                    ),
                ),
            ],
            lines=[
                _reminder_note(raid, ctx),
                _("`raid show {ref}` lists the items to tick.").format(ref=ctx.here(ref)),
            ],
            context=f"{op.code}/{ref}",
            tlp=raidview.label_of(op, raid, with_target=True).value,
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "raid move",
    "raid move <R-n> --at TIME [--tz Area/City]",
    N_("Move a planned raid to a new time; its reminders move with it."),
    args=(Arg("raid", ref=True),),
    flags=(Flag("at", kind="time", required=True), Flag("tz")),
    op=OpMode.REQUIRED,
    perm=Perm.PLAN_RAID,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def raid_move(ctx: CommandContext) -> Reply:
    """Change a planned raid's time and re-plan its reminders."""
    op = ctx.operation()
    raid = await find_raid(ctx, ctx.args["raid"])
    ref = raidview.raid_ref(raid)
    if raid.status != "planned":
        raise CommandError(
            _("{ref} is {status}; only a planned raid can be moved.").format(
                ref=ref, status=raid.status
            )
        )
    at, tz = await _raid_time(ctx)
    old = raid.at
    raid.at, raid.timezone, raid.updated_at = at, str(tz), ctx.now
    ctx.session.add(raid)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"moved {old.isoformat()} -> {at.isoformat()}",
    )
    ctx.schedule_changed("raid", raid.id or 0)
    await _deconflict(ctx, raid)
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("{ref} moved: {title}").format(ref=ref, title=raid.title),
            fields=[(_("New time"), raidview.when(raid)), (_("Was"), format_time(old, tz))],
            context=f"{op.code}/{ref}",
        )
    await _post(ctx, raid, post, kind="raid")
    return Reply(
        Message(
            lines=[
                _("{ref} moved to {time}.").format(ref=ref, time=format_time(at, tz)),
                _reminder_note(raid, ctx),
            ],
            tlp=raidview.time_label(op, raid).value,
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "raid list",
    "raid list [OP]",
    N_("List the raids: time, status and checklist progress."),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
)
async def raid_list(ctx: CommandContext) -> Reply:
    """Raids ahead first (soonest first), then the 10 most recent past ones."""
    op = ctx.operation()
    tz = str(await ctx.tz())
    raids = (
        await ctx.session.exec(
            select(Raid).where(Raid.operation_id == op.id).order_by(col(Raid.at))
        )
    ).all()
    ahead = [r for r in raids if r.status in raidview.ACTIVE_STATUSES]
    past = [r for r in raids if r.status not in raidview.ACTIVE_STATUSES][-10:]
    lines: list[str] = []
    for r in [*ahead, *reversed(past)]:
        items = await raidview.load_items(ctx.session, r.id)
        lines.append(
            f"{raidview.raid_ref(r)} {r.title} — {raidview.when(r, tz)} — {term(r.status)}, "
            f"{raidview.progress(items)}"
        )
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/raids")
    return Reply(
        Message(
            title=_("{op} raids").format(op=op.code),
            lines=lines or [_("No raids yet; `raid plan` one.")],
            context=op.code,
        )
    )


@command(
    "raid show",
    "raid show <R-n>",
    N_("Show a raid and its checklist, with a button per open item."),
    args=(Arg("raid", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
    visibility=Visibility.CHANNEL,
)
async def raid_show(ctx: CommandContext) -> Reply:
    """The raid card with who ticked what and when."""
    op = ctx.operation()
    raid = await find_raid(ctx, ctx.args["raid"])
    items = await raidview.load_items(ctx.session, raid.id)
    can_tick = await tickable(ctx, raid)
    who = await reader(ctx)
    if who.raid(op, raid, RaidPart.TIME) is Level.NONE:
        raise NotFound(
            _("There is no raid {ref} in {op}; see `raid list`.").format(
                ref=raidview.raid_ref(raid), op=op.code
            ),
            denied=True,
            operation_id=op.id,
        )
    message = await raidview.card(
        ctx.session, op, raid, items, reader_tz=str(await ctx.tz()), can_tick=can_tick, reader=who
    )
    if who.raid(op, raid, RaidPart.TACTICAL) is Level.FULL:  # duties carry the raid's label
        message.lines += await duty_lines(ctx.session, raid)
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/{raidview.raid_ref(raid)}")
    return Reply(message, visibility=Visibility.CHANNEL)


async def _deconflict(ctx: CommandContext, raid: Raid) -> None:
    """Tell both operations' leads of a raid at the same address within 24 hours."""
    op = ctx.operation()
    found = await raid_deconfliction.clashes(ctx.session, op, raid)
    if not found:
        return
    told = await raid_deconfliction.tell(
        ctx.session,
        now=ctx.now,
        op=op,
        raid=raid,
        found=found,
        actor_id=ctx.member().id,
        actor_label=actor_label(ctx.inv, ctx.actor),
        command=ctx.command.name,
    )
    ctx.posts += told.posts
    ctx.extra_audit.extend(told.entries)


@command(
    "raid go",
    'raid go <R-n> [--force --reason "…"]',
    N_("Give the go (lead); refused while mandatory items before the raid are open."),
    args=(Arg("raid", ref=True),),
    flags=(Flag("force", kind="bool"), Flag("reason")),
    op=OpMode.REQUIRED,
    perm=Perm.RAID_COMMAND,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
    details=N_(
        '--force --reason "…" overrides open items except the legal authority (the warrant), '
        "which is never overridden; the reason is in the audit log."
    ),
)
async def raid_go(ctx: CommandContext) -> Reply:
    """Planned → go, once every mandatory before-item is ticked (or forced with a reason)."""
    op = ctx.operation()
    raid = await find_raid(ctx, ctx.args["raid"])
    ref = raidview.raid_ref(raid)
    if raid.status != "planned":
        raise CommandError(
            _("{ref} is {status}; only a planned raid can get the go.").format(
                ref=ref, status=raid.status
            )
        )
    force = bool(ctx.args.get("force"))
    reason = str(ctx.args.get("reason") or "").strip()
    if force and not reason:
        raise UsageError(_('--force needs --reason "…": say why the raid goes with items open.'))
    if reason and not force:
        raise UsageError(
            _("--reason goes with --force; without open items the go needs no reason.")
        )
    items = await raidview.load_items(ctx.session, raid.id)
    still_open = raidview.open_mandatory(items)
    legal = [i for i in items if i.rule == "legal" and i.done_at is None]
    if legal:
        raise CommandError(
            _(
                "{ref} cannot go: item {n} ({text}) is the legal authority, which --force never "
                "overrides; tick it with `check {ref} {n}` once it is checked."
            ).format(ref=ctx.here(ref), n=legal[0].position, text=item_text(legal[0].text))
        )
    clash = await raid_deconfliction.clashes(ctx.session, op, raid)
    item = raid_deconfliction.deconfliction_item(items)
    if clash and (item is None or item.done_at is None):
        raise CommandError(
            _(
                "{ref} cannot go: another operation plans a raid at the same address within 24 "
                "hours. Agree with its lead, then tick the deconfliction item; --force never "
                "overrides it while the clash stands."
            ).format(ref=ctx.here(ref))
        )
    if still_open and not force:
        shown = "; ".join(f"{i.position}. {item_text(i.text)}" for i in still_open[:5])
        more = _("; and {n} more").format(n=len(still_open) - 5) if len(still_open) > 5 else ""
        # English keeps its "item(s)"; each language writes its own plural forms.
        raise CommandError(
            ngettext(
                "{ref} cannot go: {n} mandatory item(s) before the raid are open ({items}). "
                "Tick them with `check {ref} <n>`, or as lead give "
                '`raid go {ref} --force --reason "…"`.',
                "{ref} cannot go: {n} mandatory item(s) before the raid are open ({items}). "
                "Tick them with `check {ref} <n>`, or as lead give "
                '`raid go {ref} --force --reason "…"`.',
                len(still_open),
            ).format(ref=ctx.here(ref), n=len(still_open), items=shown + more)
        )
    raid.status, raid.updated_at = "go", ctx.now
    numbers = ", ".join(str(i.position) for i in still_open)
    if still_open:
        raid.reason = f"forced with items {numbers} open: {reason}"[:1000]
    ctx.session.add(raid)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"forced with open items {numbers}: {reason}" if still_open else "go",
    )
    ctx.schedule_changed("raid", raid.id or 0)

    def go_lines() -> list[str]:
        """Who gave the go, and what was forced past (in the current language)."""
        lines = [_("Go given by {name}.").format(name=ctx.member().name)]
        if still_open:
            lines += [
                ngettext(
                    "FORCED with {n} mandatory item(s) open: {reason}",
                    "FORCED with {n} mandatory item(s) open: {reason}",
                    len(still_open),
                ).format(n=len(still_open), reason=reason)
            ]
            lines += raidview.listed(still_open)
        return lines

    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("GO: {ref} {title}").format(ref=ref, title=raid.title),
            fields=[(_("When"), raidview.when(raid))],
            lines=go_lines(),
            context=f"{op.code}/{ref}",
            mark="FORCED" if still_open else None,
        )
    await _post(ctx, raid, post, kind="raid")
    return Reply(
        Message(
            lines=[_("{ref} has the go.").format(ref=ref), *go_lines()[1:2]],
            tlp=raidview.time_label(op, raid).value,
        ),
        Visibility.CHANNEL,
    )


@command(
    "raid abort",
    'raid abort <R-n> --reason "…"',
    N_("Abort a raid (lead); its reminders are cancelled."),
    args=(Arg("raid", ref=True),),
    flags=(Flag("reason", required=True),),
    op=OpMode.REQUIRED,
    perm=Perm.RAID_COMMAND,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def raid_abort(ctx: CommandContext) -> Reply:
    """Planned or go → aborted, with a reason."""
    op = ctx.operation()
    raid = await find_raid(ctx, ctx.args["raid"])
    ref = raidview.raid_ref(raid)
    if raid.status not in raidview.ACTIVE_STATUSES:
        raise CommandError(_("{ref} is already {status}.").format(ref=ref, status=raid.status))
    reason = str(ctx.args["reason"]).strip()
    if not reason:
        raise UsageError(_('raid abort needs --reason "…".'))
    raid.status, raid.reason, raid.updated_at = "aborted", reason[:1000], ctx.now
    ctx.session.add(raid)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}", reason=f"aborted: {reason}")
    ctx.schedule_changed("raid", raid.id or 0)
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("ABORTED: {ref} {title}").format(ref=ref, title=raid.title),
            lines=[
                _("Aborted by {name}: {reason}").format(name=ctx.member().name, reason=reason),
                _("Its reminders are cancelled."),
            ],
            context=f"{op.code}/{ref}",
        )
    await _post(ctx, raid, post, kind="raid")
    return Reply(
        Message(
            lines=[_("{ref} aborted; no more reminders.").format(ref=ref)],
            tlp=raidview.time_label(op, raid).value,
        ),
        Visibility.CHANNEL,
    )


@command(
    "raid done",
    'raid done <R-n> [--reason "…"]',
    N_("Close a raid that had the go (lead); lists what is still open after it."),
    args=(Arg("raid", ref=True),),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.RAID_COMMAND,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def raid_done(ctx: CommandContext) -> Reply:
    """Go → done; the after-items (referrals, debrief) can still be ticked."""
    op = ctx.operation()
    raid = await find_raid(ctx, ctx.args["raid"])
    ref = raidview.raid_ref(raid)
    if raid.status != "go":
        if raid.status == "planned":
            text = _(
                "{ref} is {status}; only a raid that had the go can be done. Give the go first: "
                "`raid go {ref}`."
            )
        else:
            text = _("{ref} is {status}; only a raid that had the go can be done.")
        raise CommandError(text.format(ref=ctx.here(ref), status=raid.status))
    early = (ctx.args.get("reason") or "").strip()
    if raid.at > ctx.now and not early:
        raise UsageError(
            _(
                "{ref} is set for {time}, still ahead; a raid is done after its start. If it "
                'really is over, say why with --reason "…".'
            ).format(ref=ctx.here(ref), time=format_time(raid.at, await ctx.tz()))
        )
    raid.status, raid.updated_at = "done", ctx.now
    ctx.session.add(raid)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"done before its time: {early[:900]}" if raid.at > ctx.now else "done",
    )
    ctx.schedule_changed("raid", raid.id or 0)
    items = await raidview.load_items(ctx.session, raid.id)
    still_open = raidview.open_mandatory(items, None)

    def open_lines() -> list[str]:
        """What is still to tick after the raid (in the current language)."""
        if not still_open:
            return []
        heading = ngettext(
            "{n} mandatory item(s) still to tick:",
            "{n} mandatory item(s) still to tick:",
            len(still_open),
        )
        return [heading.format(n=len(still_open)), *raidview.listed(still_open)]

    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("DONE: {ref} {title}").format(ref=ref, title=raid.title),
            lines=open_lines(),
            context=f"{op.code}/{ref}",
        )
    await _post(ctx, raid, post, kind="raid")
    lines = [_("{ref} is done.").format(ref=ref), *open_lines()]
    return Reply(Message(lines=lines, tlp=raidview.time_label(op, raid).value), Visibility.CHANNEL)


async def _item(ctx: CommandContext) -> tuple[Raid, RaidItem, list[RaidItem]]:
    raid = await find_raid(ctx, ctx.args["raid"])
    ref = raidview.raid_ref(raid)
    if raid.status == "aborted":
        raise CommandError(_("{ref} was aborted; its checklist is closed.").format(ref=ref))
    raw = str(ctx.args["item"]).strip().lstrip("#")
    items = await raidview.load_items(ctx.session, raid.id)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise UsageError(
            _("'{raw}' is not an item number; `raid show {ref}` lists them.").format(
                raw=raw, ref=ctx.here(ref)
            )
        )
    number = parse_int(raw, "An item number")
    match = [i for i in items if i.position == number]
    if not match:
        raise NotFound(
            _("{ref} has no item {raw}; its items are 1 to {n}.").format(
                ref=ref, raw=raw, n=len(items)
            )
        )
    item = match[0]
    if ctx.role is Role.PARTNER and item.role != "partner":
        raise Denied(
            _("As partner you can tick only partner items; item {n} falls to the {duty}.").format(
                n=item.position, duty=role_title(item.role)
            )
        )
    return raid, item, items


@command(
    "check",
    'check <R-n> <item> [--note "…"] [--reason "…"]',
    N_("Tick a checklist item of a raid (partners: items of their role)."),
    args=(Arg("raid", ref=True), Arg("item")),
    flags=(Flag("note"), Flag("reason")),
    op=OpMode.REQUIRED,
    perm=Perm.TICK_ITEM,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def check(ctx: CommandContext) -> Reply:
    """Record who ticked the item and when."""
    op = ctx.operation()
    raid, item, items = await _item(ctx)
    ref = raidview.raid_ref(raid)
    await require_open_and_held(ctx, raid, item)
    if item.done_at is not None:
        raise CommandError(
            _(
                "Item {n} of {ref} is already ticked ({time}); `uncheck` it first to redo it."
            ).format(n=item.position, ref=ref, time=format_time(item.done_at, await ctx.tz()))
        )
    late = late_mark(raid, item)
    why = ""
    if late == "after-go":
        reason = str(ctx.args.get("reason") or "").strip()
        if not reason:
            raise UsageError(
                _(
                    "Item {n} of {ref} was due before the raid, which has had the go; say why it "
                    'is ticked now with --reason "…" (it is marked as ticked after the go).'
                ).format(n=item.position, ref=ref)
            )
        why = f" after the go: {reason[:900]}"
    item.done_at, item.done_by, item.late = ctx.now, ctx.member().id, late
    item.note = ctx.args.get("note")
    ctx.session.add(item)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}#{item.position}", reason=f"ticked{why}")
    return Reply(
        Message(
            lines=[
                _("✓ {ref} {item} — ticked by {name}.").format(
                    ref=ref, item=raidview.item_line(item), name=ctx.member().name
                ),
                f"{ref}: {raidview.progress(items)}.",
            ],
            tlp=raidview.time_label(op, raid).value,
        ),
        Visibility.CHANNEL,
    )


@command(
    "uncheck",
    'uncheck <R-n> <item> [--reason "…"]',
    N_("Untick a checklist item of a raid (another member's tick: a lead, with a reason)."),
    args=(Arg("raid", ref=True), Arg("item")),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.TICK_ITEM,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def uncheck(ctx: CommandContext) -> Reply:
    """Clear a tick (the audit log keeps who ticked and who unticked)."""
    op = ctx.operation()
    raid, item, items = await _item(ctx)
    ref = raidview.raid_ref(raid)
    if item.done_at is None:
        raise CommandError(_("Item {n} of {ref} is not ticked.").format(n=item.position, ref=ref))
    if late_mark(raid, item) == "after-go" and (
        ctx.role is not Role.LEAD or not str(ctx.args.get("reason") or "").strip()
    ):
        raise Denied(
            _(
                "Item {n} of {ref} was due before the raid, which has had the go; only a lead "
                'takes its tick back now, with --reason "…".'
            ).format(n=item.position, ref=ref)
        )
    note = await require_untick(ctx, item, ref)
    item.done_at, item.done_by, item.note, item.late = None, None, None, None
    ctx.session.add(item)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}#{item.position}", reason=f"unticked{note}")
    return Reply(
        Message(
            lines=[
                _("☐ {ref} {item} — open again.").format(ref=ref, item=raidview.item_line(item)),
                raidview.progress(items),
            ],
            tlp=raidview.time_label(op, raid).value,
        ),
        Visibility.CHANNEL,
    )
