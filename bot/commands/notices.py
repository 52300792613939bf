"""`notice record|diffusion|list|show|cancel|renew`: INTERPOL notices as recorded (`N-n`).

A task force records a notice that exists (an NCB requested it, INTERPOL published it) or
a country's diffusion; it never issues one. Recording posts the notice to every linked
channel (within each channel's TLP ceiling). Notices expire 5 years after publication
unless renewed; an active red or yellow notice turns every sighting of its subject into a
MATCH.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot.base.clock import add_months
from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, ngettext, use_language
from bot.base.localtime import format_date, format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.disclose import parse_recipients, post_item, red_audience
from bot.commands.errors import CommandError, UsageError
from bot.commands.intel import (
    COLOURS,
    NOTICE_YEARS,
    REVIEW_MONTHS,
    audit_consult,
    find_notice,
    find_subject,
    hidden_line,
    load_sightings,
    may_read_notice,
    may_read_sighting,
    member_names,
    notice_active,
    notice_state,
    notice_tlp,
    paginate,
    parse_colour,
    parse_page,
    readable_sightings,
    reader,
    with_floor,
    years_later,
)
from bot.commands.notice_values import parse_notice_ref, parse_published, parse_requesting
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import (
    context_line,
    notice_about,
    notice_line,
    notice_message,
    notice_ref,
    notice_title,
    paged_message,
    sighting_line,
    sighting_ref,
    subject_ref,
)
from bot.commands.values import (
    parse_countries,
    parse_country,
    parse_tlp,
    zone,
)
from bot.contracts import Reply
from bot.core import protection
from bot.core.access import TLP, Perm
from bot.store.audit import Action
from bot.store.models import Notice, Sighting, Subject

PAGE_SIZE = 20
# Known living people: never the subject of a black notice (an unidentified body).
LIVING_CATEGORIES = ("suspect", "associate", "witness")


_REASON_NEEDED = {
    "cancelled": N_('Say why with --reason "…": a notice is cancelled with its reason on record.'),
    "renewed": N_('Say why with --reason "…": a notice is renewed with its reason on record.'),
}


def _reason(ctx: CommandContext, verb: str) -> str:
    reason = (ctx.args.get("reason") or "").strip()
    if not reason:
        raise UsageError(_(_REASON_NEEDED[verb]))
    return reason


# A subject kind with its article, as a refusal says it (translated whole: articles differ).
_WITH_ARTICLE = {
    "person": N_("a person"),
    "vehicle": N_("a vehicle"),
    "vessel": N_("a vessel"),
    "organisation": N_("an organisation"),
    "place": N_("a place"),
    "asset": N_("an asset"),
}


def _a(kind: str) -> str:
    return _(_WITH_ARTICLE[kind]) if kind in _WITH_ARTICLE else kind


def _check_subject(colour_name: str, subject: Subject) -> None:
    """The colour's subject rules (kind and category); one sentence on refusal."""
    colour = COLOURS[colour_name]
    ref = subject_ref(subject)
    if subject.kind not in colour.kinds:
        if colour.name == "black":
            about = _("an unidentified body (a person subject)")
        else:
            kinds = [_a(kind) for kind in colour.kinds]
            about = (
                _("{some} or {last}").format(some=", ".join(kinds[:-1]), last=kinds[-1])
                if len(kinds) > 1
                else kinds[0]
            )
        raise CommandError(
            _("{colour} notices are about {about}; {ref} is {kind}.").format(
                colour=colour.title, about=about, ref=ref, kind=_a(subject.kind)
            )
        )
    if colour.name == "red" and subject.category in ("victim", "witness"):
        raise CommandError(
            _(
                "{ref} is recorded as a {category}; a red notice is for a wanted person "
                "(victims are not treated as offenders)."
            ).format(ref=ref, category=subject.category)
        )
    if colour.name == "black" and subject.category in LIVING_CATEGORIES:
        raise CommandError(
            _(
                "{ref} is recorded as a {category}; a black notice is for an unidentified "
                "body, never a named living person."
            ).format(ref=ref, category=subject.category)
        )


def _text(ctx: CommandContext, flag: str, limit: int) -> str | None:
    """A stripped free-text flag (None when absent), refused past `limit` characters."""
    value = (ctx.args.get(flag) or "").strip() or None
    if value is not None and len(value) > limit:
        raise UsageError(
            _("--{flag} is too long; the limit is {limit} characters.").format(
                flag=flag, limit=limit
            )
        )
    return value


