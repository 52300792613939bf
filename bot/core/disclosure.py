"""The disclosure rule: what one reader may see of one record (README "Victim safety and
need-to-know", "TLP"). Every surface asks here — command replies, channel posts, briefings,
hints, search, links, the situation room, the export — and nowhere else.

A reader is a member reading one operation (role, agency, grants by name, TLP:RED items
addressed to them, a running break-glass) or a channel (its ceiling, whether it is a group,
the one agency it reaches). For a record the answer is a `Level`:

- `FULL`: the record as it is;
- `NEUTRAL`: that it exists, in a neutral line ("a protected person", "a raid at 05:30",
  "a protected place"), without the names, places or tactical detail;
- `NONE`: nothing, not even a count.

The clauses, each tested (tests/test_disclosure.py):

1. **Label within reach.** A record above the reader's ceiling is not shown.
2. **TLP:RED** goes to its author and its named recipients only, never to a channel.
3. **TLP:AMBER+STRICT** belongs to the sharer's agency: members of that agency, the author
   and named recipients read it; a channel only if it reaches that agency alone.
4. **Role.** Leads, members and analysts read everything else of their operation; partners
   read victims (short of RED) and GREEN/CLEAR items not about suspects, associates or
   witnesses; observers read up to AMBER.
5. **Protected persons** (victims, witnesses, children) are read by partners and observers
   only where a lead granted it by name; a group channel gets a neutral line.
6. **Protected places** (a shelter, safe house or victim-care location) are never named or
   located in a group channel, to a partner or to an observer: a neutral line.
7. **Raids by part.** Existence, code name, time and status carry the operation's label;
   the address, notes (warrant reference, risk, radio plan, deconfliction) and duties carry
   the raid's label and are read by leads, members and analysts only; partners see the
   items they hold.
8. **Break-glass.** An admin who is not a member reads as a member through a running `op
   access` — visibly (`breakglass`), and every read under it is audited with its reason.
9. **Evidence.** Exhibits and statements (their custody, seals, texts and translations) are
   read by leads, members and analysts only — never by partners, observers or a channel —
   within their label (clauses 1-3), and only by whoever reads the record they hang on:
   the sighting or raid an exhibit was seized with, the subject who made a statement.
10. **The case file.** A lead producing the operation's case file reads every record of it,
   TLP:RED and TLP:AMBER+STRICT included (`Reader.for_case_file`); the export records, in
   the audit, which of those items were disclosed to whom beyond their recipients.
11. **Victim care** (age assessments, referrals to the National Referral Mechanism or child
   protection, reflection periods, hand-overs to an NGO) is read as the victim is: by whom
   may read the person, in full only where the person is not reduced to a neutral line.
12. **Tasks** carry a label; officers read every task within it, partners and observers the
   tasks given to them or by them; a channel within its ceiling.
13. **Typed links** (S-1 `uses-phone` S-4) are read in full only by a reader who reads the
   link's label and both subjects in full.
14. **Deconfliction notices** (a hit across operations) are read by the operation's leads
    alone, never under break-glass, never by a channel: each side learns only its own
    subject's reference, and the other side's leads by name only where that operation
    opened contact (`op deconfliction --contact open`).
"""

from __future__ import annotations

import calendar
import enum
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.access import TLP, Role
from bot.store import tables
from bot.store.fastsql import Prepared
from bot.store.models import (
    Operation,
    Raid,
    RaidItem,
    Sighting,
    Subject,
)
from bot.store.models_casefile import Exhibit, Statement
from bot.store.models_victims import Task

PROTECTED_CATEGORIES = ("victim", "witness")
PARTNER_HIDDEN_CATEGORIES = ("suspect", "associate", "witness")
# A place marked so (`--place-kind shelter`) is protected like a victim (README).
PLACE_KINDS = ("shelter", "safe-house", "victim-care")
ADULT_AGE = 18
OFFICERS = (Role.LEAD, Role.MEMBER, Role.ANALYST)
NEED_TO_KNOW = (Role.PARTNER, Role.OBSERVER)


class Level(enum.IntEnum):
    """How much of a record a reader may see."""

    NONE = 0
    NEUTRAL = 1
    FULL = 2


class RaidPart(enum.StrEnum):
    """The parts of a raid that carry different labels."""

    TIME = "time"  # existence, code name, time, status, checklist progress
    ADDRESS = "address"  # the target's address
    TACTICAL = "tactical"  # item notes (warrant, risk, radio, deconfliction), reason, duties


