"""Victim care (issue 28): `victim age`, `victim refer`, `victim show`.

A victim's age is assessed and recorded with who assessed it and when; the presumption of
childhood (Directive 2011/36/EU Art. 13(2)) follows only a recorded reason to believe the
person is under 18. Referrals: the National Referral Mechanism (agency, reference, date,
consent given or refused; a reflection and recovery period with a reminder to the referrer
and the leads a week before it ends), child protection (a child only), and the hand-over
to an NGO partner. All of it is read as the victim is (`bot.core.disclosure`, clause 9).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.base.i18n import N_, _, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, Denied, UsageError
from bot.commands.intel import audit_consult, find_subject, member_names, reader
from bot.commands.operations import find_member_in_op, member_ref
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.contracts import Reply
from bot.core.access import TLP, Perm, Role
from bot.core.disclosure import is_child
from bot.core.protection import deliver_private, disclosure_label
from bot.core.victims import (
    CONSENT,
    MAX_AGE,
    REFERRAL_KINDS,
    VictimCare,
    reflection_reminder_at,
    victims_seen,
)
from bot.store.audit import Action
from bot.store.models import Member, ReadGrant, Subject
from bot.store.models_victims import AgeAssessment, VictimReferral

KIND_NAMES = {
    "nrm": N_("National Referral Mechanism"),
    "child-protection": N_("child protection"),
    "ngo": N_("hand-over to NGO"),
}
_AGE = re.compile(r"^([0-9]{1,3})(?:-([0-9]{1,3}))?$")
MAX_REFLECTION_DAYS = 365


def _ref(subject: Subject) -> str:
    return f"S-{subject.seq}"


def _victim(subject: Subject) -> None:
    """Refuse a subject that is not a person recorded as a victim."""
    if subject.kind != "person" or subject.category != "victim":
        raise CommandError(
            _("{ref} is not recorded as a victim; victim records are kept for victims.").format(
                ref=_ref(subject)
            )
        )


def parse_age(raw: object, flag: str) -> tuple[int, int]:
    """`16` or `15-17`: an age or a range of whole years, 0 to 120."""
    m = _AGE.match(str(raw).strip())
    low = int(m.group(1)) if m else -1
    high = int(m.group(2) or m.group(1)) if m else -1
    if not m or not 0 <= low <= high <= MAX_AGE:
        raise UsageError(
            _("{flag} takes an age or a range of years, like 16 or 15-17.").format(flag=flag)
        )
    return low, high


def parse_day(raw: object, today: date) -> date:
    """`YYYY-MM-DD`, not after today."""
    try:
        day = date.fromisoformat(str(raw).strip())
    except ValueError:
        raise UsageError(
            _("'{raw}' is not a date; use YYYY-MM-DD, like 2026-12-01.").format(raw=str(raw)[:40])
        ) from None
    if day > today:
        raise UsageError(_("{day} is ahead; a referral is recorded once made.").format(day=day))
    return day


def age_line(a: AgeAssessment, by: str, tz: ZoneInfo) -> str:
    """`apparent 15-17, states 19, disputed; reason to believe under 18: … — by mia, …`."""
    apparent = (
        str(a.apparent_low)
        if a.apparent_low == a.apparent_high
        else (f"{a.apparent_low}-{a.apparent_high}")
    )
    parts = [_("apparent age {age}").format(age=apparent)]
    if a.stated_age is not None:
        parts.append(_("states {age}").format(age=a.stated_age))
    if a.disputed:
        parts.append(_("age disputed"))
    if a.minor_reason:
        parts.append(_("reason to believe under 18: {reason}").format(reason=a.minor_reason))
    return _("{what} — assessed by {name}, {time}").format(
        what="; ".join(parts), name=by, time=format_time(a.assessed_at, tz)
    )


def referral_line(r: VictimReferral, tz: ZoneInfo, child: bool) -> str:
    """One referral: kind, agency, reference, date, consent, reflection period."""
    out = f"{_(KIND_NAMES[r.kind])}: {r.agency}"
    if r.reference:
        out += f" ({r.reference})"
    out += ", " + _("referred {day}").format(day=r.referred_on.isoformat())
    if r.kind == "nrm":
        if r.consent == "given":
            out += ", " + _("consent given")
        elif r.consent == "refused":
            out += ", " + _("consent refused")
        elif child:
            out += ", " + _("a child: referred without needing consent")
    if r.reflection_ends is not None:
        out += ", " + _("reflection period until {time}").format(
            time=format_time(r.reflection_ends, tz)
        )
    return out


@command(
    "victim age",
    'victim age <S-n> --apparent N|N-M [--stated N] [--disputed] [--minor-reason "…"]',
    N_("Record an assessment of a victim's age: who assessed it, when, and why."),
    args=(Arg("ref", ref=True),),
    flags=(
        Flag("apparent", required=True),
        Flag("stated"),
        Flag("disputed", kind="bool"),
        Flag("minor-reason"),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.ADD_SUBJECT,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "A person of uncertain age is presumed a child (Directive 2011/36/EU Art. 13(2)) only "
        "where there is a reason to believe they are under 18: record it with "
        '--minor-reason "…". An apparent or stated age under 18 is such a reason and must be '
        "recorded with it. A later assessment replaces the one in force; all are kept."
    ),
)
async def victim_age(ctx: CommandContext) -> Reply:
    """Record one age assessment of a victim and set the presumption of childhood."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["ref"])
    _victim(subject)
    low, high = parse_age(ctx.args["apparent"], "--apparent")
    stated = parse_age(ctx.args["stated"], "--stated")[0] if ctx.args.get("stated") else None
    reason = str(ctx.args.get("minor-reason") or "").strip()[:1000] or None
    young = low < 18 or (stated is not None and stated < 18)
    if young and reason is None:
        raise UsageError(
            _(
                "An apparent or stated age under 18 is a reason to believe {ref} is a child; "
                'record it with --minor-reason "…".'
            ).format(ref=_ref(subject))
        )
    row = AgeAssessment(
        operation_id=op.id or 0,
        subject_id=subject.id or 0,
        apparent_low=low,
        apparent_high=high,
        stated_age=stated,
        disputed=bool(ctx.args.get("disputed")),
        minor_reason=reason,
        assessed_by=ctx.member().id,
        assessed_at=ctx.now,
    )
    ctx.session.add(row)
    subject.child_presumed = reason is not None
    ctx.session.add(subject)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{_ref(subject)}", reason="age assessment")
    tz = await ctx.tz()
    lines = [age_line(row, ctx.member().name, tz)]
    if is_child(subject, ctx.now):
        lines.append(
            _("{ref} is treated as a child until the age is established.").format(ref=_ref(subject))
            if reason is not None and not subject.dob
            else _("{ref} is a child.").format(ref=_ref(subject))
        )
    elif subject.dob and reason is not None:
        lines.append(
            _("The date of birth on record ({dob}) settles the age.").format(dob=subject.dob)
        )
    return Reply(
        Message(
            title=_("Age of {ref} assessed").format(ref=_ref(subject)),
            lines=lines,
            tlp=disclosure_label(TLP(subject.tlp), subject, now=ctx.now).value,
        )
    )