def _red_judicial(ctx: CommandContext) -> tuple[str, str, str]:
    """A red notice's judicial data: charges, warrant reference, issuing country."""
    charges = _text(ctx, "charges", 1000)
    if not charges:
        raise UsageError(
            _(
                'A red notice needs --charges "…": the offences the person is wanted for '
                "(it asks to locate and provisionally arrest; it is not itself an arrest "
                "warrant)."
            )
        )
    warrant = _text(ctx, "warrant", 200)
    if not warrant:
        raise UsageError(
            _(
                'A red notice needs --warrant "…": the reference of the arrest warrant or '
                "judgment it rests on."
            )
        )
    country = _text(ctx, "warrant-country", 100)
    if not country:
        raise UsageError(
            _(
                "A red notice needs --warrant-country: the country whose authority issued "
                "the warrant."
            )
        )
    return charges, warrant, parse_country(country)


def _requesting(ctx: CommandContext, colour: str) -> str:
    """Who requested it: a country or NCB, or for a UN Special Notice the Security Council
    sanctions committee (`--committee`), never a country."""
    committee = _text(ctx, "committee", 100)
    requested_by = _text(ctx, "requested-by", 100)
    if colour == "un":
        if not committee or requested_by:
            raise UsageError(
                _(
                    "A UN Special Notice is issued at the request of a UN Security Council "
                    'sanctions committee, not a country: name it with --committee "…" '
                    "(for example --committee 1267)."
                )
            )
        return committee
    if committee:
        raise UsageError(
            _("--committee is for UN Special Notices; give --requested-by COUNTRY instead.")
        )
    if not requested_by:
        raise UsageError(
            _(
                "Say which country's National Central Bureau requested it with "
                "--requested-by COUNTRY."
            )
        )
    return parse_requesting(requested_by)


def _yellow_gaps(subject: Subject) -> list[str]:
    gaps = [
        label
        for label, value in (
            (_("sex"), subject.sex),
            (_("year of birth"), subject.dob),
            (_("description"), subject.description),
        )
        if not value
    ]
    if not gaps:
        return []
    return [
        _("INTERPOL's minimum for a yellow notice also has: {gaps} (missing on {ref}).").format(
            gaps=", ".join(gaps), ref=subject_ref(subject)
        )
    ]


async def _active(ctx: CommandContext, subject: Subject, colour: str, kind: str) -> Notice | None:
    """The subject's active notice (or diffusion) of `colour`, if any."""
    return (
        await ctx.session.exec(
            select(Notice).where(
                Notice.subject_id == subject.id,
                Notice.colour == colour,
                Notice.kind == kind,
                Notice.status == "active",
                col(Notice.expires_at) > ctx.now,
            )
        )
    ).first()


RECORD_FLAGS = (
    Flag("ref"),
    Flag("requested-by"),
    Flag("committee"),
    Flag("published"),
    Flag("charges"),
    Flag("warrant"),
    Flag("warrant-country"),
    Flag("summary"),
    Flag("reason"),
    Flag("tlp"),
    Flag("to"),
)
RECORD_DETAILS = N_(
    "A task force records a notice that exists: a National Central Bureau requests it and "
    "INTERPOL's General Secretariat publishes it. --ref is INTERPOL's reference, "
    "--requested-by the requesting country or NCB.\n"
    "Red: a wanted person (not a victim or witness), with --charges, --warrant (the warrant "
    "or judgment reference) and --warrant-country (its issuing country); it is not itself "
    "an arrest warrant.\n"
    "Yellow: a missing person or one who cannot identify themselves; on a subject under a "
    "red notice only with --reason.\n"
    "Black: an unidentified body, never a named living person. Purple: modus operandi. "
    "Silver: an asset. UN: a person or entity under UN Security Council sanctions.\n"
    "amber is recorded as yellow: AMBER is a national child-abduction alert, not an "
    "INTERPOL colour.\n"
    "A notice expires after 5 years unless the lead who recorded it renews it; while a red "
    "or yellow notice is active, every sighting of its subject is posted as a MATCH "
    "(confirm the notice's validity with your NCB before acting)."
)


