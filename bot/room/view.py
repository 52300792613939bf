"""What one member may see of one operation, read through the command core's own functions.

The view is built in one transaction for that member's live membership (a removed member
gets None) and read through the disclosure rule (`bot.core.disclosure`), as chat reads:
sightings as `sightings` lists them, notices as `notice list`, raids part by part as `raid
show` shows them, the briefing as `brief` builds it in a private chat. A view that is
shown (`audit=True`) writes one `consult` entry naming what it showed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import _
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import Core
from bot.commands.duties import tick_refusal
from bot.commands.intel import sighting_tlp
from bot.commands.relations import readable_relations
from bot.commands.render import (
    notice_about,
    notice_ref,
    notice_title,
    sighting_ref,
    subject_name,
    subject_ref,
)
from bot.commands.surface import ROOM_PLATFORM
from bot.contracts import Actor, Channel, Invocation
from bot.core import briefing, raidview, reads
from bot.core.access import TLP, Perm, Role, role_allows
from bot.core.disclosure import Level, RaidPart, Reader, load_reader
from bot.core.raid_duties import holders
from bot.core.room_tokens import SignedIn
from bot.store import audit
from bot.store.audit import Action
from bot.store.models import (
    Agency,
    BriefSchedule,
    Member,
    Membership,
    Notice,
    Operation,
    Raid,
    Subject,
)

MAX_SIGHTINGS = 500  # newest observed first; the map stays readable and the page light
MAX_EVENTS = 200
ROOM_CHANNEL = "web"


@dataclass
class Spot:
    """One sighting on the map and in the timeline."""

    ref: str
    what: str
    group: str  # markers by subject: the subject's reference, or "other"
    location: str
    lat: float | None
    lon: float | None
    observed: str  # ISO 8601, UTC (the time slider)
    shown: str  # in the reader's time zone, UTC beside it
    tlp: str
    grade: str | None
    match: bool


@dataclass
class Event:
    """One line of the timeline."""

    at: str  # ISO 8601, UTC (sorting)
    shown: str
    kind: str  # sighting notice raid tick
    text: str


@dataclass
class Item:
    """One checklist item as `raid show` shows it to this member, and what they may do."""

    position: int
    phase: str  # the phase's title, in the reader's language
    line: str  # `3. Drive-by done — site commander`, and who ticked it when
    done: bool
    may: str | None  # "check", "uncheck" or None (this member cannot change it here)
    why_not: str | None = None  # why not, in `check`'s own words


@dataclass
class RaidCard:
    """One raid as `raid show` shows it to this member, with the items they may tick."""

    seq: int
    message: dict[str, Any]
    open_items: list[int] = field(default_factory=list)  # positions this member may tick
    ticked_items: list[int] = field(default_factory=list)  # positions this member may untick
    items: list[Item] = field(default_factory=list)
    status: str = "planned"


@dataclass
class RaidPin:
    """A raid on the map: only for a reader who reads its address (its place is one)."""

    ref: str
    title: str
    status: str
    location: str
    lat: float
    lon: float


@dataclass
class View:
    """The situation room of one operation for one member."""

    code: str
    name: str
    status: str
    role: str
    tlp: str
    spots: list[Spot]
    events: list[Event]
    raids: list[RaidCard]
    briefing: dict[str, Any]
    pins: list[RaidPin]
    briefings_sent: list[str]
    members: list[tuple[str, str, str]]  # name, agency code, role
    agencies: list[tuple[str, str, str]]  # code, name, country

    def fingerprint(self) -> str:
        """A digest of everything shown: equal digests, nothing new to show."""
        return hashlib.sha256(
            json.dumps(asdict(self), sort_keys=True, default=str).encode()
        ).hexdigest()


async def my_operations(session: AsyncSession, member_id: int) -> list[tuple[Operation, Role]]:
    """The operations the member belongs to now, with their role, by code."""
    rows = (
        await session.exec(
            select(Operation, Membership.role)
            .join(Membership, col(Membership.operation_id) == col(Operation.id))
            .where(Membership.member_id == member_id)
            .order_by(col(Operation.code))
        )
    ).all()
    return [(op, Role(role)) for op, role in rows]


def room_invocation(signed: SignedIn, text: str = "") -> Invocation:
    """The member acting from the room: their identity, in a channel-less surface."""
    return Invocation(
        actor=Actor(signed.identity.platform, signed.identity.key, signed.member.name),
        channel=Channel(ROOM_PLATFORM, ROOM_CHANNEL, name="situation room", is_group=False),
        text=text,
    )


@dataclass
class _Seat:
    """One member reading one operation in the room: what the view is built for."""

    session: AsyncSession
    op: Operation
    role: Role
    member: Member
    reader: Reader
    tz: ZoneInfo
    now: datetime


def _zone(*names: str | None) -> ZoneInfo:
    """The first valid time zone of `names` (member, agency, operation), else UTC."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ValueError, KeyError):
                continue
    return ZoneInfo("UTC")


