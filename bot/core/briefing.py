"""The IIMARCH briefing (README, "Raids and briefings"): built from the store for one audience.

Information · Intent and Method · Administration · Risk · Communications · Humanitarian.
Everything shown is filtered for the audience: a channel's TLP ceiling (TLP:RED never in a
group) and, for `brief` asked by a person, what their role may read. Items above the
audience are left out entirely, not even counted. Long sections are cut to a few lines
with counts so the briefing stays readable on a phone.

Cost: "new since the last briefing" reads sightings by the (operation_id, reported_at)
index and aggregates in the database, so it costs what is new, not the whole history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _, ngettext
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.core import iimarch, raidview
from bot.core.access import TLP
from bot.core.checklists import SAFEGUARDING_ROLES, item_text, role_title
from bot.core.disclosure import Level, RaidPart, Reader
from bot.core.fanout import linked_channels
from bot.core.protection import protection_words
from bot.core.raid_duties import holders
from bot.core.tasks import tasks_seen
from bot.core.victims import VictimCare, victims_seen
from bot.core.vocabulary import kind_text
from bot.store.models import (
    Agency,
    Member,
    Membership,
    Notice,
    Operation,
    Raid,
    RaidItem,
    Sighting,
    Subject,
)
from bot.store.models_victims import Handover, Task

SECTION_LINES = 5
RAIDS_AHEAD = timedelta(hours=72)
FIRST_WINDOW = timedelta(hours=24)  # "new" for a first briefing
NOTICE_ORDER = ["red", "orange", "yellow", "green", "blue", "purple", "black", "silver", "un"]
THREAT_COLOURS = ("red", "orange")
# Raids whose safeguarding items still count when open, whatever their date (an aborted
# raid's items are moot).
SAFEGUARDING_STATUSES = ("planned", "go", "done")
# Once a raid has the go its preparation is past, once it is done its time on site: the
# items still owed are those of the phases ahead (a done raid's after-items stay open,
# like "Anyone under 18 referred", until ticked).
PHASES_STILL_OPEN = {
    "planned": ("before", "on-site", "after"),
    "go": ("on-site", "after"),
    "done": ("after",),
}
REFERRAL_WORDS = {
    "nrm": N_("NRM referral open"),
    "child-protection": N_("child-protection referral open"),
}


def _may(reader: Reader, tlp: str | TLP) -> bool:
    """Whether an item of this label alone (no subject, no author) may be shown: a
    briefing lists no TLP:RED item (those are read one by one)."""
    return TLP(tlp) is not TLP.RED and reader.item("briefing", None, None, tlp, None) > Level.NONE


def _level(
    reader: Reader,
    kind: str,
    item_id: int | None,
    author: int | None,
    tlp: str,
    subject: Subject | None,
    place_kind: str | None = None,
) -> Level:
    """The disclosure rule's answer for one row; TLP:RED rows are never in a briefing."""
    if TLP(tlp) is TLP.RED or (subject is not None and TLP(subject.tlp) is TLP.RED):
        return Level.NONE
    return reader.item(kind, item_id, author, tlp, subject, place_kind)


@dataclass
class _Shown:
    """The highest label actually shown, for the message's own TLP."""

    top: TLP = TLP.CLEAR
    lines: list[str] = field(default_factory=list)

    def saw(self, tlp: str | TLP) -> None:
        label = TLP(tlp)
        if label.rank > self.top.rank:
            self.top = label


def _more(n: int) -> str:
    return _("… and {n} more").format(n=n)


def _more_subjects(n: int) -> str:
    return ngettext("… and {n} more subject", "… and {n} more subjects", n).format(n=n)


def _cut(
    entries: list[str], total: int | None = None, more: Callable[[int], str] = _more
) -> list[str]:
    total = len(entries) if total is None else total
    out = [f"  {e}" for e in entries[:SECTION_LINES]]
    if total > SECTION_LINES:
        out.append("  " + more(total - SECTION_LINES))
    return out