# ------------------------------------------------------------------ who is protected


def _latest_birth(dob: str) -> date | None:
    """The latest date a `YYYY`, `YYYY-MM` or `YYYY-MM-DD` birth date can mean."""
    parts = dob.split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 12
        day = int(parts[2]) if len(parts) > 2 else calendar.monthrange(year, month)[1]
        return date(year, month, day)
    except (ValueError, IndexError):
        return None


def is_child(subject: Subject, now: datetime) -> bool:
    """A person under 18 at `now`, or presumed so.

    The presumption of childhood (Directive 2011/36/EU Art. 13(2)) applies where the age is
    uncertain *and* there is a reason to believe the person is under 18: a date of birth
    that is partial (`2008`) while the person could still be under 18, or a reason recorded
    with `victim age --minor-reason` (`Subject.child_presumed`) where no date of birth is
    known. A date of birth settles it; an unknown one alone is no reason (issue 28).
    """
    if subject.kind != "person":
        return False
    born = _latest_birth(subject.dob) if subject.dob else None
    if born is None:
        return bool(subject.child_presumed)
    today = now.date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age < ADULT_AGE


def is_protected_place(place_kind: str | None) -> bool:
    """Whether a place is a shelter, safe house or victim-care location."""
    return place_kind in PLACE_KINDS


def is_protected(subject: Subject | None, now: datetime) -> bool:
    """Victims, witnesses, children and protected places, unless a lead lifted it."""
    if subject is None or subject.protection_lifted_at is not None:
        return False
    if subject.kind == "place":
        return is_protected_place(subject.place_kind)
    if subject.kind != "person":
        return False
    return subject.category in PROTECTED_CATEGORIES or is_child(subject, now)


def category_of(subject: Subject | None) -> str | None:
    """The category the role clause looks at (persons only)."""
    return subject.category if subject is not None and subject.kind == "person" else None


def role_reads(role: Role, tlp: str | TLP, category: str | None = None) -> bool:
    """Clause 4, the role: whether `role` reads an item labelled `tlp` (about a subject of
    `category`)."""
    label = TLP(tlp)
    if role is Role.PARTNER:
        if category == "victim":
            return label is not TLP.RED
        return category not in PARTNER_HIDDEN_CATEGORIES and label.rank <= TLP.GREEN.rank
    if role is Role.OBSERVER:
        return label.rank <= TLP.AMBER.rank
    return True


def hide_place(sighting: Sighting, words: str) -> Sighting:
    """A detached copy of a sighting at a protected place with the place and the note left
    out (`words` stands for the place): what a neutral reader is shown. The copy is never
    added to a session, so nothing of it is written."""
    values = {c: getattr(sighting, c) for c in Sighting.model_fields}
    values.update(location=words, lat=None, lon=None, cell=None, note=None, place_kind=None)
    return Sighting(**values)


# -------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class BreakGlassNote:
    """A running break-glass: until when, and why (shown in `op show`, audited)."""

    until: datetime
    reason: str