async def _seat(session: AsyncSession, signed: SignedIn, code: str, now: datetime) -> _Seat | None:
    """The member's live membership of `code` and their reader (the disclosure rule)."""
    row = (
        await session.exec(
            select(Operation, Membership.role)
            .join(Membership, col(Membership.operation_id) == col(Operation.id))
            .where(Operation.code == code, Membership.member_id == signed.member.id)
        )
    ).first()
    if row is None:
        return None
    op, role = row[0], Role(row[1])
    member = signed.member
    agency = await session.get(Agency, member.agency_id) if member.agency_id else None
    who = await load_reader(session, op, member.id, role, now)
    tz = _zone(member.timezone, agency.timezone if agency else None, op.timezone)
    return _Seat(session, op, role, member, who, tz, now)


async def load_view(core: Core, signed: SignedIn, code: str, *, audit_it: bool) -> View | None:
    """The member's view of operation `code`; None unless they belong to it now."""
    now = core.clock()
    async with core.store.transaction() as session:
        seat = await _seat(session, signed, code, now)
        if seat is None:
            return None
        view, shown_refs = await _build(seat)
        if audit_it:
            member = signed.member
            await audit.append(
                session,
                at=now,
                actor=f"{member.name} ({signed.identity.platform}:{signed.identity.key})",
                actor_id=member.id,
                action=Action.CONSULT,
                command="room",
                operation_id=seat.op.id,
                object_ref=f"{code}/room",
                channel=f"{ROOM_PLATFORM}:{ROOM_CHANNEL}",
                reason=("read " + ",".join(shown_refs))[:1000] if shown_refs else None,
            )
    return view