@command(
    "notice record",
    'notice record <colour> [S-n] --ref INTERPOL-REF --requested-by COUNTRY|"NCB City" '
    '[--published YYYY-MM-DD] [--charges "…" --warrant REF --warrant-country COUNTRY] '
    '[--committee "…"] [--summary "…"] [--reason "…"] [--tlp …] [--to M-3,M-7]',
    N_("Record an INTERPOL notice about a subject; it is posted to the linked channels."),
    args=(Arg("colour"), Arg("subject", ref=True, required=False)),
    flags=RECORD_FLAGS,
    op=OpMode.REQUIRED,
    perm=Perm.ISSUE_NOTICE,
    writes=True,
    action=Action.COLLECT,
    details=RECORD_DETAILS,
)
async def notice_record(ctx: CommandContext) -> Reply:
    """Record a published notice and post it to the operation's linked channels."""
    return await _record(ctx, "notice")


@command(
    "notice diffusion",
    "notice diffusion <colour> [S-n] --requested-by COUNTRY --countries FR,DE [--ref REF] "
    '[--charges "…" --warrant REF --warrant-country COUNTRY] [--summary "…"] [--reason "…"] '
    "[--tlp …] [--to M-3,M-7]",
    N_(
        "Record a diffusion: a country's direct request to chosen countries, not reviewed "
        "by INTERPOL."
    ),
    args=(Arg("colour"), Arg("subject", ref=True, required=False)),
    flags=(*RECORD_FLAGS, Flag("countries")),
    op=OpMode.REQUIRED,
    perm=Perm.ISSUE_NOTICE,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        "A diffusion is sent by one country's National Central Bureau straight to the "
        "countries it chooses; INTERPOL's General Secretariat has not reviewed it. The colour "
        "says what is asked (red: locate and arrest, yellow: locate, blue: information…) and "
        "the colour's rules apply."
    ),
)
async def notice_diffusion(ctx: CommandContext) -> Reply:
    """Record a diffusion and post it to the operation's linked channels."""
    return await _record(ctx, "diffusion")


@command(
    "notice issue",
    "notice issue …",
    N_("Notices are recorded, not issued: see `notice record`."),
    args=(Arg("words", required=False, rest=True),),
    flags=(*RECORD_FLAGS, Flag("countries")),
    needs_member=False,
)
async def notice_issue(ctx: CommandContext) -> Reply:
    """The old command word: one sentence pointing to `notice record` (nothing is stored)."""
    raise CommandError(
        _(
            "A task force does not issue notices (a National Central Bureau requests them and "
            "INTERPOL publishes them): record one with `notice record <colour> S-n --ref … "
            "--requested-by …`."
        )
    )