@command(
    "victim refer",
    "victim refer <S-n> <nrm|child-protection|ngo> --agency NAME [--ref REF] [--on YYYY-MM-DD] "
    '[--consent given|refused] [--reflection DAYS] [--to M-n] [--note "…"]',
    N_("Record a victim's referral: NRM, child protection, or hand-over to an NGO partner."),
    args=(Arg("subject", ref=True), Arg("kind")),
    flags=(
        Flag("agency", required=True),
        Flag("ref"),
        Flag("on"),
        Flag("consent"),
        Flag("reflection", kind="int", low=1, high=MAX_REFLECTION_DAYS),
        Flag("note"),
        Flag("to"),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.ADD_SUBJECT,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        "nrm: the National Referral Mechanism; an adult's referral records --consent given "
        "or refused (a child is referred without needing consent); --reflection DAYS starts "
        "the reflection and recovery period on the referral date: you and the leads are "
        "reminded in private a week before it ends. child-protection: for a child (or a "
        "person presumed one). ngo: the hand-over to an NGO partner (--agency names it); "
        "with --to M-n (a lead) the partner of that NGO who takes the victim on is granted to "
        "read them by name and told in private. --on: the referral's date (default today)."
    ),
)
async def victim_refer(ctx: CommandContext) -> Reply:
    """Record one referral of a victim."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["subject"])
    _victim(subject)
    kind = str(ctx.args["kind"]).strip().lower()
    if kind not in REFERRAL_KINDS:
        raise UsageError(
            _("'{kind}' is not a referral; use one of {kinds}.").format(
                kind=ctx.args["kind"], kinds=", ".join(REFERRAL_KINDS)
            )
        )
    tz = await ctx.tz()
    child = is_child(subject, ctx.now)
    consent = str(ctx.args.get("consent") or "").strip().lower() or None
    if consent is not None and consent not in CONSENT:
        raise UsageError(_("--consent is given or refused."))
    if consent is not None and kind != "nrm":
        raise UsageError(_("--consent belongs to an NRM referral."))
    if kind == "nrm" and consent is None and not child:
        raise UsageError(
            _(
                "An adult's NRM referral records their consent: add --consent given or "
                "--consent refused."
            )
        )
    if kind == "child-protection" and not child:
        raise CommandError(
            _(
                "{ref} is not recorded as a child; record the reason to believe they are "
                'under 18 with `victim age {ref} --apparent … --minor-reason "…"` first.'
            ).format(ref=_ref(subject))
        )
    days = ctx.args.get("reflection")
    if days is not None and kind != "nrm":
        raise UsageError(_("--reflection belongs to an NRM referral."))
    today = ctx.now.astimezone(tz).date()
    on = parse_day(ctx.args["on"], today) if ctx.args.get("on") else today
    ends: datetime | None = None
    if days is not None:
        ends = datetime.combine(on + timedelta(days=int(days)), time(0), tz)
        if ends <= ctx.now:
            raise UsageError(
                _("A reflection period of {n} days from {day} has already ended.").format(
                    n=days, day=on.isoformat()
                )
            )
    agency = str(ctx.args["agency"]).strip()[:200]
    if not agency:
        raise UsageError(_("--agency names who the victim was referred to."))
    handed = await _handed_to(ctx, kind, subject) if ctx.args.get("to") else None
    row = VictimReferral(
        operation_id=op.id or 0,
        subject_id=subject.id or 0,
        kind=kind,
        agency=agency,
        reference=str(ctx.args.get("ref") or "").strip()[:100] or None,
        referred_on=on,
        consent=consent,
        reflection_ends=ends,
        note=str(ctx.args.get("note") or "").strip()[:1000] or None,
        handed_to=handed.id if handed is not None else None,
        referred_by=ctx.member().id,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    await ctx.session.flush()
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/{_ref(subject)}", reason=f"referral {kind}")
    lines = [referral_line(row, tz, child)]
    if handed is not None:
        lines += await _hand_over(ctx, subject, handed, row)
    remind = reflection_reminder_at(row)
    if remind is not None:
        ctx.schedule_changed("referral", row.id or 0)
        lines.append(
            _("You and the leads are reminded in private on {time}.").format(
                time=format_time(remind, tz)
            )
            if remind > ctx.now
            else _("The period ends within a week: no reminder is due.")
        )
    return Reply(
        Message(
            title=_("{ref} referred").format(ref=_ref(subject)),
            lines=lines,
            tlp=disclosure_label(TLP(subject.tlp), subject, now=ctx.now).value,
        )
    )


async def _handed_to(ctx: CommandContext, kind: str, subject: Subject) -> Member:
    """The partner a victim is handed over to (`--to`): a lead's decision, as a grant is."""
    if kind != "ngo":
        raise UsageError(_("--to names the NGO partner of a hand-over (ngo)."))
    if ctx.role is not Role.LEAD:
        raise Denied(
            _(
                "Handing {ref} over to a named partner lets them read the victim: a lead "
                "records it."
            ).format(ref=_ref(subject))
        )
    member, membership = await find_member_in_op(ctx, str(ctx.args["to"]))
    if membership.role != Role.PARTNER.value:
        raise CommandError(
            _("{name} is a {role} in {op}; a hand-over goes to a partner (NGO).").format(
                name=member.name, role=membership.role, op=ctx.operation().code
            )
        )
    return member