async def _information(
    s: AsyncSession, op: Operation, since: datetime, now: datetime, reader: Reader, shown: _Shown
) -> tuple[list[str], int, int]:
    """New sightings grouped by subject, and active notices. Returns lines, the match
    count and the count of shown red/orange notices (Risk counts what Information shows).

    Counted from the same rows `sightings` and `notice list` give this reader, filtered by
    the same rule (`bot.core.disclosure`): a briefing never tells what `show` denies."""
    news = (
        await s.exec(
            select(Sighting)
            .where(
                Sighting.operation_id == op.id,
                col(Sighting.erased_at).is_(None),
                col(Sighting.reported_at) > since,
                col(Sighting.reported_at) <= now,
            )
            .order_by(col(Sighting.seq))
        )
    ).all()
    subject_ids = {r.subject_id for r in news if r.subject_id is not None}
    subjects: dict[int, Subject] = {}
    if subject_ids:
        found = (await s.exec(select(Subject).where(col(Subject.id).in_(subject_ids)))).all()
        subjects = {x.id or 0: x for x in found}
    per: dict[int | None, list[int]] = {}  # subject → [count, latest seq, matches]
    latest: dict[int, tuple[Sighting, Level]] = {}
    neutral_subjects: set[int] = set()
    for sg in news:
        subject = subjects.get(sg.subject_id) if sg.subject_id is not None else None
        level = _level(reader, "sighting", sg.id, sg.reporter_id, sg.tlp, subject, sg.place_kind)
        if level is Level.NONE:
            continue
        if subject is not None and reader.subject(subject) is Level.NEUTRAL:
            neutral_subjects.add(subject.id or 0)
        shown.saw(sg.tlp)
        if subject is not None:
            shown.saw(subject.tlp)
        acc = per.setdefault(sg.subject_id, [0, 0, 0])
        acc[0] += 1
        acc[1] = max(acc[1], sg.seq)
        acc[2] += 1 if sg.match_notice_id is not None else 0
        latest[sg.seq] = (sg, level)
    total = sum(v[0] for v in per.values())
    matches = sum(v[2] for v in per.values())
    order = sorted(per.items(), key=lambda kv: -kv[1][0])
    entries = []
    for subject_id, (count, last_seq, _m) in order:
        last, last_level = latest[last_seq]
        where = (
            _(", last {ref} at {place}").format(ref=f"SG-{last_seq}", place=last.location)
            if last_level is Level.FULL
            else ""
        )
        if subject_id is None:
            head = _("Not yet linked to a subject")
        elif subject_id in neutral_subjects:
            # Counted, never named nor placed: see the sightings in private.
            head, where = _("A protected person"), ""
        else:
            sub = subjects[subject_id]
            kind = kind_text(sub.kind, sub.category)
            words = protection_words(sub, now)  # a child is shown as such
            head = f"S-{sub.seq} {sub.name} ({kind}{', ' + words if words else ''})"
        entries.append(
            ngettext("{head}: {n} sighting{where}", "{head}: {n} sightings{where}", count).format(
                head=head, n=count, where=where
            )
        )
    lines = [
        _("New sightings: {n}").format(n=total)
        + (_(" ({n} match a notice)").format(n=matches) if matches else "")
    ]
    lines += _cut(entries, more=_more_subjects)

    notices = (
        await s.exec(
            select(Notice, Subject)
            .join(Subject, col(Subject.id) == col(Notice.subject_id), isouter=True)
            .where(
                Notice.operation_id == op.id,
                Notice.status == "active",
                col(Notice.erased_at).is_(None),
                col(Notice.expires_at) > now,
            )
        )
    ).all()
    visible = [
        (n, sub, level)
        for n, sub in notices
        if (level := _level(reader, "notice", n.id, n.recorded_by, n.tlp, sub)) > Level.NONE
    ]
    # A notice before a diffusion of its colour: INTERPOL reviewed it (issue 28).
    visible.sort(key=lambda ns: (_colour_rank(ns[0].colour), ns[0].kind == "diffusion", -ns[0].seq))
    for n, sub, _level_shown in visible:
        shown.saw(n.tlp)
        if sub is not None:
            shown.saw(sub.tlp)
    lines.append(_("Active notices: {n}").format(n=len(visible)))
    lines += _cut(
        [
            f"N-{n.seq} {n.colour.upper()}"
            + (" " + _("diffusion") if n.kind == "diffusion" else "")
            + " — "
            + (
                _("modus operandi")
                if sub is None
                else _("a protected person")
                if level is Level.NEUTRAL
                else f"S-{sub.seq} {sub.name}"
            )
            for n, sub, level in visible
        ]
    )
    threats = sum(1 for n, _sub, _lv in visible if n.colour in THREAT_COLOURS)
    return lines, matches, threats


def _colour_rank(colour: str) -> int:
    return NOTICE_ORDER.index(colour) if colour in NOTICE_ORDER else len(NOTICE_ORDER)