async def _record(ctx: CommandContext, kind: str) -> Reply:
    """Check and store a notice or diffusion, then post it."""
    op = ctx.operation()
    colour, amber_note = parse_colour(ctx.args["colour"])
    subject: Subject | None = None  # a purple notice (modus operandi) needs none
    if ctx.args.get("subject"):
        subject = await find_subject(ctx, ctx.args["subject"])
        _check_subject(colour.name, subject)
    elif colour.name != "purple":
        raise UsageError(
            _(
                "{colour} notices are about a subject: give its S-n (only purple needs none)."
            ).format(colour=colour.title)
        )
    external = _text(ctx, "ref", 100)
    if kind == "notice" and not external:
        raise UsageError(
            _(
                "Give INTERPOL's reference with --ref: a task force records a notice INTERPOL "
                "published."
            )
        )
    if external is not None:
        external = parse_notice_ref(external)
    requested_by = _requesting(ctx, colour.name)
    countries = _text(ctx, "countries", 400)
    if kind == "diffusion" and not countries:
        raise UsageError(
            _("Say which countries the diffusion was sent to with --countries FR,DE,…")
        )
    if countries is not None:
        countries = ",".join(parse_countries(countries))
    published = (
        parse_published(str(ctx.args["published"]), ctx.now) if ctx.args.get("published") else None
    )
    expires = years_later(published or ctx.now, NOTICE_YEARS)
    if published is not None and expires <= ctx.now:
        raise UsageError(
            _(
                "Published on {date}, it expired on {expiry} (5 years on); record a notice "
                "INTERPOL still has in force."
            ).format(date=format_date(published), expiry=format_date(expires))
        )
    charges, warrant, warrant_country = (
        _red_judicial(ctx) if colour.name == "red" else (_text(ctx, "charges", 1000), None, None)
    )
    reason = _text(ctx, "reason", 1000)
    noun = _("diffusion") if kind == "diffusion" else _("notice")
    existing = await _active(ctx, subject, colour.name, kind) if subject else None
    if subject is not None and existing is not None:
        raise CommandError(
            _("{ref} already has an active {title}; cancel it before recording another.").format(
                ref=subject_ref(subject), title=notice_title(existing)
            )
        )
    if colour.name == "yellow" and subject is not None:
        red = await _active(ctx, subject, "red", "notice")
        if red is not None and not reason:
            raise UsageError(
                _(
                    "{ref} is under {title}; say why a yellow {noun} is needed as well with "
                    '--reason "…".'
                ).format(ref=subject_ref(subject), title=notice_title(red), noun=noun)
            )
    requested = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else None
    floor = [(subject_ref(subject), subject.tlp)] if subject is not None else []
    label, raised = with_floor(requested, TLP(op.tlp), floor)
    recipients = await parse_recipients(ctx, label)
    notice = Notice(
        operation_id=op.id or 0,
        seq=await ctx.next_seq("notice_seq"),
        colour=colour.name,
        kind=kind,
        subject_id=subject.id if subject is not None else None,
        charges=charges,
        summary=_text(ctx, "summary", 2000),
        external_ref=external,
        requested_by=requested_by,
        warrant_ref=warrant,
        warrant_country=warrant_country,
        countries=countries,
        tlp=label.value,
        status="active",
        recorded_by=ctx.member().id,
        recorded_at=ctx.now,
        published_at=published,
        expires_at=expires,
        review_at=add_months(ctx.now, REVIEW_MONTHS),
    )
    ctx.session.add(notice)
    ref = notice_ref(notice)
    ctx.audit(
        Action.COLLECT,
        object_ref=f"{op.code}/{ref}",
        reason=f"{colour.name} {kind} on {subject_ref(subject) if subject else 'modus operandi'}"
        + (f"; {reason}" if reason else ""),
    )
    who = ctx.member().name
    post = notice_message(
        op, notice, subject, tz=zone(op.timezone), now=ctx.now, recorded_by=who, for_channel=True
    )
    readers: set[int] = set()
    if label is TLP.RED:
        await ctx.session.flush()
        sources = (
            [("subject", subject.id, subject.created_by)]
            if subject is not None and TLP(subject.tlp) is TLP.RED
            else []
        )
        readers = await red_audience(ctx, recipients, sources)
        await protection.add_recipients(ctx.session, op, "notice", notice.id or 0, readers)
    posted = await post_item(
        ctx,
        post,
        tlp=label,
        kind="notice",
        object_ref=ref,
        subject=subject,
        neutral=_neutral(ctx, notice, subject, "recorded"),
        red_readers=readers,
    )
    message = notice_message(op, notice, subject, tz=await ctx.tz(), now=ctx.now, recorded_by=who)
    message.title = _("Recorded {title}").format(title=message.title)
    notes = [n for n in (amber_note, raised) if n]
    if colour.name == "yellow" and subject is not None:
        notes += _yellow_gaps(subject)
    earlier = await _earlier_sightings(ctx, subject) if colour.matches and subject else []
    message.lines = [*notes, *message.lines, *earlier, *posted]
    return Reply(message)


EARLIER_SHOWN = 10


async def _earlier_sightings(ctx: CommandContext, subject: Subject) -> list[str]:
    """A new red or yellow notice's subject was seen before: the sightings the recorder may
    read, newest first (they were not matches then; the lead decides what follows)."""
    ids, _hidden = await readable_sightings(ctx, Sighting.subject_id == subject.id)
    if not ids:
        return []
    shown = await load_sightings(ctx, ids[:EARLIER_SHOWN])
    tz = await ctx.tz()
    audit_consult(ctx, [sighting_ref(sg) for sg, _s in shown], "earlier sightings")
    lines = [
        ngettext(
            "{ref} was seen before this notice: {n} earlier sighting, newest first:",
            "{ref} was seen before this notice: {n} earlier sightings, newest first:",
            len(ids),
        ).format(ref=subject_ref(subject), n=len(ids))
    ]
    lines += [sighting_line(sg, s, tz) for sg, s in shown]
    if len(ids) > EARLIER_SHOWN:
        lines.append(
            _("… and {n} more: `sightings --subject {ref}`.").format(
                n=len(ids) - EARLIER_SHOWN, ref=subject_ref(subject)
            )
        )
    return lines


