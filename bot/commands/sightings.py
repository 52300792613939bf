"""`sighting`, `sighting show` and `sightings`: field reports (`SG-n`), posted at once.

A good sighting record (DOMAIN.md, after SALUTE and STIX sightings): the time observed
kept apart from the time reported, the location as text and coordinates, who observed and
who reported (first- or second-hand), the subject or a description, the Admiralty grade and
the TLP. A sighting of a subject under an active red or yellow notice is a MATCH.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert
from sqlmodel import col

from bot.base.clock import add_months
from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, ngettext, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.deconflict import deconflict
from bot.commands.disclose import parse_recipients, post_item, red_audience
from bot.commands.errors import UsageError
from bot.commands.evidence_view import photo_lines, photos_of
from bot.commands.fieldpending import ask_where, wants_a_place
from bot.commands.fieldtime import AmbiguousTime, Direction, member_language, read_time
from bot.commands.grading import SALUTE_FLAGS, grade_history, salute_fields
from bot.commands.intel import (
    REVIEW_MONTHS,
    Page,
    active_match_notice,
    audit_consult,
    find_sighting,
    find_subject,
    load_sightings,
    may_read_notice,
    member_names,
    paginate,
    parse_page,
    parse_place_kind,
    readable_sightings,
    reader,
    sighting_tlp,
    with_floor,
)
from bot.commands.refs import looks_like_ref
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import (
    is_historic,
    notice_ref,
    paged_message,
    sighting_line,
    sighting_message,
    sighting_ref,
    subject_ref,
)
from bot.commands.values import (
    parse_coords,
    parse_duration,
    parse_grade,
    parse_tlp,
    zone,
)
from bot.contracts import Reply
from bot.core import protection
from bot.core.access import TLP, Perm
from bot.core.disclosure import hide_place
from bot.core.links import grid_cell
from bot.core.reads import as_read
from bot.store import tables
from bot.store.audit import Action
from bot.store.entityrows import fresh
from bot.store.fastsql import Prepared
from bot.store.models import Notice, Operation, Sighting, Subject

FUTURE_SLACK = timedelta(minutes=5)
PAGE_SIZE = 10
MAX_LOCATION = 500
EXAMPLE = '`sighting S-3 at "Porto, Cais da Ribeira" --grade B2`'


def split_what_where(words: list[str]) -> tuple[str, str]:
    """`S-3 at Porto harbour` → ("S-3", "Porto harbour"); the first `at` divides them."""
    at = next((i for i, w in enumerate(words) if w.lower() == "at" and i > 0), None)
    if at is None:
        if words and words[0].lower() == "at":
            raise UsageError(
                _("Say what or whom was seen before `at`, like {example}.").format(example=EXAMPLE)
            )
        raise UsageError(
            _("Say where it was seen with `at <location>`, like {example}.").format(example=EXAMPLE)
        )
    what, where = words[:at], " ".join(words[at + 1 :]).strip()
    if not where:
        raise UsageError(
            _("Say where it was seen after `at`, like {example}.").format(example=EXAMPLE)
        )
    if looks_like_ref(what[0]) and len(what) > 1:
        raise UsageError(
            _(
                "After {ref} comes `at <location>`; put what was seen in --note, or quote a "
                "description."
            ).format(ref=what[0])
        )
    return " ".join(what).strip(), where


def observed_time(ctx: CommandContext, raw: str | None, tz: ZoneInfo) -> datetime:
    """The observed time (now by default); more than 5 minutes ahead is refused."""
    if not raw:
        return ctx.now
    when = read_time(raw, ctx.now, tz, lang=member_language(ctx), direction=Direction.PAST)
    if when > ctx.now + FUTURE_SLACK:
        raise UsageError(
            _(
                "'{raw}' is {time}, in the future; a sighting is recorded once seen (at most 5 "
                "minutes ahead, for clock drift)."
            ).format(raw=raw, time=format_time(when, tz))
        )
    return when


_SIGHTINGS = tables.SIGHTING
_SIGHTING_COLUMNS = [c.name for c in _SIGHTINGS.columns if c.name != "id"]
_INSERT_SIGHTING = Prepared(
    insert(_SIGHTINGS)
    .values({name: bindparam(name) for name in _SIGHTING_COLUMNS})
    .returning(_SIGHTINGS.c.id)
)


async def insert_sighting(ctx: CommandContext, sighting: Sighting) -> None:
    """Store a new sighting with one Core INSERT at the driver (the command path's hottest
    write)."""
    rows = await _INSERT_SIGHTING.execute(
        ctx.session, {name: getattr(sighting, name) for name in _SIGHTING_COLUMNS}
    )
    sighting.id = int(rows[0][0])


@command(
    "sighting",
    'sighting <S-n|"description"> at <location> [--coords LAT,LON] [--when TIME] '
    '[--activity "…"] [--direction "…"] [--count "…"] [--equipment "…"] '
    '[--grade B2] [--tlp …] [--to M-3,M-7] [--note "…"] [--observer "…"] '
    "[--place-kind shelter|safe-house|victim-care]",
    N_(
        "Report a sighting; it is posted at once to every linked channel (a MATCH if the "
        "subject is under an active red or yellow notice)."
    ),
    args=(Arg("what", rest=True, ref=True),),
    flags=(
        Flag("coords", kind="coords"),
        Flag("when", kind="time"),
        Flag("grade"),
        Flag("tlp"),
        Flag("note"),
        Flag("observer"),
        Flag("to"),
        Flag("place-kind"),
        *SALUTE_FLAGS,
    ),
    op=OpMode.REQUIRED,
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        'Of a subject (S-3) or of something described ("white Transit van, ES plates").\n'
        "--when is the time observed (default now): 2026-11-28 14:30, 14:30 (the last one "
        "past), 5pm, 17h, yesterday 23:30, ayer 23:30, hier 23h30, 30/11/2026 06:00 or 20m "
        "ago; more than 5 minutes ahead is refused; the reply shows the time as read. The "
        "time reported is recorded apart.\n"
        "--coords in decimal degrees, LAT,LON. --activity, --direction (of movement), --count "
        "(how many) and --equipment (vehicles, equipment) record what was seen.\n"
        "--grade is your own assessment in the Admiralty code (source reliability A-F, "
        "information credibility 1-6; B2: usually reliable, probably true), kept as the "
        "reporter's assessment; the grade is given by a lead or analyst with `sighting grade`.\n"
        "--observer names who saw it when it was not you (a second-hand report). Keep facts "
        "in the record and opinion in --note.\n"
        "--tlp defaults to the higher of the operation's and the subject's: the source's "
        "restriction travels with the data. --tlp red --to M-3,M-7: for those members (and "
        "you) only, delivered privately.\n"
        "A sighting of a protected person (victim, witness, child) reaches the channels only "
        "as a neutral line; the leads get it privately."
    ),
)
async def sighting_add(ctx: CommandContext) -> Reply:
    """Record a sighting and post it to every linked channel that may receive it."""
    op = ctx.operation()
    if wants_a_place(ctx.args["what"]):  # `sighting S-1`: ask where (a pin may answer)
        return await ask_where(ctx, ctx.args["what"][0])
    what, where = split_what_where(list(ctx.args["what"]))
    subject: Subject | None = None
    description: str | None = None
    if looks_like_ref(what):
        subject = await find_subject(ctx, what)
    else:
        description = what
    if len(where) > MAX_LOCATION:
        raise UsageError(
            _("The location is too long; the limit is {n} characters.").format(n=MAX_LOCATION)
        )
    lat, lon = parse_coords(ctx.args["coords"]) if ctx.args.get("coords") else (None, None)
    tz = await ctx.tz()
    observed = observed_time(ctx, ctx.args.get("when"), tz)
    grade = parse_grade(ctx.args["grade"]) if ctx.args.get("grade") else None
    requested = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else None
    place_kind = parse_place_kind(ctx.args.get("place-kind"))
    observer = (ctx.args.get("observer") or "").strip() or None
    if observer and len(observer) > 200:
        raise UsageError(_("--observer is too long; the limit is 200 characters."))
    notice: Notice | None = await active_match_notice(ctx, subject) if subject else None
    floor = []
    if subject is not None:
        floor.append((subject_ref(subject), subject.tlp))
    if notice is not None:
        floor.append((notice_ref(notice), notice.tlp))
    label, raised = with_floor(requested, TLP(op.tlp), floor)
    recipients = await parse_recipients(ctx, label)
    sighting = fresh(
        Sighting,
        operation_id=op.id or 0,
        seq=await ctx.next_seq("sighting_seq"),
        subject_id=subject.id if subject else None,
        description=description,
        location=where,
        lat=lat,
        lon=lon,
        observed_at=observed,
        reported_at=ctx.now,
        reporter_grade=grade,
        review_at=add_months(ctx.now, REVIEW_MONTHS),
        tlp=label.value,
        **salute_fields(ctx),
        note=(ctx.args.get("note") or "").strip() or None,
        observer=observer,
        reporter_id=ctx.member().id,
        match_notice_id=notice.id if notice else None,
        cell=grid_cell(lat, lon),
        place_kind=place_kind,
    )
    await insert_sighting(ctx, sighting)
    ref = sighting_ref(sighting)
    ctx.audit(
        Action.COLLECT,
        object_ref=f"{op.code}/{ref}",
        reason=f"match {notice_ref(notice)}" if notice else None,
    )
    if subject is not None:  # the same subject held by another operation: its leads told
        await deconflict(ctx, subject, sighted=True)
    reporter = ctx.member().name
    post = sighting_message(
        op,
        sighting,
        subject,
        tz=zone(op.timezone),
        reporter=reporter,
        notice=notice,
        for_channel=True,
    )
    readers: set[int] = set()
    if label is TLP.RED:
        await ctx.session.flush()
        sources = [("subject", subject.id, subject.created_by)] if subject else []
        if notice is not None:
            sources.append(("notice", notice.id, notice.recorded_by))
        readers = await red_audience(
            ctx, recipients, [s for s in sources if TLP(_source_tlp(s, subject, notice)) is TLP.RED]
        )
        await protection.add_recipients(ctx.session, op, "sighting", sighting.id or 0, readers)
    posted = await post_item(
        ctx,
        post,
        tlp=label,
        kind="match" if notice and not is_historic(sighting) else "sighting",
        object_ref=ref,
        subject=subject,
        neutral=protection.neutral_sighting(
            op, sighting, notice, place=subject is not None and subject.kind == "place"
        )
        if protection.is_protected(subject, ctx.now)
        else _place_withheld(op, sighting, subject, reporter, notice)
        if place_kind
        else None,
        red_readers=readers,
        protected_place=place_kind is not None,
    )
    # The reporter sees their own report back; the notice only if their role may read it.
    role = await reader(ctx)
    shown_notice = notice if notice and subject and may_read_notice(role, notice, subject) else None
    message = sighting_message(op, sighting, subject, tz=tz, reporter=reporter, notice=shown_notice)
    if message.mark:
        message.lines.insert(0, _("Recorded {ref} as a MATCH.").format(ref=ref))
    else:
        message.title = _("Recorded {title}").format(title=message.title)
    message.lines += [n for n in (raised,) if n] + posted
    return Reply(message)


def _place_withheld(
    op: Operation, sighting: Sighting, subject: Subject | None, reporter: str, notice: Notice | None
) -> Message:
    """The channel post of a sighting at a protected place: the sighting, without the place."""
    with use_language(CHANNEL_LANGUAGE):  # posted to the channels (README "Languages")
        return sighting_message(
            op,
            hide_place(sighting, _("a protected place")),
            subject,
            tz=zone(op.timezone),
            reporter=reporter,
            notice=notice,
            for_channel=True,
        )


def _source_tlp(
    source: tuple[str, int | None, int | None], subject: Subject | None, notice: Notice | None
) -> str:
    """The label of a record a new sighting repeats (its subject, or its matched notice)."""
    if source[0] == "subject" and subject is not None:
        return subject.tlp
    return notice.tlp if notice is not None else TLP.CLEAR.value


@command(
    "sighting show",
    "sighting show <SG-n>",
    N_("Show one sighting in full."),
    args=(Arg("ref", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def sighting_show(ctx: CommandContext) -> Reply:
    """One sighting, with its match if any."""
    op = ctx.operation()
    stored, subject = await find_sighting(ctx, ctx.args["ref"])
    sighting = as_read(await reader(ctx), stored, subject)  # a protected place: left out
    notice = None
    if sighting.match_notice_id is not None and subject is not None:
        found = await ctx.session.get(Notice, sighting.match_notice_id)
        if found is not None and may_read_notice(await reader(ctx), found, subject):
            notice = found
    names = await member_names(ctx, [sighting.reporter_id])
    refs = [sighting_ref(sighting)] + ([subject_ref(subject)] if subject else [])
    audit_consult(ctx, refs + ([notice_ref(notice)] if notice else []), sighting_ref(sighting))
    message = sighting_message(
        op,
        sighting,
        subject,
        tz=await ctx.tz(),
        reporter=names.get(sighting.reporter_id or 0),
        notice=notice,
    )
    message.lines += photo_lines(
        (await photos_of(ctx.session, [sighting.id])).get(sighting.id or 0, [])
    )
    message.lines += await grade_history(ctx, sighting.id or 0)
    return Reply(message)


def parse_since(raw: str, ctx: CommandContext, tz: ZoneInfo) -> datetime:
    """`--since 24h` (a duration back from now) or a time expression."""
    try:
        return ctx.now - parse_duration(raw)
    except UsageError:
        pass
    try:
        return read_time(raw, ctx.now, tz, lang=member_language(ctx))
    except AmbiguousTime:
        raise
    except UsageError:
        raise UsageError(
            _(
                "'{raw}' is neither a duration nor a time; use --since 24h, 7d or 2026-11-28 08:00."
            ).format(raw=raw)
        ) from None


@command(
    "sightings",
    "sightings [OP] [--subject S-n] [--since 24h] [--page N]",
    N_("List sightings, newest observed first, 10 to a page."),
    flags=(Flag("subject", ref=True), Flag("since", kind="time"), Flag("page", kind="int")),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def sightings_list(ctx: CommandContext) -> Reply:
    """Sightings of the operation, by subject and time, newest first, paged."""
    op = ctx.operation()
    number = parse_page(ctx.args.get("page"))
    tz = await ctx.tz()
    conditions: list[Any] = []
    filters: list[str] = []
    heading = _("{op} sightings").format(op=op.code)
    if ctx.args.get("subject"):
        subject = await find_subject(ctx, ctx.args["subject"])
        conditions.append(Sighting.subject_id == subject.id)
        filters.append(f"--subject {subject_ref(subject)}")
        heading += _(" of {subject}").format(subject=f"{subject_ref(subject)} {subject.name}")
    if ctx.args.get("since"):
        raw = str(ctx.args["since"])
        cutoff = parse_since(raw, ctx, tz)
        conditions.append(col(Sighting.observed_at) >= cutoff)
        filters.append(f"--since {raw}" if " " not in raw else f'--since "{raw}"')
        heading += _(" since {time}").format(time=format_time(cutoff, tz))
    ids, hidden = await readable_sightings(ctx, *conditions)
    id_page = paginate(ids, number, PAGE_SIZE)
    page = Page(
        await load_sightings(ctx, id_page.items), id_page.number, id_page.pages, id_page.total
    )
    lines = [sighting_line(sg, s, tz) for sg, s in page.items] or [_("No sightings.")]
    if page.pages > 1:
        lines.insert(
            0,
            ngettext(
                "{n} sighting, newest first", "{n} sightings, newest first", page.total
            ).format(n=page.total),
        )
    audit_consult(ctx, [sighting_ref(sg) for sg, _s in page.items], "sightings")
    return Reply(
        paged_message(
            op,
            title=heading,
            lines=lines,
            page=page,
            hidden=hidden,
            more=" ".join(["sightings", op.code, *filters]),
            labels=[sighting_tlp(sg, s) for sg, s in page.items],
        )
    )