@dataclass
class Reader:
    """One reader of one operation: a member (role set) or a channel (role None)."""

    role: Role | None
    member_id: int | None
    now: datetime
    grants: set[int] = field(default_factory=set)  # protected subjects granted by name
    addressed: set[tuple[str, int]] = field(default_factory=set)  # (kind, id), TLP:RED
    agency: str | None = None  # the reader's agency; a channel: the one agency it reaches
    agencies: dict[int, str | None] = field(default_factory=dict)  # member id → agency
    ceiling: TLP = TLP.RED
    in_group: bool = False  # shown where others read too (a channel, a group briefing)
    breakglass: BreakGlassNote | None = None
    case_file: bool = False  # clause 10: a lead building the case file reads TLP:RED too

    @classmethod
    def channel(
        cls,
        *,
        ceiling: TLP,
        is_group: bool,
        agency: str | None,
        now: datetime,
        agencies: dict[int, str | None] | None = None,
    ) -> Reader:
        """A channel as a reader: its (effective) ceiling, one agency or None."""
        return cls(
            role=None,
            member_id=None,
            now=now,
            agency=agency,
            agencies=agencies or {},
            ceiling=TLP.AMBER_STRICT if ceiling is TLP.RED else ceiling,
            in_group=is_group,
        )

    def seen_by(self, *, ceiling: TLP, in_group: bool) -> Reader:
        """This member reading where the ceiling is `ceiling` (a `brief` in a channel)."""
        out = copy(self)
        out.ceiling, out.in_group = ceiling, in_group
        return out

    def for_case_file(self) -> Reader:
        """Clause 10: this lead building the operation's case file, TLP:RED included. Only
        a lead's reader becomes one; anyone else's is returned unchanged."""
        out = copy(self)
        out.case_file = self.role is Role.LEAD
        return out

    # ------------------------------------------------------------ clauses 1, 2, 3

    def owner(self, author_id: int | None) -> str | None:
        """The agency that owns what `author_id` shared (None: unknown)."""
        return self.agencies.get(author_id) if author_id is not None else None

    def red_ok(self, kind: str, item_id: int | None, author_id: int | None) -> bool:
        """Clause 2: a TLP:RED item, its author and named recipients only (clause 10: and
        the lead building the case file)."""
        if self.case_file:
            return True
        if self.role is None or item_id is None or self.member_id is None:
            return False
        return author_id == self.member_id or (kind, item_id) in self.addressed

    def strict_ok(self, kind: str, item_id: int | None, author_id: int | None) -> bool:
        """Clause 3: TLP:AMBER+STRICT stays inside the sharer's agency (clause 10: the lead
        building the case file reads it too)."""
        if self.case_file:
            return True
        owner = self.owner(author_id)
        if self.role is None:
            return self.agency is not None and owner in (None, self.agency)
        if owner is None or self.agency == owner or author_id == self.member_id:
            return True
        return item_id is not None and (kind, item_id) in self.addressed

    def label_ok(self, kind: str, item_id: int | None, author_id: int | None, tlp: str) -> bool:
        """Clauses 1-3: the label alone."""
        label = TLP(tlp)
        if label.rank > self.ceiling.rank and label is not TLP.RED:
            return False
        if label is TLP.RED:
            return self.red_ok(kind, item_id, author_id)
        if label is TLP.AMBER_STRICT:
            return self.strict_ok(kind, item_id, author_id)
        return True

    # ---------------------------------------------------------------- records

    def subject(self, subject: Subject) -> Level:
        """How much of a subject this reader sees."""
        if not self.label_ok("subject", subject.id, subject.created_by, subject.tlp):
            return Level.NONE
        protected = is_protected(subject, self.now)
        named_red = TLP(subject.tlp) is TLP.RED  # clause 2 passed: a named recipient
        if protected and self.role in NEED_TO_KNOW:
            if subject.id not in self.grants or not role_reads(
                self.role or Role.OBSERVER, subject.tlp, "victim"
            ):
                return Level.NONE
        elif (
            self.role is not None
            and not named_red
            and not role_reads(self.role, subject.tlp, category_of(subject))
        ):
            return Level.NONE
        if protected and (self.role is None or self.in_group):
            return Level.NEUTRAL
        return Level.FULL

    def item(
        self,
        kind: str,
        item_id: int | None,
        author_id: int | None,
        tlp: str | TLP,
        subject: Subject | None,
        place_kind: str | None = None,
    ) -> Level:
        """How much of a notice, sighting, link or photo (about `subject`) this reader sees."""
        level = Level.FULL
        if subject is not None:
            level = self.subject(subject)
            if level is Level.NONE:
                return Level.NONE
        label = TLP(tlp)
        if not self.label_ok(kind, item_id, author_id, label.value):
            return Level.NONE
        if self.role is not None and label is not TLP.RED:
            protected = subject is not None and is_protected(subject, self.now)
            category = "victim" if protected else category_of(subject)
            if not role_reads(self.role, label, category):
                return Level.NONE
        if is_protected_place(place_kind) and (
            self.role is None or self.in_group or self.role in NEED_TO_KNOW
        ):
            level = min(level, Level.NEUTRAL)
        return level

    def sighting(self, sighting: Sighting, subject: Subject | None) -> Level:
        """How much of a sighting this reader sees."""
        return self.item(
            "sighting",
            sighting.id,
            sighting.reporter_id,
            sighting.tlp,
            subject,
            sighting.place_kind,
        )

    def raid(self, op: Operation, raid: Raid, part: RaidPart) -> Level:
        """Clause 7: how much of one part of a raid this reader sees."""
        time_label = min(TLP(op.tlp), TLP(raid.tlp), key=lambda t: t.rank)
        if part is RaidPart.TIME:  # every member of the operation: who is to be where, when
            ok = self.label_ok("raid", raid.id, raid.created_by, time_label.value)
            return Level.FULL if ok else Level.NONE
        if not self.label_ok("raid", raid.id, raid.created_by, raid.tlp):
            return Level.NONE
        if self.role is not None and self.role not in OFFICERS:
            return Level.NONE
        if part is RaidPart.TACTICAL and self.role is None:
            return Level.NONE  # notes and duties are read in `raid show`, never posted
        return Level.FULL

    def raid_item(self, op: Operation, raid: Raid, item: RaidItem, held: set[str]) -> Level:
        """One checklist item: officers read them all (notes by the raid's label); others
        only the items they hold, and the notes they wrote."""
        if self.raid(op, raid, RaidPart.TIME) is Level.NONE:
            return Level.NONE
        if self.role in OFFICERS:
            return self.raid(op, raid, RaidPart.TACTICAL) or Level.NEUTRAL
        if item.role is not None and item.role in held:
            return Level.FULL if item.done_by == self.member_id else Level.NEUTRAL
        return Level.NONE

    def exhibit(
        self,
        op: Operation,
        exhibit: Exhibit,
        sighting: Sighting | None,
        subject: Subject | None,
        raid: Raid | None,
    ) -> Level:
        """Clause 9: an exhibit, seized with `sighting` (about `subject`) or at `raid`. A
        TLP:RED exhibit of a TLP:RED sighting goes to the sighting's recipients too."""
        if self.role not in OFFICERS:
            return Level.NONE
        if not self.label_ok("exhibit", exhibit.id, exhibit.created_by, exhibit.tlp) and not (
            TLP(exhibit.tlp) is TLP.RED
            and sighting is not None
            and TLP(sighting.tlp) is TLP.RED
            and self.red_ok("sighting", sighting.id, sighting.reporter_id)
        ):
            return Level.NONE
        if sighting is not None and self.sighting(sighting, subject) is not Level.FULL:
            return Level.NONE
        if raid is not None and self.raid(op, raid, RaidPart.ADDRESS) is Level.NONE:
            return Level.NONE
        return Level.FULL

    def statement(self, statement: Statement, subject: Subject | None) -> Level:
        """Clause 9: a statement (and its translations), made by `subject` if one."""
        if self.role not in OFFICERS:
            return Level.NONE
        if not self.label_ok("statement", statement.id, statement.taken_by, statement.tlp):
            return Level.NONE
        if subject is not None and self.subject(subject) is not Level.FULL:
            return Level.NONE
        return Level.FULL

    def victim_care(self, subject: Subject) -> Level:
        """Clause 11: how much of a victim's age assessment or referral this reader sees —
        what they see of the person (a neutral line where the person is one)."""
        return self.subject(subject)

    def task(self, task: Task, tlp: str | TLP) -> Level:
        """Clause 12: how much of a task this reader sees (its label is `tlp`)."""
        if not self.label_ok("task", task.id, task.created_by, TLP(tlp).value):
            return Level.NONE
        if self.role is None or self.role in OFFICERS:
            return Level.FULL
        mine = self.member_id is not None and self.member_id in (task.assignee_id, task.created_by)
        return Level.FULL if mine else Level.NONE

    def relation(
        self,
        relation_id: int | None,
        author_id: int | None,
        tlp: str | TLP,
        a: Subject,
        b: Subject,
    ) -> Level:
        """Clause 13: a typed link between `a` and `b`, in full or not at all."""
        for subject in (a, b):
            if self.item("relation", relation_id, author_id, tlp, subject) is not Level.FULL:
                return Level.NONE
        return Level.FULL

    def deconfliction(self) -> Level:
        """Clause 14: a deconfliction notice about this reader's operation."""
        if self.role is Role.LEAD and self.breakglass is None and not self.in_group:
            return Level.FULL
        return Level.NONE

    # ------------------------------------------------------------ booleans

    def may_subject(self, subject: Subject) -> bool:
        """Whether this reader may read `subject` at all."""
        return self.subject(subject) is not Level.NONE

    def may_item(
        self,
        kind: str,
        item_id: int | None,
        author_id: int | None,
        tlp: str | TLP,
        subject: Subject | None,
    ) -> bool:
        """Whether this reader may read a notice, sighting or link at all."""
        return self.item(kind, item_id, author_id, tlp, subject) is not Level.NONE