def _about(subject: Subject | None) -> list[str]:
    """`["about S-3"]` for a context line (nothing for a notice without a subject)."""
    return [f"about {subject_ref(subject)}"] if subject is not None else []


def _about_ref(subject: Subject | None) -> list[str]:
    return [subject_ref(subject)] if subject is not None else []


def _neutral(
    ctx: CommandContext, notice: Notice, subject: Subject | None, what: str
) -> Message | None:
    """The channels' neutral line for a notice about a protected person (else None)."""
    if not protection.is_protected(subject, ctx.now):
        return None
    return protection.neutral_notice(ctx.operation(), notice, what)


async def _post_change(
    ctx: CommandContext,
    post: Message,
    notice: Notice,
    subject: Subject | None,
    label: TLP,
    what: str,
) -> list[str]:
    """Post a change of a recorded notice where its label and its subject allow."""
    return await post_item(
        ctx,
        post,
        tlp=label,
        kind="notice",
        object_ref=notice_ref(notice),
        subject=subject,
        neutral=_neutral(ctx, notice, subject, what),
        red_readers=await _readers(ctx, notice) if label is TLP.RED else None,
    )


async def _other_lead(ctx: CommandContext, notice: Notice) -> str:
    """The audit note when a lead changes a notice another member recorded (else "")."""
    if notice.recorded_by is None or notice.recorded_by == ctx.member().id:
        return ""
    names = await member_names(ctx, [notice.recorded_by])
    return f" [by a lead other than its recorder {names.get(notice.recorded_by, 'unknown')}]"


async def _readers(ctx: CommandContext, notice: Notice) -> set[int]:
    """The readers of a TLP:RED notice: its recipients and its author."""
    found = await protection.recipients_of(ctx.session, "notice", notice.id)
    if notice.recorded_by is not None:
        found.add(notice.recorded_by)
    return found