async def _raids_ahead(
    s: AsyncSession, op: Operation, now: datetime, reader: Reader
) -> list[tuple[Raid, list[RaidItem]]]:
    raids = (
        await s.exec(
            select(Raid)
            .where(
                Raid.operation_id == op.id,
                col(Raid.status).in_(raidview.ACTIVE_STATUSES),
                col(Raid.at) >= now - timedelta(hours=2),
                col(Raid.at) <= now + RAIDS_AHEAD,
            )
            .order_by(col(Raid.at))
        )
    ).all()
    # A briefing shows a raid's code name, time and progress, never its address: the label
    # of those is the raid's time label, not the (stricter) label of its target details.
    return [
        (r, await raidview.load_items(s, r.id))
        for r in raids
        if reader.raid(op, r, RaidPart.TIME) is Level.FULL
    ]


async def _administration(
    s: AsyncSession, op: Operation, reader: Reader, open_items: int, shown: _Shown
) -> list[str]:
    rows = (
        await s.exec(
            select(Agency.code, Membership.role, func.count())
            .select_from(Membership)
            .join(Member, col(Member.id) == col(Membership.member_id))
            .join(Agency, col(Agency.id) == col(Member.agency_id), isouter=True)
            .where(Membership.operation_id == op.id)
            .group_by(col(Agency.code), col(Membership.role))
        )
    ).all()
    members = sum(int(n) for _a, _r, n in rows)
    agencies: dict[str, int] = {}
    for code, _role, n in rows:
        agencies[code or _("no agency")] = agencies.get(code or _("no agency"), 0) + int(n)
    listed = ", ".join(f"{c} ({n})" for c, n in sorted(agencies.items(), key=lambda kv: -kv[1]))
    lines = [iimarch.members_line(members, len(agencies), listed)]
    if _may(reader, TLP.GREEN):  # names stay inside the task force
        leads = (
            await s.exec(
                select(Member.name)
                .join(Membership, col(Membership.member_id) == col(Member.id))
                .where(Membership.operation_id == op.id, Membership.role == "lead")
                .order_by(col(Member.name))
            )
        ).all()
        if leads:
            shown.saw(TLP.GREEN)
            lines.append(_("Leads: {names}").format(names=", ".join(leads)))
    lines.append(_("Open mandatory checklist items (raids ahead): {n}").format(n=open_items))
    return lines


async def _duties(
    s: AsyncSession, op: Operation, raids: list[tuple[Raid, list[RaidItem]]], reader: Reader
) -> list[str]:
    """Who holds each duty of the raids ahead (names only to those who read the raid's
    duties: clause 7); a duty nobody holds is shown as such."""
    out = []
    for raid, items in raids:
        if reader.raid(op, raid, RaidPart.TACTICAL) is not Level.FULL:
            continue
        held = await holders(s, raid)
        needed = sorted({i.role for i in items if i.role is not None})
        parts = [
            f"{role_title(d)} {held[d].name}" if d in held else f"{role_title(d)} —" for d in needed
        ]
        if parts:
            out.append(
                _("{ref} duties: {duties}").format(
                    ref=raidview.raid_ref(raid), duties="; ".join(parts)
                )
            )
    return out


def _task_entries(rows: list[tuple[Task, Member]], now: datetime, tz: str) -> list[str]:
    return [
        _("{ref} {text} — {name}, by {time}").format(
            ref=f"T-{t.seq}", text=t.text, name=m.name, time=format_time(t.due_at, ZoneInfo(tz))
        )
        + (" " + _("(overdue)") if t.due_at <= now else "")
        for t, m in rows
    ]


