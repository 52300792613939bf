"""Hit/no-hit deconfliction across operations (README "Deconfliction across operations").

When a subject is added, rectified or sighted, its normalised keys (`bot.core.entities`:
a phone, an account, a handset, a document, an advert, an address, a plate, or a person's
name with date of birth) are looked up in every other operation through the search keys'
token index — one indexed read, never a scan of the subjects. A key held in an operation
the member does not belong to is a hit (`D-n`): neither side sees the other's record; the
leads of each side get a private notice naming only their own subject, and the other
side's leads by name and agency only where that operation opened contact (`op
deconfliction OP --contact open`), otherwise "through a Taskforce admin, quoting D-n".
Both notices are `combine` entries, one in each operation's audit chain. A pair already
told is told again at most once a day (a later sighting or change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import CHANNEL_LANGUAGE, _, use_language
from bot.base.messages import Message
from bot.core import protection
from bot.core.access import TLP, Role
from bot.core.disclosure import Level, Reader
from bot.store import audit
from bot.store.models import Agency, Member, Membership, Notice, Operation, Subject, SubjectKey
from bot.store.models_entities import DeconflictionHit, DeconflictionPolicy

RETELL_AFTER = timedelta(hours=24)
SYSTEM_ACTOR = "deconfliction"
CONTACT_OPEN, CONTACT_ADMIN = "open", "via-admin"
CONTACTS = (CONTACT_OPEN, CONTACT_ADMIN)
NAME_PARTS = ("name", "alias")  # the name words; every other part is a normalised key

_KEY = SubjectKey.__table__  # type: ignore[attr-defined]
_MEMBERSHIP = Membership.__table__  # type: ignore[attr-defined]
_OPERATION = Operation.__table__  # type: ignore[attr-defined]
# The lookup: the token index (`ix_subjectkey_key`), the other operations only, open ones,
# those the member does not belong to. Bounded: a key held by thousands is not a lead.
MAX_HITS = 50
HITS = (
    sa.select(_KEY.c.subject_id, _KEY.c.operation_id, _KEY.c.part)
    .join(_OPERATION, _OPERATION.c.id == _KEY.c.operation_id)
    .where(
        _KEY.c.token.in_(sa.bindparam("tokens", expanding=True)),
        _KEY.c.operation_id != sa.bindparam("op_id"),
        _OPERATION.c.status != "closed",
        ~sa.exists().where(
            _MEMBERSHIP.c.operation_id == _KEY.c.operation_id,
            _MEMBERSHIP.c.member_id == sa.bindparam("member_id"),
        ),
    )
    .limit(MAX_HITS)
)


@dataclass
class Told:
    """What a check did: the hits told, the private posts queued, the audit entries."""

    hits: list[DeconflictionHit] = field(default_factory=list)
    posts: int = 0
    entries: list[audit.Entry] = field(default_factory=list)


async def subject_tokens(session: AsyncSession, subject_id: int) -> list[str]:
    """The normalised keys a subject holds (its search keys other than name words)."""
    rows = await session.exec(
        select(SubjectKey.token).where(
            SubjectKey.subject_id == subject_id, col(SubjectKey.part).not_in(NAME_PARTS)
        )
    )
    return list(dict.fromkeys(rows.all()))


async def contact_of(session: AsyncSession, operation_id: int) -> str:
    """An operation's contact policy: `open` or `via-admin` (the default)."""
    row = await session.get(DeconflictionPolicy, operation_id)
    return row.contact if row is not None else CONTACT_ADMIN


async def notice_readers(
    session: AsyncSession, op: Operation, now: datetime
) -> list[tuple[Member, str]]:
    """Who reads a deconfliction notice of `op` (the disclosure rule, clause 10), with their
    agency code: its leads."""
    rows = (
        await session.exec(
            select(Member, Membership.role, Agency.code)
            .join(Membership, col(Membership.member_id) == col(Member.id))
            .outerjoin(Agency, col(Agency.id) == col(Member.agency_id))
            .where(Membership.operation_id == op.id)
            .order_by(col(Member.id))
        )
    ).all()
    out = []
    for member, role, agency in rows:
        reader = Reader(role=Role(role), member_id=member.id, now=now)
        if reader.deconfliction() is Level.FULL:
            out.append((member, agency or ""))
    return out


def _contact_line(policy: str, leads: Sequence[tuple[Member, str]], ref: str) -> str:
    if policy == CONTACT_OPEN and leads:
        names = ", ".join(f"{m.name} ({agency})" if agency else m.name for m, agency in leads)
        return _("Contact its lead: {names}. Quote {ref}.").format(names=names, ref=ref)
    return _("Contact goes through a Taskforce admin: quote {ref}.").format(ref=ref)


def _notice(op: Operation, subject: Subject, part: str, contact: str, ref: str) -> Message:
    with use_language(CHANNEL_LANGUAGE):  # posted to the leads (README "Languages")
        return Message(
            title=_("Deconfliction {ref}").format(ref=ref),
            lines=[
                _(
                    "{code}'s S-{seq} matches a subject held by another operation ({part}); "
                    "its lead has been told and will contact you."
                ).format(code=op.code, seq=subject.seq, part=part),
                contact,
                _(
                    "Neither operation sees the other's record. Agree with the other lead "
                    "before acting (same target, same door, same source)."
                ),
            ],
            context=_("{code} · deconfliction · for the leads").format(code=op.code),
            tlp=TLP.RED.value,
        )


MATCHING = ("red", "yellow")


