"""`link S-1 S-4 --as uses-phone --source "…" [--grade B2]`: typed links between subjects.

A typed link is a reported fact with its source and an Admiralty grade — S-1 uses the phone
S-4, owns the account S-5, drives the van S-2, is family of S-3, works for S-6, is
advertised by S-7 — unlike a co-sighting (`links`), which stays an analytic inference. It
is read through the disclosure rule (clause 9: the link's label and both subjects in full)
on `subject show`, in `links`, the room and the export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, UsageError
from bot.commands.intel import find_subject, reader
from bot.commands.refs import looks_like_ref
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import context_line, grade_text, subject_name, subject_ref
from bot.commands.values import parse_grade, parse_tlp
from bot.contracts import Reply
from bot.core.access import TLP, Perm, tlp_max
from bot.core.disclosure import Level, Reader
from bot.core.protection import disclosure_label
from bot.store.audit import Action
from bot.store.models import Subject
from bot.store.models_entities import SubjectRelation

# Kind → (the kinds S-1 may be, the kinds S-4 may be); None: any.
PERSONS = ("person",)
KINDS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    "uses-phone": (None, ("phone", "handset")),
    "owns-account": (None, ("account",)),
    "drives": (PERSONS, ("vehicle", "vessel")),
    "family": (PERSONS, PERSONS),
    "works-for": (("person", "organisation"), ("organisation",)),
    "advertised-by": (None, ("advert",)),
}
MAX_SOURCE = 500


def _shape(words: list[str]) -> bool:
    """`link [OP] S-1 S-4 …`: two subject references (not a link code)."""
    refs = [w for w in words[:3] if not w.startswith("--") and looks_like_ref(w)]
    return len(refs) >= 2


def _kind(raw: str) -> str:
    kind = raw.strip().lower()
    if kind not in KINDS:
        raise UsageError(
            _("'{value}' is not a kind of link; use one of {kinds}.").format(
                value=raw, kinds=", ".join(KINDS)
            )
        )
    return kind


def _fits(kind: str, a: Subject, b: Subject) -> None:
    """One sentence when the two subjects cannot be linked so."""
    first, second = KINDS[kind]
    for subject, allowed in ((a, first), (b, second)):
        if allowed is not None and subject.kind not in allowed:
            raise UsageError(
                _("`{kind}` links {first} to {second}; {ref} is a {actual}.").format(
                    kind=kind,
                    first="/".join(first or (_("anything"),)),
                    second="/".join(second or (_("anything"),)),
                    ref=subject_ref(subject),
                    actual=subject.kind,
                )
            )


@command(
    "link subjects",
    "link [OP] <S-n> <S-n> --as uses-phone|owns-account|drives|family|works-for|advertised-by "
    '--source "…" [--grade B2] [--tlp …]',
    N_("Record a typed link between two subjects, with its source and grade."),
    args=(Arg("first", ref=True), Arg("second", ref=True)),
    flags=(Flag("as", required=True), Flag("source", required=True), Flag("grade"), Flag("tlp")),
    op=OpMode.REQUIRED,
    perm=Perm.ADD_SUBJECT,
    writes=True,
    action=Action.COLLECT,
    shape=_shape,
    details=N_(
        "A reported fact, unlike a co-sighting in `links` (an analytic inference). It takes "
        "at least the labels of both subjects."
    ),
)
async def link_subjects(ctx: CommandContext) -> Reply:
    """Record `S-1 <kind> S-4`."""
    op = ctx.operation()
    kind = _kind(str(ctx.args["as"]))
    source = str(ctx.args["source"]).strip()
    if not source:
        raise UsageError(_("--source needs a few words: where this comes from."))
    if len(source) > MAX_SOURCE:
        raise UsageError(_("--source is too long; the limit is 500 characters."))
    grade = parse_grade(ctx.args["grade"]) if ctx.args.get("grade") else None
    a = await find_subject(ctx, ctx.args["first"])
    b = await find_subject(ctx, ctx.args["second"])
    if a.id == b.id:
        raise UsageError(_("Give two different subjects."))
    _fits(kind, a, b)
    asked = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else TLP(op.tlp)
    label = tlp_max(asked, a.tlp, b.tlp) or asked
    existing = (
        await ctx.session.exec(
            select(SubjectRelation).where(
                SubjectRelation.operation_id == op.id,
                SubjectRelation.subject_a == a.id,
                SubjectRelation.subject_b == b.id,
                SubjectRelation.kind == kind,
            )
        )
    ).first()
    if existing is not None:
        raise CommandError(
            _("{first} {kind} {second} is already recorded.").format(
                first=subject_ref(a), kind=kind, second=subject_ref(b)
            )
        )
    row = SubjectRelation(
        operation_id=op.id or 0,
        subject_a=a.id or 0,
        subject_b=b.id or 0,
        kind=kind,
        source=source,
        grade=grade,
        tlp=label.value,
        created_by=ctx.member().id,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    pair = f"{subject_ref(a)}+{subject_ref(b)}"
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/{pair}", reason=f"link {kind}")
    shown = disclosure_label(label, a, b, now=ctx.now)
    lines = [
        _("Source: {source}").format(source=source),
        _("Grade: {grade}").format(grade=grade_text(grade)),
    ]
    if label is not asked:
        lines.append(
            _("The label was raised to {label}: a link carries its subjects' labels.").format(
                label=label.label
            )
        )
    return Reply(
        Message(
            title=f"{subject_name(a)} — {kind} — {subject_name(b)}",
            lines=lines,
            context=context_line(op, pair, shown),
            tlp=shown.value,
        )
    )


# --------------------------------------------------------------------------- reading


@dataclass
class Typed:
    """A typed link as a reader may see it."""

    row: SubjectRelation
    a: Subject
    b: Subject
    label: TLP

    def line(self, about: Subject | None = None) -> str:
        """`S-1 Ivan Petrov — uses-phone — S-4 +34 612 34 56 78 · grade B2 · TLP:AMBER ·
        source: …` (about S-1: the other side only)."""
        if about is not None and about.id == self.a.id:
            head = f"{self.row.kind} → {subject_name(self.b)}"
        elif about is not None:
            head = f"{subject_name(self.a)} → {self.row.kind}"
        else:
            head = f"{subject_name(self.a)} — {self.row.kind} — {subject_name(self.b)}"
        grade = _("grade {grade}").format(grade=self.row.grade) if self.row.grade else None
        parts = [head, *([grade] if grade else []), self.label.label]
        return " · ".join(parts) + " · " + _("source: {source}").format(source=self.row.source)


async def readable_relations(
    session: AsyncSession,
    who: Reader,
    op_id: int,
    *,
    subject_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[Typed]:
    """The typed links of an operation (or touching `subject_ids`) the reader sees in full
    (the disclosure rule, clause 9), newest first."""
    query = select(SubjectRelation).where(SubjectRelation.operation_id == op_id)
    if subject_ids is not None:
        ids = list(subject_ids)
        query = query.where(
            or_(col(SubjectRelation.subject_a).in_(ids), col(SubjectRelation.subject_b).in_(ids))
        )
    rows = (await session.exec(query.order_by(col(SubjectRelation.id).desc()))).all()
    wanted = {i for r in rows for i in (r.subject_a, r.subject_b)}
    subjects = {
        s.id: s
        for s in (
            await session.exec(select(Subject).where(col(Subject.id).in_(list(wanted))))
        ).all()
    }
    out: list[Typed] = []
    for r in rows:
        a, b = subjects.get(r.subject_a), subjects.get(r.subject_b)
        if a is None or b is None or a.erased_at is not None or b.erased_at is not None:
            continue
        if who.relation(r.id, r.created_by, r.tlp, a, b) is not Level.FULL:
            continue
        out.append(Typed(r, a, b, disclosure_label(TLP(r.tlp), a, b, now=who.now)))
        if limit is not None and len(out) >= limit:
            break
    return out


async def relation_lines(
    ctx: CommandContext, subject: Subject | None, limit: int = 20
) -> tuple[list[str], list[TLP], list[str]]:
    """The typed links a command shows (of one subject, or the operation's newest): lines,
    labels, references read."""
    op = ctx.operation()
    who = await reader(ctx)
    found = await readable_relations(
        ctx.session,
        who,
        op.id or 0,
        subject_ids=[subject.id or 0] if subject is not None else None,
        limit=limit,
    )
    if not found:
        return [], [], []
    lines = [_("Recorded links (reported, graded):")]
    lines += [f"  {t.line(subject)}" for t in found]
    refs = list(dict.fromkeys(r for t in found for r in (subject_ref(t.a), subject_ref(t.b))))
    return lines, [t.label for t in found], refs
