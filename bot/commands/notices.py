"""`notice issue|list|show|cancel|renew`: INTERPOL-style colour-coded notices (`N-n`).

Issuing posts the notice to every linked channel (within each channel's TLP ceiling).
Notices expire 5 years after issue unless renewed; an active red or yellow notice turns
every sighting of its subject into a MATCH.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot import protection
from bot.access import TLP, Perm
from bot.audit import Action
from bot.commands.context import CommandContext
from bot.commands.disclose import parse_recipients, post_item, red_audience
from bot.commands.errors import CommandError, UsageError
from bot.commands.intel import (
    COLOURS,
    NOTICE_YEARS,
    audit_consult,
    find_notice,
    find_subject,
    hidden_line,
    may_read_notice,
    may_read_sighting,
    member_names,
    notice_active,
    notice_state,
    notice_tlp,
    paginate,
    parse_colour,
    parse_page,
    reader,
    with_floor,
    years_later,
)
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import (
    context_line,
    notice_line,
    notice_message,
    notice_ref,
    notice_title,
    paged_message,
    subject_name,
    subject_ref,
)
from bot.commands.values import format_time, parse_tlp, zone
from bot.contracts import Reply
from bot.messages import Message
from bot.models import Notice, Sighting, Subject

PAGE_SIZE = 20
COLOUR_HELP = "\n".join(f"  {c.name}: {c.purpose}." for c in COLOURS.values())


def _reason(ctx: CommandContext, verb: str) -> str:
    reason = (ctx.args.get("reason") or "").strip()
    if not reason:
        raise UsageError(
            f'Say why with --reason "…": a notice is {verb} with its reason on record.'
        )
    return reason


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _check_subject(colour_name: str, subject: Subject, charges: str | None) -> None:
    colour = COLOURS[colour_name]
    ref = subject_ref(subject)
    if subject.kind not in colour.kinds:
        if colour.name == "black":
            about = "an unidentified body (a person subject)"
        else:
            kinds = list(colour.kinds)
            listed = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
            about = _a(listed)
        raise CommandError(
            f"A {colour.title} notice is about {about}; {ref} is {_a(subject.kind)}."
        )
    if colour.name == "red":
        if subject.category in ("victim", "witness"):
            raise CommandError(
                f"{ref} is recorded as a {subject.category}; a red notice is for a wanted person "
                "(victims are not treated as offenders)."
            )
        if not charges:
            raise UsageError(
                'A red notice needs --charges "…": the offences the person is wanted for. '
                "(It asks to locate and provisionally arrest; it is not itself an arrest warrant.)"
            )


def _yellow_gaps(subject: Subject) -> list[str]:
    gaps = [
        label
        for label, value in (
            ("sex", subject.sex),
            ("year of birth", subject.dob),
            ("description", subject.description),
        )
        if not value
    ]
    if not gaps:
        return []
    return [
        f"INTERPOL's minimum for a yellow notice also has: {', '.join(gaps)} "
        f"(missing on {subject_ref(subject)})."
    ]


@command(
    "notice issue",
    'notice issue <colour> <S-n> [--charges "…"] [--summary "…"] [--ref EXTERNAL] [--tlp …] '
    "[--to M-3,M-7]",
    "Issue a colour-coded notice about a subject; it is posted to the linked channels.",
    args=(Arg("colour"), Arg("subject", ref=True)),
    flags=(Flag("charges"), Flag("summary"), Flag("ref"), Flag("tlp"), Flag("to")),
    op=OpMode.REQUIRED,
    perm=Perm.ISSUE_NOTICE,
    writes=True,
    action=Action.COLLECT,
    details=(
        "Colours (INTERPOL):\n"
        + COLOUR_HELP
        + "\n  amber is recorded as yellow: AMBER is a national child-abduction alert, "
        "not an INTERPOL colour.\n"
        "A red notice needs --charges and a person subject; it is not itself an arrest warrant.\n"
        "--ref is the external reference (INTERPOL or national). A notice expires after 5 years "
        "unless renewed.\nWhile a red or yellow notice is active, every sighting of its subject "
        "is posted as a MATCH."
    ),
)
async def notice_issue(ctx: CommandContext) -> Reply:
    """Record a notice and post it to the operation's linked channels."""
    op = ctx.operation()
    colour, amber_note = parse_colour(ctx.args["colour"])
    subject = await find_subject(ctx, ctx.args["subject"])
    charges = (ctx.args.get("charges") or "").strip() or None
    _check_subject(colour.name, subject, charges)
    existing = (
        await ctx.session.exec(
            select(Notice).where(
                Notice.subject_id == subject.id,
                Notice.colour == colour.name,
                Notice.status == "active",
                col(Notice.expires_at) > ctx.now,
            )
        )
    ).first()
    if existing is not None:
        raise CommandError(
            f"{subject_ref(subject)} already has an active {notice_title(existing)}; "
            "cancel it before issuing another."
        )
    external = (ctx.args.get("ref") or "").strip() or None
    if external and len(external) > 100:
        raise UsageError("--ref is too long; the limit is 100 characters.")
    requested = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else None
    label, raised = with_floor(requested, TLP(op.tlp), [(subject_ref(subject), subject.tlp)])
    recipients = await parse_recipients(ctx, label)
    notice = Notice(
        operation_id=op.id or 0,
        seq=await ctx.next_seq("notice_seq"),
        colour=colour.name,
        subject_id=subject.id or 0,
        charges=charges,
        summary=(ctx.args.get("summary") or "").strip() or None,
        external_ref=external,
        tlp=label.value,
        status="active",
        issued_by=ctx.member().id,
        issued_at=ctx.now,
        expires_at=years_later(ctx.now, NOTICE_YEARS),
    )
    ctx.session.add(notice)
    ref = notice_ref(notice)
    ctx.audit(
        Action.COLLECT,
        object_ref=f"{op.code}/{ref}",
        reason=f"{colour.name} on {subject_ref(subject)}",
    )
    who = ctx.member().name
    post = notice_message(
        op, notice, subject, tz=zone(op.timezone), now=ctx.now, issued_by=who, for_channel=True
    )
    readers: set[int] = set()
    if label is TLP.RED:
        await ctx.session.flush()
        sources = (
            [("subject", subject.id, subject.created_by)] if TLP(subject.tlp) is TLP.RED else []
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
    message = notice_message(op, notice, subject, tz=await ctx.tz(), now=ctx.now, issued_by=who)
    message.title = f"Issued {message.title}"
    notes = [n for n in (amber_note, raised) if n]
    if colour.name == "yellow":
        notes += _yellow_gaps(subject)
    message.lines = [*notes, *message.lines, *posted]
    return Reply(message)


def _neutral(ctx: CommandContext, notice: Notice, subject: Subject, what: str) -> Message | None:
    """The channels' neutral line for a notice about a protected person (else None)."""
    if not protection.is_protected(subject, ctx.now):
        return None
    return protection.neutral_notice(ctx.operation(), notice, what)


async def _post_change(
    ctx: CommandContext, post: Message, notice: Notice, subject: Subject, label: TLP, what: str
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


async def _readers(ctx: CommandContext, notice: Notice) -> set[int]:
    """The readers of a TLP:RED notice: its recipients and its author."""
    found = await protection.recipients_of(ctx.session, "notice", notice.id)
    if notice.issued_by is not None:
        found.add(notice.issued_by)
    return found


@command(
    "notice list",
    "notice list [OP] [--all] [--page N]",
    "List active notices (with --all: cancelled and expired ones too).",
    flags=(Flag("all", kind="bool"), Flag("page")),
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
            .join(Subject, col(Subject.id) == col(Notice.subject_id))
            .where(Notice.operation_id == op.id)
            .order_by(col(Notice.seq).desc())
        )
    ).all()
    if not show_all:
        rows = [r for r in rows if notice_active(r[0], ctx.now)]
    role = await reader(ctx)
    readable = [(n, s) for n, s in rows if may_read_notice(role, n, s)]
    page = paginate(readable, number, PAGE_SIZE)
    empty = "No notices." if show_all else "No active notices (`notice list --all` for the others)."
    audit_consult(ctx, [notice_ref(n) for n, _ in page.items], "notices")
    return Reply(
        paged_message(
            op,
            title=f"{op.code} {'notices' if show_all else 'active notices'}",
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
    "Show a notice, its state and its matching sightings.",
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
    names = await member_names(ctx, [notice.issued_by])
    message = notice_message(
        op,
        notice,
        subject,
        tz=await ctx.tz(),
        now=ctx.now,
        issued_by=names.get(notice.issued_by or 0),
        matches=shown,
    )
    message.lines += hidden_line(len(matches) - len(shown))
    audit_consult(
        ctx,
        [notice_ref(notice), subject_ref(subject)] + [f"SG-{s.seq}" for s in shown],
        notice_ref(notice),
    )
    return Reply(message)


@command(
    "notice cancel",
    'notice cancel <N-n> --reason "…"',
    "Cancel a notice, with the reason (lead); the channels are told.",
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
        raise CommandError(f"{notice_title(notice)} is already cancelled.")
    notice.status = "cancelled"
    notice.cancelled_at = ctx.now
    notice.cancel_reason = reason
    ctx.session.add(notice)
    ref = notice_ref(notice)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}", reason=f"cancelled: {reason}")
    label = notice_tlp(notice, subject)
    post = Message(
        title=f"{notice_title(notice)} cancelled — {subject_name(subject)}",
        fields=[("Reason", reason), ("Cancelled by", ctx.member().name)],
        lines=["Sightings of this subject are no longer posted as a match of this notice."]
        if COLOURS[notice.colour].matches
        else [],
        context=context_line(op, ref, label, f"about {subject_ref(subject)}"),
        tlp=protection.disclosure_label(label, subject, now=ctx.now).value,
    )
    posted = await _post_change(ctx, post, notice, subject, label, "cancelled")
    return Reply(
        Message(
            lines=[
                f"{notice_title(notice)} on {subject_name(subject)} is cancelled.",
                *posted,
            ],
            context=context_line(op, ref, label),
            tlp=label.value,
        )
    )


@command(
    "notice renew",
    'notice renew <N-n> --reason "…"',
    "Renew a notice for another 5 years, with the re-justification.",
    args=(Arg("ref", ref=True),),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.ISSUE_NOTICE,
    writes=True,
    action=Action.ALTER,
    details="INTERPOL asks the source to re-justify a notice before its 5 years run out.",
)
async def notice_renew(ctx: CommandContext) -> Reply:
    """Extend an (active or expired) notice 5 years from now."""
    op = ctx.operation()
    notice, subject = await find_notice(ctx, ctx.args["ref"])
    reason = _reason(ctx, "renewed")
    if notice.status == "cancelled":
        raise CommandError(f"{notice_title(notice)} is cancelled; issue a new one instead.")
    was = notice_state(notice, ctx.now)
    notice.expires_at = years_later(ctx.now, NOTICE_YEARS)
    notice.renewed_at = ctx.now
    ctx.session.add(notice)
    ref = notice_ref(notice)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}", reason=f"renewed ({was}): {reason}")
    label = notice_tlp(notice, subject)
    until = format_time(notice.expires_at, zone(op.timezone))
    post = Message(
        title=f"{notice_title(notice)} renewed — {subject_name(subject)}",
        fields=[("Until", until), ("Reason", reason)],
        context=context_line(op, ref, label, f"about {subject_ref(subject)}"),
        tlp=protection.disclosure_label(label, subject, now=ctx.now).value,
    )
    posted = await _post_change(ctx, post, notice, subject, label, "renewed")
    return Reply(
        Message(
            lines=[
                f"{notice_title(notice)} is renewed until "
                f"{format_time(notice.expires_at, await ctx.tz())}.",
                *posted,
            ],
            context=context_line(op, ref, label),
            tlp=label.value,
        )
    )
