"""What a sighting records beyond time and place (SALUTE), and `sighting grade`.

A reporter describes what was seen in fields of their own (`--activity`, `--direction`,
`--count`, `--equipment`) rather than in the note. A reporter's `--grade` is their own
assessment, kept as "reporter's assessment"; the grade of record is given by a lead or an
analyst with `sighting grade SG-n B2 --reason "…"`, audited with the reason and the grade
it replaces. Grading is independent: never by the member who reported the sighting, nor by
the one named as its observer; every grading is kept (who, when, the grade, why) and shown
on `sighting show`.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, UsageError
from bot.commands.intel import find_sighting, member_names
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import context_line, grade_text, sighting_ref, sighting_tlp
from bot.commands.values import parse_grade
from bot.contracts import Reply
from bot.core.access import Perm
from bot.store.audit import Action
from bot.store.models_records import SightingGrade

# flag → (column, limit)
SALUTE = {
    "activity": ("activity", 500),
    "direction": ("direction", 200),
    "count": ("count", 100),
    "equipment": ("equipment", 500),
}
SALUTE_FLAGS = tuple(Flag(name) for name in SALUTE)


def salute_fields(ctx: CommandContext) -> dict[str, Any]:
    """The SALUTE fields given on the command line (stripped; too long is refused)."""
    out: dict[str, Any] = {}
    for flag, (column, limit) in SALUTE.items():
        value = (ctx.args.get(flag) or "").strip() or None
        if value is not None and len(value) > limit:
            raise UsageError(
                _("--{flag} is too long; the limit is {limit} characters.").format(
                    flag=flag, limit=limit
                )
            )
        out[column] = value
    return out


@command(
    "sighting grade",
    'sighting grade <SG-n> <grade> --reason "…"',
    N_("Grade a sighting in the Admiralty code (lead or analyst), with the reason."),
    args=(Arg("ref", ref=True), Arg("grade")),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.GRADE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "Source reliability A-F, information credibility 1-6 (B2: usually reliable, probably "
        "true). The reporter's own grade stays on record apart, as the reporter's assessment."
    ),
)
async def sighting_grade(ctx: CommandContext) -> Reply:
    """Set the grade of record of a sighting; the audit entry keeps the one it replaces."""
    op = ctx.operation()
    sighting, subject = await find_sighting(ctx, ctx.args["ref"])
    grade = parse_grade(str(ctx.args["grade"]))
    reason = (ctx.args.get("reason") or "").strip()
    if not reason:
        raise UsageError(_('Say why with --reason "…": a grade is given with its reason.'))
    if len(reason) > 900:
        raise UsageError(_("--reason is too long; the limit is 900 characters."))
    me = ctx.member()
    observer = (sighting.observer or "").strip().casefold()
    if me.id == sighting.reporter_id or (observer and observer == me.name.strip().casefold()):
        raise CommandError(
            _(
                "You reported or observed {ref}; its grade is given by another lead or analyst, "
                "so that grading stays independent."
            ).format(ref=sighting_ref(sighting))
        )
    was = sighting.grade
    ctx.session.add(
        SightingGrade(
            sighting_id=sighting.id or 0,
            grade=grade,
            was=was,
            reason=reason,
            graded_by=me.id,
            graded_at=ctx.now,
        )
    )
    sighting.grade, sighting.graded_by, sighting.graded_at = grade, ctx.member().id, ctx.now
    ctx.session.add(sighting)
    ref = sighting_ref(sighting)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"graded {grade} (was {was or 'ungraded'}): {reason}",
    )
    lines = [_("{ref} graded {grade}.").format(ref=ref, grade=grade_text(grade))]
    if sighting.reporter_grade:
        lines.append(
            _("The reporter's assessment ({grade}) stays on record apart.").format(
                grade=sighting.reporter_grade
            )
        )
    label = sighting_tlp(sighting, subject)
    return Reply(Message(lines=lines, context=context_line(op, ref, label), tlp=label.value))


async def grade_rows(
    session: AsyncSession, sighting_ids: list[int]
) -> dict[int, list[SightingGrade]]:
    """The gradings of these sightings, oldest first, by sighting id."""
    out: dict[int, list[SightingGrade]] = {}
    if not sighting_ids:
        return out
    rows = await session.exec(
        select(SightingGrade)
        .where(col(SightingGrade.sighting_id).in_(sighting_ids))
        .order_by(col(SightingGrade.id))
    )
    for row in rows:
        out.setdefault(row.sighting_id, []).append(row)
    return out


async def grade_history(ctx: CommandContext, sighting_id: int) -> list[str]:
    """The grade of record's history, oldest first: `C3 (was ungraded) by ana, <time>: why`."""
    rows = (await grade_rows(ctx.session, [sighting_id])).get(sighting_id, [])
    if not rows:
        return []
    names = await member_names(ctx, [r.graded_by for r in rows])
    tz = await ctx.tz()
    lines = [_("Grade history:")]
    for row in rows:
        lines.append(
            _("{grade} (was {was}) by {who}, {when}: {reason}").format(
                grade=row.grade,
                was=row.was or _("ungraded"),
                who=names.get(row.graded_by or 0, _("unknown")),
                when=format_time(row.graded_at, tz),
                reason=row.reason,
            )
        )
    return lines