async def _build(seat: _Seat) -> tuple[View, list[str]]:
    op, role, session, who, tz = seat.op, seat.role, seat.session, seat.reader, seat.tz
    # How many are hidden is not shown (nor fingerprinted): a count that moves would tell
    # a reader that something they may not see just happened.
    ids, _hidden = await reads.readable_sightings(session, op.id, who)
    rows = await reads.load_sightings(session, ids[:MAX_SIGHTINGS], who)
    shown_refs: list[str] = []
    spots: list[Spot] = []
    events: list[Event] = []
    for sg, subject in rows:
        ref = sighting_ref(sg)
        shown_refs.append(ref)
        what = subject_name(subject) if subject is not None else f"“{sg.description}”"
        spot = Spot(
            ref=ref,
            what=what,
            group=subject_ref(subject) if subject is not None else "other",
            location=sg.location,
            lat=sg.lat,
            lon=sg.lon,
            observed=sg.observed_at.isoformat(),
            shown=format_time(sg.observed_at, tz),
            tlp=sighting_tlp(sg, subject).label,
            grade=sg.grade,
            match=sg.match_notice_id is not None,
        )
        spots.append(spot)
        mark = "MATCH · " if spot.match else ""
        events.append(
            Event(
                spot.observed,
                spot.shown,
                "sighting",
                _("{mark}{ref} {what} at {place}").format(
                    mark=mark, ref=ref, what=what, place=sg.location
                ),
            )
        )
    notices = (
        await session.exec(
            select(Notice, Subject)
            .outerjoin(Subject, col(Subject.id) == col(Notice.subject_id))  # purple: none
            .where(Notice.operation_id == op.id, col(Notice.erased_at).is_(None))
        )
    ).all()
    for notice, subject in notices:
        if who.item("notice", notice.id, notice.recorded_by, notice.tlp, subject) is Level.NONE:
            continue
        shown_refs.append(notice_ref(notice))
        text = _("{ref} {notice} recorded — {subject}").format(
            ref=notice_ref(notice), notice=notice_title(notice), subject=notice_about(subject)
        )
        events.append(
            Event(
                notice.recorded_at.isoformat(), format_time(notice.recorded_at, tz), "notice", text
            )
        )
        if notice.cancelled_at is not None:
            events.append(
                Event(
                    notice.cancelled_at.isoformat(),
                    format_time(notice.cancelled_at, tz),
                    "notice",
                    _("{ref} cancelled").format(ref=notice_ref(notice)),
                )
            )
    for typed in await readable_relations(session, who, op.id or 0, limit=MAX_EVENTS):
        shown_refs.extend(subject_ref(s) for s in (typed.a, typed.b))
        created = typed.row.created_at
        events.append(Event(created.isoformat(), format_time(created, tz), "link", typed.line()))
    raids = (
        await session.exec(select(Raid).where(Raid.operation_id == op.id).order_by(col(Raid.at)))
    ).all()
    cards: list[RaidCard] = []
    pins: list[RaidPin] = []
    may_tick = role_allows(role, Perm.TICK_ITEM)
    ticker_ids: set[int] = set()
    raid_items = {}
    for raid in raids:
        items = await raidview.load_items(session, raid.id)
        raid_items[raid.id] = items
        ticker_ids |= {i.done_by for i in items if i.done_by is not None}
    names = await reads.member_names(session, ticker_ids)
    held: dict[str, Member]
    for raid in raids:
        items = raid_items[raid.id]
        can_tick: frozenset[str | None] | None = None
        if role is Role.PARTNER:
            can_tick = frozenset({"partner"})
        elif not may_tick:
            can_tick = frozenset()
        if who.raid(op, raid, RaidPart.TIME) is Level.NONE:
            continue
        if role is Role.PARTNER:  # the items they hold, as `raid show` shows them
            held = await holders(session, raid)
            mine = {d for d, m in held.items() if m.id == seat.member.id}
            can_tick = frozenset({*mine, *(() if "partner" in held else ("partner",))})
        message = await raidview.card(
            session, op, raid, items, reader_tz=str(tz), can_tick=can_tick, reader=who
        )
        message.buttons = []  # the room draws its own tick forms
        ref = raidview.raid_ref(raid)
        shown_refs.append(ref)
        open_items: list[int] = []
        ticked: list[int] = []
        row_items = {i.position: i for i in items}
        held = {}
        if may_tick and raid.status != "aborted":
            held = await holders(session, raid)
            me = seat.member.id
            for i in items:
                if i.done_at is not None:
                    if i.done_by == me:  # another's tick: a lead, with a reason, in chat
                        ticked.append(i.position)
                elif tick_refusal(role, me, raid, i, held) is None:  # exactly `check`'s rule
                    open_items.append(i.position)
        item_rows = _items(message.lines, {i.position: i for i in items}, open_items, ticked)
        if may_tick and raid.status != "aborted":
            for row in item_rows:
                if row.may is None and not row.done:
                    item = row_items[row.position]
                    refusal = tick_refusal(role, seat.member.id, raid, item, held)
                    row.why_not = refusal.sentence if refusal is not None else None
        cards.append(
            RaidCard(raid.seq, message.to_json(), open_items, ticked, item_rows, status=raid.status)
        )
        if (
            raid.lat is not None
            and raid.lon is not None
            and who.raid(op, raid, RaidPart.ADDRESS) is Level.FULL
        ):
            pins.append(
                RaidPin(ref, raid.title, raid.status, raid.location or "", raid.lat, raid.lon)
            )
        title = raid.title
        events.append(
            Event(
                raid.created_at.isoformat(),
                format_time(raid.created_at, tz),
                "raid",
                _("{ref} {title} planned for {when}").format(
                    ref=ref, title=title, when=raidview.when(raid, str(tz))
                ),
            )
        )
        if raid.status != "planned":
            events.append(
                Event(
                    raid.updated_at.isoformat(),
                    format_time(raid.updated_at, tz),
                    "raid",
                    _("{ref} {title}: {status}").format(ref=ref, title=title, status=raid.status),
                )
            )
        for i in items:
            if (
                i.done_at is not None
                and who.raid_item(op, raid, i, {r for r in can_tick or () if r}) > Level.NONE
            ):
                by = names.get(i.done_by or 0, "someone")
                events.append(
                    Event(
                        i.done_at.isoformat(),
                        format_time(i.done_at, tz),
                        "tick",
                        _("✓ {ref} {item} — ticked by {who}").format(
                            ref=ref, item=raidview.item_line(i), who=by
                        ),
                    )
                )
    events.sort(key=lambda e: e.at, reverse=True)
    brief: Message = await briefing.build(
        session,
        op,
        now=seat.now,
        since=None,
        reader=who,
        tz=str(tz),
        title=_("Briefing now"),
    )
    fired = (
        await session.exec(
            select(BriefSchedule.last_fired_at)
            .where(
                BriefSchedule.operation_id == op.id, col(BriefSchedule.last_fired_at).is_not(None)
            )
            .order_by(col(BriefSchedule.last_fired_at).desc())
            .limit(5)
        )
    ).all()
    members = (
        await session.exec(
            select(Member, Membership, Agency)
            .join(Membership, col(Membership.member_id) == col(Member.id))
            .join(Agency, col(Agency.id) == col(Member.agency_id), isouter=True)
            .where(Membership.operation_id == op.id)
            .order_by(col(Membership.role), col(Member.name))
        )
    ).all()
    agencies = sorted({(a.code, a.name, a.country) for _, _, a in members if a is not None})
    view = View(
        code=op.code,
        name=op.name,
        status=op.status,
        role=role.value,
        tlp=TLP(op.tlp).label,
        spots=spots,
        events=events[:MAX_EVENTS],
        raids=cards,
        briefing=brief.to_json(),
        pins=pins,
        briefings_sent=[format_time(t, tz) for t in fired if t is not None],
        members=[(m.name, a.code if a else "—", ms.role) for m, ms, a in members],
        agencies=agencies,
    )
    return view, shown_refs


def _items(
    lines: list[str], by_position: dict[int, Any], open_items: list[int], ticked: list[int]
) -> list[Item]:
    """The card's checklist lines (`raid show`'s, so the same items and words) as items:
    a phase's title line, then `  ✓ 3. …` or `  ☐ 3. …` for each item the reader sees."""
    phase = ""
    rows: list[Item] = []
    for line in lines:
        if not line.startswith("  "):
            phase = line.rstrip(":")
            continue
        mark, text = line.strip()[:1], line.strip()[1:].strip()
        head = text.split(".", 1)[0]
        if not head.isdigit() or int(head) not in by_position:
            continue
        position = int(head)
        may = "check" if position in open_items else "uncheck" if position in ticked else None
        rows.append(Item(position, phase, text, mark == "✓", may))
    return rows