@command(
    "notice list",
    "notice list [OP] [--all] [--page N]",
    N_("List active notices (with --all: cancelled and expired ones too)."),
    flags=(Flag("all", kind="bool"), Flag("page", kind="int")),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def notice_list(ctx: CommandContext) -> Reply:
    """Notices newest first; only active ones unless `--all`."""
    op = ctx.operation()
    number = parse_page(ctx.args.get("page"))
    show_all = bool(ctx.args.get("all"))
    rows = (
        await ctx.session.exec(
            select(Notice, Subject)
            .join(Subject, col(Subject.id) == col(Notice.subject_id), isouter=True)
            .where(Notice.operation_id == op.id, col(Notice.erased_at).is_(None))
            .order_by(col(Notice.seq).desc())
        )
    ).all()
    if not show_all:
        rows = [r for r in rows if notice_active(r[0], ctx.now)]
    role = await reader(ctx)
    readable = [(n, s) for n, s in rows if may_read_notice(role, n, s)]
    page = paginate(readable, number, PAGE_SIZE)
    empty = (
        _("No notices.")
        if show_all
        else _("No active notices (`notice list --all` for the others).")
    )
    audit_consult(ctx, [notice_ref(n) for n, _s in page.items], "notices")
    return Reply(
        paged_message(
            op,
            title=(_("{op} notices") if show_all else _("{op} active notices")).format(op=op.code),
            lines=[notice_line(n, s, ctx.now) for n, s in page.items] or [empty],
            page=page,
            hidden=len(rows) - len(readable),
            more=f"notice list {op.code}{' --all' if show_all else ''}",
            labels=[notice_tlp(n, s) for n, s in page.items],
        )
    )


@command(
    "notice show",
    "notice show <N-n>",
    N_("Show a notice, its state and its matching sightings."),
    args=(Arg("ref", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def notice_show(ctx: CommandContext) -> Reply:
    """One notice in full."""
    op = ctx.operation()
    notice, subject = await find_notice(ctx, ctx.args["ref"])
    matches = (
        await ctx.session.exec(
            select(Sighting)
            .where(Sighting.match_notice_id == notice.id)
            .order_by(col(Sighting.seq))
        )
    ).all()
    role = await reader(ctx)
    shown = [s for s in matches if may_read_sighting(role, s, subject)]
    names = await member_names(ctx, [notice.recorded_by])
    message = notice_message(
        op,
        notice,
        subject,
        tz=await ctx.tz(),
        now=ctx.now,
        recorded_by=names.get(notice.recorded_by or 0),
        matches=shown,
    )
    message.lines += hidden_line(len(matches) - len(shown))
    audit_consult(
        ctx,
        [notice_ref(notice), *_about_ref(subject)] + [f"SG-{s.seq}" for s in shown],
        notice_ref(notice),
    )
    return Reply(message)


@command(
    "notice cancel",
    'notice cancel <N-n> --reason "…"',
    N_("Cancel a notice, with the reason (lead); the channels are told."),
    args=(Arg("ref", ref=True),),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.CANCEL_NOTICE,
    writes=True,
    action=Action.ALTER,
)
async def notice_cancel(ctx: CommandContext) -> Reply:
    """Cancel a notice: sightings of its subject stop being matches."""
    op = ctx.operation()
    notice, subject = await find_notice(ctx, ctx.args["ref"])
    reason = _reason(ctx, "cancelled")
    if notice.status == "cancelled":
        raise CommandError(_("{title} is already cancelled.").format(title=notice_title(notice)))
    reason_on_record = reason + await _other_lead(ctx, notice)
    notice.status = "cancelled"
    notice.cancelled_at = ctx.now
    notice.cancel_reason = reason
    ctx.session.add(notice)
    ref = notice_ref(notice)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}", reason=f"cancelled: {reason_on_record}")
    label = notice_tlp(notice, subject)
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("{title} cancelled — {about}").format(
                title=notice_title(notice), about=notice_about(subject)
            ),
            fields=[(_("Reason"), reason), (_("Cancelled by"), ctx.member().name)],
            lines=[_("Sightings of this subject are no longer posted as a match of this notice.")]
            if COLOURS[notice.colour].matches
            else [],
            context=context_line(op, ref, label, *_about(subject)),
            tlp=protection.disclosure_label(label, subject, now=ctx.now).value,
        )
    posted = await _post_change(ctx, post, notice, subject, label, "cancelled")
    return Reply(
        Message(
            lines=[
                _("{title} on {about} is cancelled.").format(
                    title=notice_title(notice), about=notice_about(subject)
                ),
                *posted,
            ],
            context=context_line(op, ref, label),
            tlp=label.value,
        )
    )


@command(
    "notice renew",
    'notice renew <N-n> --reason "…"',
    N_("Renew a notice for another 5 years, with the re-justification (lead)."),
    args=(Arg("ref", ref=True),),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.CANCEL_NOTICE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "INTERPOL asks the source to re-justify a notice before its 5 years run out. The lead "
        "who recorded it renews it; another lead may, and the audit log says so."
    ),
)
async def notice_renew(ctx: CommandContext) -> Reply:
    """Extend an (active or expired) notice 5 years from now."""
    op = ctx.operation()
    notice, subject = await find_notice(ctx, ctx.args["ref"])
    reason = _reason(ctx, "renewed")
    if notice.status == "cancelled":
        raise CommandError(
            _("{title} is cancelled; record a new one instead.").format(title=notice_title(notice))
        )
    was = notice_state(notice, ctx.now)
    reason_on_record = reason + await _other_lead(ctx, notice)
    notice.expires_at = years_later(ctx.now, NOTICE_YEARS)
    notice.renewed_at = ctx.now
    ctx.session.add(notice)
    ref = notice_ref(notice)
    ctx.audit(
        Action.ALTER, object_ref=f"{op.code}/{ref}", reason=f"renewed ({was}): {reason_on_record}"
    )
    label = notice_tlp(notice, subject)
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        until = format_time(notice.expires_at, zone(op.timezone))  # in the channel's language
        post = Message(
            title=_("{title} renewed — {about}").format(
                title=notice_title(notice), about=notice_about(subject)
            ),
            fields=[(_("Until"), until), (_("Reason"), reason)],
            context=context_line(op, ref, label, *_about(subject)),
            tlp=protection.disclosure_label(label, subject, now=ctx.now).value,
        )
    posted = await _post_change(ctx, post, notice, subject, label, "renewed")
    return Reply(
        Message(
            lines=[
                _("{title} is renewed until {time}.").format(
                    title=notice_title(notice), time=format_time(notice.expires_at, await ctx.tz())
                ),
                *posted,
            ],
            context=context_line(op, ref, label),
            tlp=label.value,
        )
    )