def channel_allows(label: TLP, max_tlp: str, agencies: list[str], owner: str | None) -> bool:
    """Whether a post labelled `label`, shared by an agency `owner`, may go to a channel
    with ceiling `max_tlp` reaching `agencies` (clauses 1-3 for channels)."""
    ceiling = TLP(max_tlp)
    if label is TLP.RED:
        return False
    if label is TLP.AMBER_STRICT:
        if len(agencies) != 1 or (owner is not None and agencies[0] != owner):
            return False
        return ceiling.rank >= TLP.AMBER_STRICT.rank
    return label.rank <= ceiling.rank


# ----------------------------------------------------------------------- loading

# Built once, on the tables: the reader is loaded by nearly every command, in one round
# trip: the TLP:RED items addressed to the member, and the agency of every member of the
# operation (AMBER+STRICT belongs to the sharer's agency).
_RECIPIENT = tables.RECIPIENT
_READ_GRANT = tables.READ_GRANT
_SUBJECT = tables.SUBJECT
_MEMBERSHIP = tables.MEMBERSHIP
_MEMBER = tables.MEMBER
_AGENCY = tables.AGENCY
_ADDRESSED_AND_AGENCIES = Prepared(
    sa.union_all(
        sa.select(
            _RECIPIENT.c.kind,
            _RECIPIENT.c.item_id,
            sa.cast(sa.null(), sa.String).label("code"),
        ).where(
            _RECIPIENT.c.operation_id == sa.bindparam("op_id"),
            _RECIPIENT.c.member_id == sa.bindparam("member_id"),
        ),
        sa.select(
            sa.cast(sa.literal("agency"), sa.String), _MEMBER.c.id, _AGENCY.c.code.label("code")
        )
        .select_from(_MEMBERSHIP)
        .join(_MEMBER, _MEMBER.c.id == _MEMBERSHIP.c.member_id)
        .join(_AGENCY, _AGENCY.c.id == _MEMBER.c.agency_id)
        .where(_MEMBERSHIP.c.operation_id == sa.bindparam("op_id")),
    )
)
_GRANTED = Prepared(
    sa.select(_READ_GRANT.c.subject_id)
    .join(_SUBJECT, _SUBJECT.c.id == _READ_GRANT.c.subject_id)
    .where(
        _SUBJECT.c.operation_id == sa.bindparam("op_id"),
        _READ_GRANT.c.member_id == sa.bindparam("member_id"),
    )
)
_AGENCY_OF = Prepared(
    sa.select(_AGENCY.c.code)
    .select_from(_MEMBER)
    .join(_AGENCY, _AGENCY.c.id == _MEMBER.c.agency_id)
    .where(_MEMBER.c.id == sa.bindparam("member_id"))
)