async def _hand_over(
    ctx: CommandContext, subject: Subject, member: Member, row: VictimReferral
) -> list[str]:
    """Grant the partner to read the victim by name (as `subject grant` does), and tell
    them in private."""
    op = ctx.operation()
    exists = (
        await ctx.session.exec(
            select(ReadGrant).where(
                ReadGrant.subject_id == subject.id, ReadGrant.member_id == member.id
            )
        )
    ).first()
    if exists is None:
        ctx.session.add(
            ReadGrant(
                subject_id=subject.id or 0,
                member_id=member.id or 0,
                granted_by=ctx.member().id,
                granted_at=ctx.now,
            )
        )
    with use_language(member.language):
        notice = Message(
            title=_("{op}: {ref} is handed over to you").format(op=op.code, ref=_ref(subject)),
            lines=[
                _("{by} handed {ref} {name} over to {agency}; you may now read them.").format(
                    by=ctx.member().name, ref=_ref(subject), name=subject.name, agency=row.agency
                ),
                _("See `victim show {op}/{ref}`.").format(op=op.code, ref=_ref(subject)),
            ],
            tlp=TLP.RED.value,
        )
    sent = await deliver_private(
        ctx.session,
        now=ctx.now,
        op=op,
        member_ids=[member.id or 0],
        message=notice,
        kind="handover",
        object_ref=_ref(subject),
        tlp=TLP.RED,
    )
    ctx.posts += len(sent.reached)
    out = [
        _("{name} ({mref}) may now read {ref}.").format(
            name=member.name, mref=member_ref(member), ref=_ref(subject)
        )
    ]
    note = sent.summary(_("The hand-over"))
    return out + ([note] if note else [])