async def _shift_line(s: AsyncSession, op: Operation, tz: str) -> str:
    last = (
        await s.exec(
            select(Handover, Member)
            .join(Member, col(Member.id) == col(Handover.given_by), isouter=True)
            .where(Handover.operation_id == op.id)
            .order_by(col(Handover.given_at).desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return _("Last hand-over: none yet (`handover`).")
    given, by = last
    return _("Last hand-over: {time} by {name}").format(
        time=format_time(given.given_at, ZoneInfo(tz)), name=by.name if by else _("unknown")
    )


async def _open_safeguarding_items(
    s: AsyncSession, op: Operation, reader: Reader
) -> list[tuple[Raid, RaidItem]]:
    """Every open safeguarding item of the operation's raids, whatever the raid's date."""
    rows = (
        await s.exec(
            select(Raid, RaidItem)
            .join(RaidItem, col(RaidItem.raid_id) == col(Raid.id))
            .where(
                Raid.operation_id == op.id,
                col(Raid.status).in_(SAFEGUARDING_STATUSES),
                col(RaidItem.done_at).is_(None),
                col(RaidItem.role).in_(SAFEGUARDING_ROLES),
            )
            .order_by(col(Raid.at), col(RaidItem.position))
        )
    ).all()
    return [
        (r, i)
        for r, i in rows
        if i.phase in PHASES_STILL_OPEN[r.status]
        and reader.raid(op, r, RaidPart.TIME) is Level.FULL
    ]


def _care_entries(cares: list[VictimCare], shown: _Shown) -> list[str]:
    """Each victim's open referrals (named where the reader may name them)."""
    out = []
    for care in cares:
        owed = care.open_items()
        if not owed:
            continue
        words = ", ".join(_(REFERRAL_WORDS[k]) for k in owed)
        if care.level is Level.FULL:
            shown.saw(care.subject.tlp)
            out.append(f"S-{care.subject.seq} {care.subject.name}: {words}")
        else:
            out.append(_("A protected person: {what}").format(what=words))
    return out


def _reflection_entries(cares: list[VictimCare], now: datetime, tz: str) -> list[str]:
    out = []
    for care in cares:
        for r in care.referrals:
            if r.reflection_ends is None or r.reflection_ends <= now:
                continue
            who = (
                f"S-{care.subject.seq} {care.subject.name}"
                if care.level is Level.FULL
                else _("A protected person")
            )
            out.append(
                _("{who}: reflection period until {time}").format(
                    who=who, time=format_time(r.reflection_ends, ZoneInfo(tz))
                )
            )
    return out


async def _victims(
    s: AsyncSession, op: Operation, since: datetime, reader: Reader
) -> tuple[int, int]:
    """Victims this reader may know of (as `subject list` would count them), and the new."""
    rows = (
        await s.exec(
            select(Subject).where(
                Subject.operation_id == op.id,
                Subject.category == "victim",
                col(Subject.erased_at).is_(None),
            )
        )
    ).all()
    known = [
        x for x in rows if _level(reader, "subject", None, None, TLP.CLEAR.value, x) > Level.NONE
    ]
    return len(known), sum(1 for x in known if x.created_at > since)


async def build(
    s: AsyncSession,
    op: Operation,
    *,
    now: datetime,
    since: datetime | None,
    reader: Reader,
    tz: str,
    late_since: datetime | None = None,
    title: str = N_("Briefing"),
) -> Message:
    """The briefing for `op` as of `now`, with news since `since` (None: the last 24 h),
    as `reader` (a member, or a channel: `bot.core.disclosure`) may read it.

    `late_since` is the time the briefing was due when it is sent late.
    """
    since = since or now - FIRST_WINDOW
    in_zone = ZoneInfo(tz)
    shown = _Shown()
    lines: list[str] = []
    if late_since is not None:
        lines.append(
            _("LATE: due {due}; the bot was down. Sent {sent}.").format(
                due=format_time(late_since, in_zone), sent=format_time(now, in_zone)
            )
        )

    def saw_if_may(tlp: str | TLP) -> bool:
        """Whether this audience may see an item of `tlp` (if so, the briefing shows it)."""
        if _may(reader, tlp):
            shown.saw(tlp)
            return True
        return False

    def tactical(raid: Raid) -> bool:
        """Whether this reader reads a raid's notes (risk score, radio plan)."""
        if reader.raid(op, raid, RaidPart.TACTICAL) is Level.FULL:
            shown.saw(raid.tlp)
            return True
        return False

    info, matches, threats = await _information(s, op, since, now, reader, shown)
    lines += [_("INFORMATION — since {time}").format(time=format_time(since, in_zone)), *info]

    raids = await _raids_ahead(s, op, now, reader)
    for raid, _items in raids:
        shown.saw(raidview.time_label(op, raid))
    entries = [
        f"{raidview.raid_ref(r)} {r.title} — {raidview.when(r, tz)} — {r.status}, "
        f"{raidview.progress(items)}"
        for r, items in raids
    ]
    lines += [_("INTENT"), *iimarch.intent_lines(op, saw_if_may)]
    tasks = [(t, m) for t, m in await tasks_seen(s, op, reader) if TLP(t.tlp) is not TLP.RED]
    for t, _m in tasks:
        shown.saw(t.tlp)
    overdue = sum(1 for t, _m in tasks if t.due_at <= now)
    lines += [
        _("METHOD"),
        "  " + _("Raids in the next 72 h:"),
        *(["  " + e for e in _cut(entries)] or ["    " + _("no raids")]),
        "  " + _("Tasks open: {n} ({late} overdue)").format(n=len(tasks), late=overdue),
        *["  " + e for e in _cut(_task_entries(tasks, now, tz))],
    ]

    open_items = sum(len(raidview.open_mandatory(items)) for _r, items in raids)
    admin = await _administration(s, op, reader, open_items, shown)
    duties = await _duties(s, op, raids, reader)
    for raid, _items in raids:
        if duties and reader.raid(op, raid, RaidPart.TACTICAL) is Level.FULL:
            shown.saw(raid.tlp)
    per: dict[str, int] = {}
    for _t, m in tasks:
        per[m.name] = per.get(m.name, 0) + 1
    if per:
        admin.append(
            _("Open tasks by member: {who}").format(
                who=", ".join(f"{n} ({c})" for n, c in sorted(per.items()))
            )
        )
    admin += duties
    admin.append(await _shift_line(s, op, tz))
    lines += [_("ADMINISTRATION"), *admin]

    # Counted from the notices Information shows: the same label, role and category
    # filter (a partner is never told of notices they may not read).
    risk: list[str] = []
    if threats:
        risk.append(
            ngettext(
                "{n} active red or orange notice: a wanted person or an imminent threat",
                "{n} active red or orange notices: wanted persons or imminent threats",
                threats,
            ).format(n=threats)
        )
    if matches:
        risk.append(
            ngettext(
                "{n} new sighting matches an active notice",
                "{n} new sightings match an active notice",
                matches,
            ).format(n=matches)
        )
    blocked = [
        # English keeps its "item(s)"; each language writes its own plural forms.
        ngettext(
            "{ref}: {n} mandatory item(s) open",
            "{ref}: {n} mandatory item(s) open",
            len(raidview.open_mandatory(items)),
        ).format(ref=raidview.raid_ref(r), n=len(raidview.open_mandatory(items)))
        for r, items in raids
        if r.status == "planned" and raidview.open_mandatory(items)
    ]
    risk += blocked
    risk += iimarch.risk_lines(raids, tactical)
    lines += [_("RISK"), *(_cut(risk) or ["  " + _("nothing flagged")])]

    links = await linked_channels(s, op.id)
    comms = [
        _("{platform} {channel} (up to {label})").format(
            platform=ln.platform,
            channel=ln.channel_name or ln.channel_key,
            label=TLP(ln.max_tlp).label,
        )
        for ln in links
    ]
    comms += iimarch.radio_lines(raids, tactical)
    heading = ngettext("{n} linked channel", "{n} linked channels", len(links))
    lines += [
        _("COMMUNICATIONS — {heading}").format(heading=heading.format(n=len(links))),
        *_cut(comms),
    ]

    victims, new_victims = await _victims(s, op, since, reader)
    items_open = await _open_safeguarding_items(s, op, reader)
    for r, _i in items_open:
        shown.saw(raidview.time_label(op, r))
    cares = [c for c in await victims_seen(s, op, reader, now) if TLP(c.subject.tlp) is not TLP.RED]
    referrals_open = _care_entries(cares, shown)
    safeguarding = referrals_open + [
        f"{raidview.raid_ref(r)} {i.position}. {item_text(i.text)}" for r, i in items_open
    ]
    lines += [
        _("HUMANITARIAN"),
        "  " + _("Victims identified: {n} ({new} new)").format(n=victims, new=new_victims),
        "  "
        + _("Referrals recorded: NRM {nrm}, child protection {child}, NGO hand-over {ngo}").format(
            **{
                key: sum(1 for c in cares for r in c.referrals if r.kind == kind)
                for key, kind in (("nrm", "nrm"), ("child", "child-protection"), ("ngo", "ngo"))
            }
        ),
        "  " + _("Safeguarding items open: {n}").format(n=len(safeguarding)),
        *_cut(safeguarding),
        *_cut(_reflection_entries(cares, now, tz)),
    ]
    return Message(
        title=f"{_(title)}: {op.code} {op.name}",
        fields=[(_("As of"), format_time(now, in_zone))],
        lines=lines,
        context=_("{op} · IIMARCH · shown up to {label}").format(
            op=op.code, label=reader.ceiling.label
        ),
        mark="LATE" if late_since is not None else None,
        tlp=shown.top.value,
    )