async def load_reader(
    session: AsyncSession,
    op: Operation,
    member_id: int | None,
    role: Role,
    now: datetime,
    *,
    breakglass: BreakGlassNote | None = None,
) -> Reader:
    """The member as a reader of `op`: grants, TLP:RED items addressed to them, agencies."""
    found = Reader(role=role, member_id=member_id, now=now, breakglass=breakglass)
    params = {"op_id": op.id, "member_id": member_id if member_id is not None else -1}
    for kind, item_id, code in await _ADDRESSED_AND_AGENCIES.rows(session, params):
        if kind == "agency":
            found.agencies[int(item_id)] = code
        else:
            found.addressed.add((kind, int(item_id)))
    if member_id is None:
        return found
    found.agency = found.agencies.get(member_id)
    if found.agency is None and breakglass is not None:  # not a member: their own agency
        found.agency = await agency_of(session, member_id)
    if role in NEED_TO_KNOW:
        found.grants = {row[0] for row in await _GRANTED.rows(session, params)}
    return found


async def agency_of(session: AsyncSession, member_id: int | None) -> str | None:
    """The agency of one member (the owner of what they share), or None."""
    if member_id is None:
        return None
    rows = await _AGENCY_OF.rows(session, {"member_id": member_id})
    return rows[0][0] if rows else None


async def owner_if_strict(
    session: AsyncSession, label: str | TLP | None, member_id: int | None
) -> str | None:
    """The sharer's agency where the label is TLP:AMBER+STRICT (read only then)."""
    if label is None or TLP(label) is not TLP.AMBER_STRICT:
        return None
    return await agency_of(session, member_id)


async def channel_reader(
    session: AsyncSession,
    op: Operation,
    *,
    ceiling: TLP,
    is_group: bool,
    agencies: list[str],
    now: datetime,
) -> Reader:
    """A linked channel as a reader of `op` (scheduled briefings, reminders)."""
    loaded = await load_reader(session, op, None, Role.OBSERVER, now)
    return Reader.channel(
        ceiling=ceiling,
        is_group=is_group,
        agency=agencies[0] if len(agencies) == 1 else None,
        now=now,
        agencies=loaded.agencies,
    )