def care_lines(care: VictimCare, names: dict[int, str], tz: ZoneInfo) -> list[str]:
    """A victim's care record, for `victim show`."""
    lines = []
    if care.assessments:
        lines.append(_("Age assessments (latest last):"))
        lines += [
            "  " + age_line(a, names.get(a.assessed_by or 0, _("unknown")), tz)
            for a in care.assessments
        ]
    else:
        lines.append(_("Age: not assessed."))
    if care.child:
        lines.append(_("Treated as a child."))
    if care.referrals:
        lines.append(_("Referrals:"))
        lines += ["  " + referral_line(r, tz, care.child) for r in care.referrals]
    owed = care.open_items()
    if owed:
        lines.append(_("Open: {items}.").format(items=", ".join(_(KIND_NAMES[k]) for k in owed)))
    return lines


@command(
    "victim show",
    "victim show <S-n>",
    N_("Show a victim's age assessments, referrals and reflection period."),
    args=(Arg("ref", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def victim_show(ctx: CommandContext) -> Reply:
    """One victim's care record, as the reader may read the victim."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["ref"])
    _victim(subject)
    who = await reader(ctx)
    cares = [
        c for c in await victims_seen(ctx.session, op, who, ctx.now) if c.subject.id == subject.id
    ]
    if not cares:  # erased since, or not a victim any more
        raise CommandError(
            _("{ref}'s record is read with `subject show`.").format(ref=_ref(subject))
        )
    care = cares[0]
    ids = [a.assessed_by for a in care.assessments]
    names = await member_names(ctx, ids)
    audit_consult(ctx, [_ref(subject)], _ref(subject))
    return Reply(
        Message(
            title=_("Victim {ref} {name}").format(ref=_ref(subject), name=subject.name),
            lines=care_lines(care, names, await ctx.tz()),
            tlp=disclosure_label(TLP(subject.tlp), subject, now=ctx.now).value,
        )
    )
