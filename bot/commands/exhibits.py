"""Exhibits and their chain of custody (issue 28): `exhibit add`, `exhibit transfer`,
`exhibit show`, `exhibits`.

An exhibit (`E-n`) is an item seized or produced: the seizing officer's exhibit number,
what it is, the number of the seal it is under, where it was found, the sighting or raid it
was seized with and, if one was taken, a photo already stored as evidence. Its custody is
a trail of links — seized by whom and when, then each hand-over from the holder to the
next (a member, or someone outside the task force: "name, agency"), when and why. Nothing
of an exhibit is ever posted to a channel; who reads it is the disclosure rule's (clause 9).
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from bot.base.i18n import N_, _
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import NotFound, UsageError
from bot.commands.fieldtime import Direction, member_language, read_time
from bot.commands.intel import (
    audit_consult,
    find_sighting,
    hidden_line,
    member_names,
    reader,
    with_floor,
)
from bot.commands.operations import find_member_in_op
from bot.commands.raids import find_raid
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.values import parse_tlp
from bot.contracts import Reply
from bot.core.access import TLP, Perm
from bot.core.evidence_reads import ExhibitView, readable_exhibits
from bot.store.audit import Action
from bot.store.models import Evidence, Operation, Sighting
from bot.store.models_casefile import Exhibit, ExhibitTransfer

_EXHIBIT = re.compile(r"^(?:(OP-[A-Z0-9][A-Z0-9-]*)/)?E-([0-9]{1,9})$", re.IGNORECASE | re.ASCII)
_SHA = re.compile(r"^[0-9a-f]{8,64}$")
LIMITS = {"number": 40, "seal": 60, "found": 500, "description": 1000, "why": 1000, "to": 200}


def exhibit_ref(exhibit: Exhibit) -> str:
    """`E-3`."""
    return f"E-{exhibit.seq}"


def _text(name: str, value: object) -> str:
    """A free-text value, stripped and within its limit (one sentence otherwise)."""
    text = " ".join(str(value or "").split())
    if len(text) > LIMITS[name]:
        raise UsageError(
            _("--{flag} is too long; the limit is {n} characters.").format(
                flag=name, n=LIMITS[name]
            )
        )
    return text


def past_time(ctx: CommandContext, raw: object, tz: ZoneInfo) -> datetime:
    """A time of record given with `--at` (now by default), never in the future."""
    if not raw:
        return ctx.now
    when = read_time(str(raw), ctx.now, tz, lang=member_language(ctx), direction=Direction.PAST)
    if when > ctx.now:
        raise UsageError(
            _("'{raw}' is in the future; it is recorded once it has happened.").format(raw=raw)
        )
    return when


async def _photo(ctx: CommandContext, raw: str) -> Evidence:
    """A stored photo of this operation by the start of its SHA-256 (8 or more hex digits),
    sent with a sighting the actor may read."""
    prefix = raw.strip().lower()
    if not _SHA.match(prefix):
        raise UsageError(_("--photo takes the start of a photo's SHA-256 (8 or more hex digits)."))
    op = ctx.operation()
    found = (
        await ctx.session.exec(
            select(Evidence, Sighting)
            .join(Sighting, col(Sighting.id) == col(Evidence.sighting_id))
            .where(Evidence.operation_id == op.id, col(Evidence.sha256).startswith(prefix))
        )
    ).all()
    readable: list[Evidence] = []
    for photo, sighting in found:
        try:
            await find_sighting(ctx, f"SG-{sighting.seq}")
        except NotFound:
            continue
        readable.append(photo)
    if len(readable) != 1:
        raise UsageError(
            _("No single stored photo of {code} has a SHA-256 starting {prefix}.").format(
                code=op.code, prefix=prefix
            )
        )
    return readable[0]


def parse_exhibit_ref(ctx: CommandContext, raw: str) -> int:
    """The number of `E-3` (or `OP-X/E-3` of this operation)."""
    m = _EXHIBIT.match(raw.strip())
    if not m:
        raise UsageError(_("'{value}' is not an exhibit reference like E-3.").format(value=raw))
    code = ctx.operation().code
    if m.group(1) and m.group(1).upper() != code:
        raise UsageError(
            _("{ref} belongs to {owner}, not {code}; use one command per operation.").format(
                ref=raw, owner=m.group(1).upper(), code=code
            )
        )
    return int(m.group(2))


async def find_exhibit(ctx: CommandContext, raw: str) -> ExhibitView:
    """An exhibit of the operation the actor may read; otherwise one NotFound."""
    seq = parse_exhibit_ref(ctx, raw)
    op = ctx.operation()
    views, hidden = await readable_exhibits(ctx.session, op, await reader(ctx), seq=seq)
    if not views:
        raise NotFound(
            _("There is no exhibit {ref} in {code}.").format(ref=f"E-{seq}", code=op.code),
            denied=hidden > 0,
            operation_id=op.id,
        )
    return views[0]


async def _next_seq(ctx: CommandContext) -> int:
    """The next `E-n` of the operation, its row locked until commit (no gaps or repeats
    between replicas)."""
    op = ctx.operation()
    await ctx.session.exec(select(Operation.id).where(Operation.id == op.id).with_for_update())
    top = (
        await ctx.session.exec(select(func.max(Exhibit.seq)).where(Exhibit.operation_id == op.id))
    ).one()
    return int(top or 0) + 1


async def _holder(ctx: CommandContext, raw: str) -> tuple[int | None, str | None]:
    """`M-3` (a member of the operation) or "name, agency" (someone outside it)."""
    text = _text("to", raw)
    if re.fullmatch(r"[mM]-[0-9]{1,9}", text):
        member, _membership = await find_member_in_op(ctx, text)
        return member.id, None
    if "," not in text or not all(part.strip() for part in text.split(",", 1)):
        raise UsageError(
            _(
                "Say who receives it: a member (`--to M-3`) or someone outside the task force "
                'with their agency (`--to "Ana Costa, PJ forensic laboratory"`).'
            )
        )
    return None, text


def _person(names: dict[int, str], member_id: int | None, name: str | None) -> str:
    if member_id is not None:
        return f"{names.get(member_id, '?')} (M-{member_id})"
    return name or "—"


def exhibit_message(view: ExhibitView, names: dict[int, str], tz: ZoneInfo) -> Message:
    """One exhibit in full: the record, what it hangs on, and its chain of custody."""
    e = view.exhibit
    fields = [
        (_("Exhibit number"), e.number),
        (_("Description"), e.description),
        (_("Seal"), e.seal or "—"),
        (_("Found at"), e.found_at),
        (_("Seized"), format_time(e.seized_at, tz)),
        (_("Held by"), _person(names, e.holder_id, e.holder_name)),
    ]
    if view.sighting is not None:
        fields.append((_("Sighting"), f"SG-{view.sighting.seq}"))  # i18n: keep
    if view.raid is not None:
        fields.append((_("Raid"), f"R-{view.raid.seq}"))
    if view.photo is not None:
        photo = f"{view.photo.filename}, SHA-256 {view.photo.sha256}"  # i18n: keep
        fields.append((_("Photo"), photo))
    lines = [_("Chain of custody:")]
    for n, link in enumerate(view.trail, 1):
        when = format_time(link.at, tz)
        to = _person(names, link.to_id, link.to_name)
        if link.from_id is None and link.from_name is None:
            lines.append(
                _("{n}. {when}: seized by {to} — {why}").format(
                    n=n, when=when, to=to, why=link.reason
                )
            )
        else:
            lines.append(
                _("{n}. {when}: {giver} to {to} — {why}").format(
                    n=n,
                    when=when,
                    giver=_person(names, link.from_id, link.from_name),
                    to=to,
                    why=link.reason,
                )
            )
    return Message(
        title=_("Exhibit {ref}").format(ref=exhibit_ref(e)),
        fields=fields,
        lines=lines,
        context=f"{exhibit_ref(e)} · {TLP(e.tlp).label}",
        tlp=e.tlp,
    )


def _people_of(view: ExhibitView) -> set[int | None]:
    out: set[int | None] = {view.exhibit.holder_id}
    for link in view.trail:
        out |= {link.from_id, link.to_id}
    return out


@command(
    "exhibit add",
    'exhibit add "<description>" --number AR/1 --found "<where>" [--seal NUMBER] '
    "[--sighting SG-n | --raid R-n] [--photo SHA256] [--at TIME] [--tlp …]",
    N_("Record an exhibit seized or produced; you hold it until you transfer it."),
    args=(Arg("description", rest=True),),
    flags=(
        Flag("number", required=True),
        Flag("found", required=True),
        Flag("seal"),
        Flag("sighting", ref=True),
        Flag("raid", ref=True),
        Flag("photo"),
        Flag("at", kind="time"),
        Flag("tlp"),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.RECORD_EVIDENCE,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        "--number is the seizing officer's exhibit number (unique in the operation); --seal "
        "the number of the evidence bag's seal; --found where it was found. --sighting or "
        "--raid links what it was seized with; --photo a photo already stored with a "
        "sighting, by the start of its SHA-256. --at is when it was seized (default now).\n"
        "Exhibits are read by leads, members and analysts only, never posted to a channel; "
        "the label defaults to the higher of the operation's and the linked record's."
    ),
)
async def exhibit_add(ctx: CommandContext) -> Reply:
    """Record an exhibit, its first custody link (the seizure) and the audit entry."""
    op = ctx.operation()
    description = _text("description", " ".join(ctx.args["description"]))
    number = _text("number", ctx.args["number"])
    found = _text("found", ctx.args["found"])
    if not description or not number or not found:
        raise UsageError(
            _(
                'Say what it is, its number and where it was found: `exhibit add "…" '
                '--number AR/1 --found "…"`.'
            )
        )
    seal = _text("seal", ctx.args.get("seal")) or None
    if ctx.args.get("sighting") and ctx.args.get("raid"):
        raise UsageError(_("Link an exhibit to one sighting or one raid, not both."))
    tz = await ctx.tz()
    seized = past_time(ctx, ctx.args.get("at"), tz)
    floor: list[tuple[str, str]] = []
    sighting_id = raid_id = None
    if ctx.args.get("sighting"):
        sighting, _subject = await find_sighting(ctx, ctx.args["sighting"])
        sighting_id = sighting.id
        floor.append((f"SG-{sighting.seq}", sighting.tlp))
    if ctx.args.get("raid"):
        raid = await find_raid(ctx, ctx.args["raid"])
        raid_id = raid.id
        floor.append((f"R-{raid.seq}", raid.tlp))
    photo = await _photo(ctx, ctx.args["photo"]) if ctx.args.get("photo") else None
    requested = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else None
    label, raised = with_floor(requested, TLP(op.tlp), floor)
    taken = (
        await ctx.session.exec(
            select(Exhibit.seq).where(Exhibit.operation_id == op.id, Exhibit.number == number)
        )
    ).first()
    if taken is not None:
        raise UsageError(
            _("Exhibit number {number} is already E-{seq} in {code}.").format(
                number=number, seq=taken, code=op.code
            )
        )
    me = ctx.member()
    exhibit = Exhibit(
        operation_id=op.id or 0,
        seq=await _next_seq(ctx),
        number=number,
        description=description,
        seal=seal,
        found_at=found,
        seized_at=seized,
        sighting_id=sighting_id,
        raid_id=raid_id,
        evidence_id=photo.id if photo else None,
        tlp=label.value,
        holder_id=me.id,
        created_by=me.id,
        created_at=ctx.now,
    )
    ctx.session.add(exhibit)
    await ctx.session.flush()
    ctx.session.add(
        ExhibitTransfer(
            exhibit_id=exhibit.id or 0,
            at=seized,
            to_id=me.id,
            reason=f"found at {found}",
            recorded_by=me.id,
            recorded_at=ctx.now,
        )
    )
    ref = exhibit_ref(exhibit)
    ctx.audit(
        Action.COLLECT,
        object_ref=f"{op.code}/{ref}",
        reason=f"exhibit {number}" + (f", seal {seal}" if seal else ""),
    )
    lines = [_("Recorded exhibit {ref} ({number}); you hold it.").format(ref=ref, number=number)]
    return Reply(
        Message(
            lines=lines + ([raised] if raised else []),
            context=f"{ref} · {label.label}",
            tlp=label.value,
        )
    )


@command(
    "exhibit transfer",
    'exhibit transfer <E-n> --to <M-n|"name, agency"> --why "…" [--at TIME]',
    N_("Record a hand-over of an exhibit from its holder to the next (custody)."),
    args=(Arg("ref"),),
    flags=(Flag("to", required=True), Flag("why", required=True), Flag("at", kind="time")),
    op=OpMode.REQUIRED,
    perm=Perm.RECORD_EVIDENCE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "From is the exhibit's current holder; --to a member (M-3) or someone outside the task "
        'force with their agency ("Ana Costa, PJ forensic laboratory"); --why the purpose '
        "(analysis, storage, court); --at when it was handed over (default now; not before "
        "the last link of its custody)."
    ),
)
async def exhibit_transfer(ctx: CommandContext) -> Reply:
    """Append one link to the exhibit's chain of custody and move its holder."""
    op = ctx.operation()
    view = await find_exhibit(ctx, ctx.args["ref"])
    exhibit = view.exhibit
    why = _text("why", ctx.args["why"])
    if not why:
        raise UsageError(_('Say why it is handed over: --why "…".'))
    to_id, to_name = await _holder(ctx, ctx.args["to"])
    if (to_id, to_name) == (exhibit.holder_id, exhibit.holder_name):
        raise UsageError(_("{ref} is already held by them.").format(ref=exhibit_ref(exhibit)))
    tz = await ctx.tz()
    at = past_time(ctx, ctx.args.get("at"), tz)
    last = view.trail[-1].at if view.trail else exhibit.seized_at
    if at < last:
        raise UsageError(
            _("{time} is before the last link of {ref}'s custody ({last}).").format(
                time=format_time(at, tz), ref=exhibit_ref(exhibit), last=format_time(last, tz)
            )
        )
    link = ExhibitTransfer(
        exhibit_id=exhibit.id or 0,
        at=at,
        from_id=exhibit.holder_id,
        from_name=exhibit.holder_name,
        to_id=to_id,
        to_name=to_name,
        reason=why,
        recorded_by=ctx.member().id,
        recorded_at=ctx.now,
    )
    ctx.session.add(link)
    exhibit.holder_id, exhibit.holder_name = to_id, to_name
    ctx.session.add(exhibit)
    names = await member_names(ctx, [link.from_id, to_id])
    giver = _person(names, link.from_id, link.from_name)
    receiver = _person(names, to_id, to_name)
    ref = exhibit_ref(exhibit)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"custody {giver} -> {receiver} at {at:%Y-%m-%dT%H:%MZ}: {why}"[:1000],
    )
    return Reply(
        Message(
            lines=[
                _("{ref} handed from {giver} to {receiver}, {time}.").format(
                    ref=ref, giver=giver, receiver=receiver, time=format_time(at, tz)
                )
            ],
            context=f"{ref} · {TLP(exhibit.tlp).label}",
            tlp=exhibit.tlp,
        )
    )


