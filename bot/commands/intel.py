"""Field-intelligence rules shared by subjects, notices, sightings and export.

Subject kinds and person categories, the notice colours (README, "Field intelligence";
docs/domain.md), who may read which item (README, "Victim safety and need-to-know", through
the disclosure rule, `bot.core.disclosure`), the TLP floor that makes a source's restriction
travel with its data, lookups by reference, and paging.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import col, select

from bot.base.clock import add_months
from bot.base.i18n import N_, _, ngettext
from bot.commands.context import CommandContext
from bot.commands.errors import NotFound, UsageError
from bot.commands.refs import parse_ref
from bot.commands.values import parse_int
from bot.core import reads
from bot.core.access import TLP, Role, tlp_max
from bot.core.disclosure import PLACE_KINDS
from bot.core.protection import Reader, load_reader
from bot.store import tables
from bot.store.audit import Action
from bot.store.entityrows import EntityRows
from bot.store.fastsql import Prepared
from bot.store.models import Notice, Sighting, Subject

# The last six are entities, their values normalised (`bot.core.entities.ENTITY_KINDS`).
SUBJECT_KINDS = (
    "person",
    "vehicle",
    "vessel",
    "organisation",
    "place",
    "asset",
    "phone",
    "account",
    "handset",
    "document",
    "advert",
    "address",
)
PERSON_CATEGORIES = ("suspect", "victim", "witness", "associate")
ALL_KINDS = SUBJECT_KINDS


@dataclass(frozen=True)
class Colour:
    """A notice colour: what it is for, what it may be about, whether sightings match it."""

    name: str
    purpose: str
    kinds: tuple[str, ...]
    matches: bool = False

    @property
    def title(self) -> str:
        """`Red`, `UN Security Council Special`."""
        return "INTERPOL–UN Security Council Special" if self.name == "un" else self.name.title()


COLOURS: dict[str, Colour] = {
    c.name: c
    for c in (
        Colour(
            "red",
            N_(
                "locate and provisionally arrest a wanted person pending extradition "
                "(not itself an arrest warrant)"
            ),
            ("person",),
            matches=True,
        ),
        Colour(
            "yellow",
            N_(
                "locate a missing person, often a minor, or identify a person who cannot "
                "identify themselves"
            ),
            ("person",),
            matches=True,
        ),
        Colour(
            "blue",
            N_("collect information on a person's identity, location or activities"),
            ("person",),
        ),
        Colour("green", N_("warn about a person's criminal activities"), ("person",)),
        Colour(
            "orange",
            N_("warn of an event, person, object or process that is a serious, imminent threat"),
            ALL_KINDS,
        ),
        Colour("black", N_("seek information on an unidentified body"), ("person",)),
        Colour(
            "purple",
            N_("share modus operandi, objects, devices and concealment methods"),
            ALL_KINDS,
        ),
        Colour(
            "silver",
            N_("locate and identify criminal assets: property, vehicles, accounts, businesses"),
            ("asset", "vehicle", "vessel", "place", "organisation"),
        ),
        Colour(
            "un",
            N_("persons and entities under UN Security Council sanctions"),
            ("person", "organisation"),
        ),
    )
}
AMBER_NOTE = N_(
    "Recorded as a Yellow notice: AMBER is a national child-abduction alert, not an INTERPOL "
    "colour; INTERPOL's missing-person notice is Yellow."
)
NOTICE_YEARS = 5
REVIEW_MONTHS = 12


def parse_colour(raw: str) -> tuple[Colour, str | None]:
    """A notice colour; `amber` gives Yellow and the sentence that says why."""
    name = raw.strip().lower()
    if name == "amber":
        return COLOURS["yellow"], _(AMBER_NOTE)
    if name in ("un-sc", "unsc", "special"):
        name = "un"
    colour = COLOURS.get(name)
    if colour is None:
        raise UsageError(
            _(
                "'{value}' is not a notice colour; use one of {colours} (INTERPOL's colours)."
            ).format(value=raw, colours=", ".join(COLOURS))
        )
    return colour, None


def parse_place_kind(raw: object) -> str | None:
    """`--place-kind shelter|safe-house|victim-care` (None when not given)."""
    text = str(raw or "").strip().lower().replace("_", "-").replace(" ", "-")
    if not text:
        return None
    if text not in PLACE_KINDS:
        raise UsageError(
            _("'{value}' is not a kind of protected place; use one of {kinds}.").format(
                value=raw, kinds=", ".join(PLACE_KINDS)
            )
        )
    return text


# ------------------------------------------------------------------ reading rules


def subject_category(subject: Subject | None) -> str | None:
    """The category the reading rules look at (persons only)."""
    return subject.category if subject is not None and subject.kind == "person" else None


def subject_tlp(subject: Subject) -> TLP:
    """A subject's TLP."""
    return TLP(subject.tlp)