async def _notice_matches(
    session: AsyncSession,
    told: Told,
    now: datetime,
    op: Operation,
    subject: Subject,
    actor: Member,
    actor_label: str,
    command: str,
    seen: dict[int, tuple[int, str]],
) -> None:
    """A sighting of a person another operation holds under an active red or yellow
    notice: a MATCH for this operation's leads, naming only the notice's public facts
    (colour, INTERPOL reference, requesting country), never the other operation."""
    notices = (
        await session.exec(
            select(Notice)
            .where(
                col(Notice.subject_id).in_(list(seen)),
                col(Notice.colour).in_(MATCHING),
                Notice.status == "active",
                col(Notice.erased_at).is_(None),
                Notice.expires_at > now,
            )
            .order_by(col(Notice.id))
        )
    ).all()
    if not notices:
        return
    readers = [m.id for m, _a in await notice_readers(session, op, now) if m.id is not None]
    for notice in notices:
        with use_language(CHANNEL_LANGUAGE):  # posted to the leads (README "Languages")
            message = Message(
                title=_("MATCH across operations — {colour} {kind}").format(
                    colour=notice.colour.title(), kind=notice.kind
                ),
                lines=[
                    _(
                        "{code}'s S-{seq}, just sighted, is the subject of an active "
                        "{colour} {kind} recorded by another operation: INTERPOL reference "
                        "{ref}, requested by {country}."
                    ).format(
                        code=op.code,
                        seq=subject.seq,
                        colour=notice.colour.title(),
                        kind=notice.kind,
                        ref=notice.external_ref or "—",
                        country=notice.requested_by or "—",
                    ),
                    _("Confirm the notice's validity with your NCB before acting."),
                ],
                context=_("{code} · deconfliction · for the leads").format(code=op.code),
                tlp=TLP.RED.value,
            )
        sent = await protection.deliver_private(
            session,
            now=now,
            op=op,
            member_ids=readers,
            message=message,
            kind="deconfliction",
            object_ref=f"S-{subject.seq}",
            tlp=TLP.RED,
        )
        told.posts += len(sent.reached)
        told.entries.append(
            audit.Entry(
                at=now,
                actor=actor_label,
                actor_id=actor.id,
                action=audit.Action.COMBINE,
                command=command,
                operation_id=op.id,
                object_ref=f"{op.code}/S-{subject.seq}",
                reason=(
                    f"match across operations: {notice.colour} {notice.kind} "
                    f"{notice.external_ref or ''} requested by {notice.requested_by or ''}"
                ),
            )
        )


async def check(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    subject: Subject,
    actor: Member,
    actor_label: str,
    command: str,
    tokens: Sequence[str] | None = None,
    sighted: bool = False,
) -> Told:
    """Look `subject`'s normalised keys up in the other operations and tell both sides'
    leads of each new hit (or one not told for a day); `sighted`: a sighting of `subject`,
    which an active red or yellow notice on the same person in the other operation makes a
    MATCH for this operation's leads. Returns what was queued and the audit entries to
    append with the command's own."""
    told = Told()
    wanted = list(tokens) if tokens is not None else await subject_tokens(session, subject.id or 0)
    if not wanted:
        return told
    conn = await session.connection()
    found = (
        await conn.execute(HITS, {"tokens": wanted, "op_id": op.id, "member_id": actor.id})
    ).all()
    seen: dict[int, tuple[int, str]] = {}
    for other_id, other_op, part in found:
        seen.setdefault(int(other_id), (int(other_op), str(part)))
    if sighted and seen:
        await _notice_matches(session, told, now, op, subject, actor, actor_label, command, seen)
    for other_id, (other_op_id, part) in seen.items():
        hit = (
            await session.exec(
                select(DeconflictionHit).where(
                    or_(
                        (col(DeconflictionHit.subject_a) == subject.id)
                        & (col(DeconflictionHit.subject_b) == other_id),
                        (col(DeconflictionHit.subject_a) == other_id)
                        & (col(DeconflictionHit.subject_b) == subject.id),
                    )
                )
            )
        ).first()
        if hit is not None and hit.notified_at > now - RETELL_AFTER:
            continue
        if hit is None:
            hit = DeconflictionHit(
                operation_a=op.id or 0,
                subject_a=subject.id or 0,
                operation_b=other_op_id,
                subject_b=other_id,
                part=part,
                found_by=actor.id,
                found_at=now,
                notified_at=now,
            )
        else:
            hit.notified_at, hit.part = now, part
        session.add(hit)
        await session.flush()
        other_op = await session.get(Operation, other_op_id)
        other = await session.get(Subject, other_id)
        if other_op is None or other is None:
            continue
        ref = f"D-{hit.id}"
        mine, theirs = (
            await notice_readers(session, op, now),
            await notice_readers(session, other_op, now),
        )
        for side, subj, readers, contact_policy, contact_leads in (
            (op, subject, mine, await contact_of(session, other_op_id), theirs),
            (other_op, other, theirs, await contact_of(session, op.id or 0), mine),
        ):
            with use_language(CHANNEL_LANGUAGE):
                contact = _contact_line(contact_policy, contact_leads, ref)
            sent = await protection.deliver_private(
                session,
                now=now,
                op=side,
                member_ids=[m.id for m, _a in readers if m.id is not None],
                message=_notice(side, subj, part, contact, ref),
                kind="deconfliction",
                object_ref=ref,
                tlp=TLP.RED,
            )
            told.posts += len(sent.reached)
            told.entries.append(
                audit.Entry(
                    at=now,
                    actor=actor_label if side.id == op.id else SYSTEM_ACTOR,
                    actor_id=actor.id if side.id == op.id else None,
                    action=audit.Action.COMBINE,
                    command=command if side.id == op.id else "deconfliction",
                    operation_id=side.id,
                    object_ref=f"{side.code}/S-{subj.seq}",
                    reason=(
                        f"deconfliction {ref}: {part} matches a subject of another operation; "
                        f"leads told ({contact_policy} contact)"
                    ),
                )
            )
        told.hits.append(hit)
    return told