@command(
    "exhibit show",
    "exhibit show <E-n>",
    N_("Show one exhibit with its chain of custody."),
    args=(Arg("ref"),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def exhibit_show(ctx: CommandContext) -> Reply:
    """One exhibit in full."""
    view = await find_exhibit(ctx, ctx.args["ref"])
    names = await member_names(ctx, _people_of(view))
    audit_consult(ctx, [exhibit_ref(view.exhibit)], "exhibits")
    return Reply(exhibit_message(view, names, await ctx.tz()))


@command(
    "exhibits",
    "exhibits [OP]",
    N_("List the operation's exhibits and who holds each."),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def exhibits_list(ctx: CommandContext) -> Reply:
    """Every exhibit the actor may read, in `E-n` order, with its holder."""
    op = ctx.operation()
    views, hidden = await readable_exhibits(ctx.session, op, await reader(ctx))
    people: set[int | None] = set()
    for view in views:
        people |= _people_of(view)
    names = await member_names(ctx, people)
    lines = [
        _("{ref} {number}: {description} — seal {seal}; held by {holder}").format(
            ref=exhibit_ref(v.exhibit),
            number=v.exhibit.number,
            description=v.exhibit.description,
            seal=v.exhibit.seal or "—",
            holder=_person(names, v.exhibit.holder_id, v.exhibit.holder_name),
        )
        for v in views
    ] or [_("No exhibits.")]
    audit_consult(ctx, [exhibit_ref(v.exhibit) for v in views], "exhibits")
    return Reply(
        Message(
            title=_("{op} exhibits").format(op=op.code),
            lines=lines + hidden_line(hidden),
            tlp=max((TLP(v.exhibit.tlp) for v in views), key=lambda t: t.rank).value
            if views
            else None,
        )
    )