def notice_tlp(notice: Notice, subject: Subject | None) -> TLP:
    """A notice shows its subject, so it carries the higher of the two labels."""
    return tlp_max(notice.tlp, subject.tlp if subject else None) or TLP(notice.tlp)


def sighting_tlp(sighting: Sighting, subject: Subject | None) -> TLP:
    """A sighting shows its subject, so it carries the higher of the two labels."""
    return tlp_max(sighting.tlp, subject.tlp if subject else None) or TLP(sighting.tlp)


def role_of(ctx: CommandContext) -> Role:
    """The actor's role in the operation (the dispatch guarantees one)."""
    assert ctx.role is not None, "field-intelligence command without a role"
    return ctx.role


async def reader(ctx: CommandContext) -> Reader:
    """The actor as a reader of the operation: role, grants by name, RED items addressed."""
    cached = ctx.reader_cache
    if isinstance(cached, Reader) and cached.role == role_of(ctx):
        return cached
    member_id = ctx.actor.id if ctx.actor else None
    found = await load_reader(
        ctx.session,
        ctx.operation(),
        member_id,
        role_of(ctx),
        ctx.now,
        breakglass=ctx.breakglass_note,
    )
    ctx.reader_cache = found
    return found


def may_read_subject(who: Reader, subject: Subject) -> bool:
    """The reading rule for a subject, with protection and TLP:RED recipients."""
    return who.may_subject(subject)


def may_read_notice(who: Reader, notice: Notice, subject: Subject | None) -> bool:
    """The reading rule for a notice (about its subject, if any)."""
    return who.may_item("notice", notice.id, notice.recorded_by, notice.tlp, subject)


def may_read_sighting(who: Reader, sighting: Sighting, subject: Subject | None) -> bool:
    """The reading rule for a sighting (about its subject, if any)."""
    return who.may_item("sighting", sighting.id, sighting.reporter_id, sighting.tlp, subject)


def with_floor(
    requested: TLP | None, default: TLP, floor: Iterable[tuple[str, str]]
) -> tuple[TLP, str | None]:
    """The TLP of a new item: requested (or default), never below its sources' labels.

    `floor` holds (reference, label) of the records the item repeats. Returns the label and,
    when a requested label was raised, the sentence that says so.
    """
    sources = [(ref, TLP(label)) for ref, label in floor]
    chosen = requested or default
    top = max(sources, key=lambda s: s[1].rank, default=None)
    if top is None or top[1].rank <= chosen.rank:
        return chosen, None
    if requested is None:
        return top[1], None
    return top[1], _(
        "Marked {label}, not {requested}: {source} is {label} and the source's restriction "
        "travels with the data."
    ).format(label=top[1].label, requested=requested.label, source=top[0])


def notice_active(notice: Notice, now: datetime) -> bool:
    """Active: not cancelled and not past its expiry."""
    return notice.status == "active" and notice.expires_at > now


def notice_state(notice: Notice, now: datetime) -> str:
    """`active`, `cancelled`, `erased` or `expired`."""
    if notice.status in ("cancelled", "erased"):
        return notice.status
    return "active" if notice.expires_at > now else "expired"


# ------------------------------------------------------------------------ lookups


def _check_op(ctx: CommandContext, raw: str, prefix: str) -> int:
    ref = parse_ref(raw, prefix)
    op = ctx.operation()
    if ref.op_code and ref.op_code != op.code:
        raise UsageError(
            _("{ref} belongs to {owner}, not {code}; use one command per operation.").format(
                ref=raw, owner=ref.op_code, code=op.code
            )
        )
    return ref.seq


# Built once: the hot lookups of the command path only bind their values per call.
_SUBJECTS = tables.SUBJECT
_SUBJECT_BY_SEQ = EntityRows(
    [Subject],
    lambda columns: sa.select(*columns).where(
        _SUBJECTS.c.operation_id == bindparam("op_id"), _SUBJECTS.c.seq == bindparam("seq")
    ),
)


async def find_subject(ctx: CommandContext, raw: str) -> Subject:
    """A subject of the operation the actor may read; otherwise the same NotFound."""
    seq = _check_op(ctx, raw, "S")
    op = ctx.operation()
    row = await _SUBJECT_BY_SEQ.first(ctx.session, {"op_id": op.id, "seq": seq})
    subject: Subject | None = row[0] if row else None
    if subject is None or not may_read_subject(await reader(ctx), subject):
        raise NotFound(
            _("There is no subject {ref} in {code}.").format(ref=f"S-{seq}", code=op.code),
            denied=subject is not None,
            operation_id=op.id,
        )
    if subject.merged_into is not None and subject.erased_at is not None:
        into = await ctx.session.get(Subject, subject.merged_into)
        target = f"S-{into.seq}" if into is not None else "?"
        raise NotFound(
            _("{ref} was merged into {into} on {day}; see `subject show {into}`.").format(
                ref=f"S-{seq}", into=target, day=f"{subject.erased_at:%d %b %Y}"
            )
        )
    _not_erased(subject, f"S-{seq}")
    return subject


def _not_erased(record: Subject | Notice | Sighting, ref: str) -> None:
    """An erased record answers with the fact of its erasure only (issue 15)."""
    if record.erased_at is not None:
        raise NotFound(
            _("{ref} was erased on {day}; the audit log keeps who erased it and why.").format(
                ref=ref, day=f"{record.erased_at:%d %b %Y}"
            )
        )


async def find_notice(ctx: CommandContext, raw: str) -> tuple[Notice, Subject | None]:
    """A notice of the operation the actor may read, with its subject (None: a purple
    notice about a modus operandi)."""
    seq = _check_op(ctx, raw, "N")
    op = ctx.operation()
    row = (
        await ctx.session.exec(
            select(Notice, Subject)
            .join(Subject, col(Subject.id) == col(Notice.subject_id), isouter=True)
            .where(Notice.operation_id == op.id, Notice.seq == seq)
        )
    ).first()
    if row is None or not may_read_notice(await reader(ctx), row[0], row[1]):
        raise NotFound(
            _("There is no notice {ref} in {code}.").format(ref=f"N-{seq}", code=op.code),
            denied=row is not None,
            operation_id=op.id,
        )
    _not_erased(row[0], f"N-{seq}")
    return row[0], row[1]


async def find_sighting(ctx: CommandContext, raw: str) -> tuple[Sighting, Subject | None]:
    """A sighting of the operation the actor may read, with its subject (if any)."""
    seq = _check_op(ctx, raw, "SG")
    op = ctx.operation()
    row = (
        await ctx.session.exec(
            select(Sighting, Subject)
            .join(Subject, col(Subject.id) == col(Sighting.subject_id), isouter=True)
            .where(Sighting.operation_id == op.id, Sighting.seq == seq)
        )
    ).first()
    if row is None or not may_read_sighting(await reader(ctx), row[0], row[1]):
        raise NotFound(
            _("There is no sighting {ref} in {code}.").format(ref=f"SG-{seq}", code=op.code),
            denied=row is not None,
            operation_id=op.id,
        )
    _not_erased(row[0], f"SG-{seq}")
    return row[0], row[1]


async def readable_sightings(ctx: CommandContext, *conditions: Any) -> tuple[list[int], int]:
    """Ids of the operation's sightings (matching `conditions`) the actor may read, newest
    observed first, and how many were hidden (`bot.core.reads.readable_sightings`)."""
    return await reads.readable_sightings(
        ctx.session, ctx.operation().id, await reader(ctx), *conditions
    )


async def load_sightings(
    ctx: CommandContext, ids: Sequence[int]
) -> list[tuple[Sighting, Subject | None]]:
    """The sightings with these ids and their subjects, in the order of `ids`, as the
    actor may read them (a protected place left out where they may not read it)."""
    return await reads.load_sightings(ctx.session, ids, await reader(ctx))


_NOTICE = tables.NOTICE
_MATCHING_NOTICES = Prepared(
    sa.select(_NOTICE.c.id, _NOTICE.c.colour, _NOTICE.c.kind)
    .where(
        _NOTICE.c.subject_id == sa.bindparam("subject_id"),
        _NOTICE.c.status == "active",
        _NOTICE.c.expires_at > sa.bindparam("now"),
        # Equalities, not IN: a list would be rendered again for every call.
        sa.or_(*(_NOTICE.c.colour == c.name for c in COLOURS.values() if c.matches)),
    )
    .order_by(_NOTICE.c.recorded_at.desc())
)


async def active_match_notice(ctx: CommandContext, subject: Subject) -> Notice | None:
    """The strongest active notice on `subject`, None if none: red before yellow, and of
    a colour a notice INTERPOL published before a diffusion; then the newest.

    Read as plain rows (most sightings match nothing); the notice itself is loaded only
    when there is one."""
    rows = await _MATCHING_NOTICES.rows(ctx.session, {"subject_id": subject.id, "now": ctx.now})
    for colour in ("red", "yellow"):
        for kind in ("notice", "diffusion"):
            for row in rows:
                if row[1] == colour and row[2] == kind:
                    return await ctx.session.get(Notice, row[0])
    return None


async def member_names(ctx: CommandContext, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of members by id (reporters, issuers)."""
    return await reads.member_names(ctx.session, ids)


# ------------------------------------------------------------------- paging, audit


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    number: int
    pages: int
    total: int

    @property
    def has_more(self) -> bool:
        """Whether a later page exists."""
        return self.number < self.pages


def parse_page(raw: object) -> int:
    """`--page N`: a whole number from 1."""
    text = str(raw if raw is not None else "1").strip()
    return parse_int(text, "--page")


def paginate(items: Sequence[T], number: int, size: int) -> Page[T]:
    """Cut `items` into pages of `size`; a page past the end is refused clearly."""
    pages = max(1, -(-len(items) // size))
    if number > pages:
        raise UsageError(
            ngettext("There is only {n} page.", "There are only {n} pages.", pages).format(n=pages)
        )
    start = (number - 1) * size
    return Page(list(items[start : start + size]), number, pages, len(items))


def hidden_line(hidden: int) -> list[str]:
    """`2 hidden by your role.` (no details), or nothing."""
    if not hidden:
        return []
    return [
        ngettext("{n} hidden by your role.", "{n} hidden by your role.", hidden).format(n=hidden)
    ]


def audit_consult(
    ctx: CommandContext, refs: Sequence[str], what: str, action: Action = Action.CONSULT
) -> None:
    """Record this read as a `consult` entry (or `action`) naming the references shown."""
    op = ctx.operation()
    joined = ",".join(refs)
    whole = f"{op.code}/{joined}" if refs else f"{op.code}/{what}"
    if len(whole) <= 200:
        ctx.audit(action, object_ref=whole)
    else:
        ctx.audit(action, object_ref=f"{op.code}/{what}", reason=f"read {joined}"[:1000])


def years_later(when: datetime, years: int) -> datetime:
    """`when` plus whole years (29 Feb → 28 Feb)."""
    return add_months(when, 12 * years)
