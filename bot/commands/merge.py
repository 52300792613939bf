"""`subject merge S-2 into S-1 --reason "…"`: one person recorded twice becomes one.

Everything recorded about the duplicate moves to the subject kept: its sightings, its
notices and diffusions, its decided links (a link between the two goes; a link both had
to a third subject keeps the kept subject's decision), and its name and aliases become
aliases of the kept subject (its search keys are rebuilt). The kept subject takes the
higher of the two TLP labels. The duplicate stays as a pointer: its reference answers
"S-2 was merged into S-1", its content is removed like an erasure's (it now lives in the
kept subject), and who merged it, when and why are kept. Read grants on the duplicate are
not carried over (they would widen who reads the kept subject). Subjects of different
kinds or categories, and TLP:RED subjects (their readers would change), are not merged.
The channels that were sent posts naming the duplicate are told.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, update
from sqlmodel import col, select

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, use_language
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, UsageError
from bot.commands.fieldpending import forget_pending_about
from bot.commands.intel import find_subject
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import subject_ref
from bot.commands.values import required_reason
from bot.contracts import Reply
from bot.core import corrections, lifecycle
from bot.core.access import TLP, Perm, tlp_max
from bot.core.search import subject_keys
from bot.store.audit import Action
from bot.store.models import Notice, Sighting, Subject, SubjectKey, SubjectLink


@command(
    "subject merge",
    'subject merge <S-n> into <S-n> --reason "…"',
    N_(
        "Merge a duplicate subject into another (lead): its sightings, notices and links "
        "move; the duplicate's reference points to the one kept."
    ),
    args=(Arg("duplicate", ref=True), Arg("into"), Arg("kept", ref=True)),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.ERASE,
    writes=True,
    action=Action.ALTER,
)
async def subject_merge(ctx: CommandContext) -> Reply:
    """Move what hangs off the duplicate to the kept subject; keep the duplicate as a pointer."""
    op = ctx.operation()
    if str(ctx.args["into"]).lower() != "into":
        raise UsageError(_('Write it as `subject merge S-2 into S-1 --reason "…"`.'))
    dup = await find_subject(ctx, ctx.args["duplicate"])
    kept = await find_subject(ctx, ctx.args["kept"])
    dup_ref, kept_ref = subject_ref(dup), subject_ref(kept)
    if dup.id == kept.id:
        raise CommandError(_("{ref} cannot be merged into itself.").format(ref=dup_ref))
    if (dup.kind, dup.category) != (kept.kind, kept.category):
        raise CommandError(
            _(
                "{dup} and {kept} are recorded differently ({a}, {b}); rectify one with "
                '`subject edit … --reason "…"` before merging.'
            ).format(
                dup=dup_ref,
                kept=kept_ref,
                a=" ".join(x for x in (dup.kind, dup.category) if x),
                b=" ".join(x for x in (kept.kind, kept.category) if x),
            )
        )
    if TLP.RED.value in (dup.tlp, kept.tlp):
        raise CommandError(_("A TLP:RED subject is not merged: who may read it would change."))
    reason = required_reason(ctx.args.get("reason"), _("a merge"))
    sightings = list(
        (
            await ctx.session.exec(
                select(Sighting.seq).where(
                    Sighting.subject_id == dup.id, col(Sighting.erased_at).is_(None)
                )
            )
        ).all()
    )
    notices = list(
        (
            await ctx.session.exec(
                select(Notice.seq).where(
                    Notice.subject_id == dup.id, col(Notice.erased_at).is_(None)
                )
            )
        ).all()
    )
    moved = [f"SG-{n}" for n in sightings] + [f"N-{n}" for n in notices]
    reached = await corrections.recipients_of(
        ctx.session, op, [dup_ref, *moved], corrections.QUEUED
    )
    conn = await ctx.session.connection()
    for model in (Sighting, Notice):
        table = model.__table__  # type: ignore[union-attr]
        await conn.execute(
            update(table).where(table.c.subject_id == dup.id).values(subject_id=kept.id)
        )
    links = await _move_links(ctx, dup, kept)
    aliases = [a for a in [*kept.aliases, dup.name, *dup.aliases] if a != kept.name]
    kept.aliases = list(dict.fromkeys(aliases))
    kept.tlp = (tlp_max(kept.tlp, dup.tlp) or TLP(kept.tlp)).value
    ctx.session.add(kept)
    await conn.execute(delete(SubjectKey).where(col(SubjectKey.subject_id).in_([dup.id, kept.id])))
    ctx.session.add_all(subject_keys(kept))
    await lifecycle.erase_subject_data(ctx.session, dup)  # grants, revisions, keys, links left
    await forget_pending_about(ctx, dup.seq)
    lifecycle.blank_subject(dup, ctx.member().id, ctx.now, f"merged into {kept_ref}: {reason}")
    dup.merged_into = kept.id
    ctx.session.add(dup)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{dup_ref},{kept_ref}",
        reason=(
            f"merged {dup_ref} into {kept_ref}; moved {', '.join(moved) or 'nothing'}"
            f"{f'; {links} link(s)' if links else ''}: {reason}"
        )[:1000],
    )

    def post(_refs: list[str]) -> Message:
        with use_language(CHANNEL_LANGUAGE):  # posted to the channels (README "Languages")
            return Message(
                title=_("Merged: {dup} into {kept}").format(dup=dup_ref, kept=kept_ref),
                lines=[
                    _("{dup} was merged into {kept} by the lead: {reason}").format(
                        dup=dup_ref, kept=kept_ref, reason=reason
                    )
                ],
                context=op.code,
            )

    ctx.posts += await corrections.tell(
        ctx.session, now=ctx.now, op=op, reached=reached, message=post, kind="correction"
    )
    return Reply(
        Message(
            lines=[
                _(
                    "{dup} is merged into {kept}: {moved} moved, {dup}'s names kept as aliases. "
                    "{dup} now points to {kept}."
                ).format(dup=dup_ref, kept=kept_ref, moved=", ".join(moved) or "—")
            ],
            tlp=kept.tlp,
        )
    )


async def _move_links(ctx: CommandContext, dup: Subject, kept: Subject) -> int:
    """Give the duplicate's decided links to the kept subject; returns how many moved."""
    rows = (
        await ctx.session.exec(
            select(SubjectLink).where(
                or_(col(SubjectLink.subject_a) == dup.id, col(SubjectLink.subject_b) == dup.id)
            )
        )
    ).all()
    existing = {
        (r.subject_a, r.subject_b)
        for r in (
            await ctx.session.exec(
                select(SubjectLink).where(
                    or_(
                        col(SubjectLink.subject_a) == kept.id,
                        col(SubjectLink.subject_b) == kept.id,
                    )
                )
            )
        ).all()
    }
    moved = 0
    for link in rows:
        other = link.subject_b if link.subject_a == dup.id else link.subject_a
        pair = (min(other, kept.id or 0), max(other, kept.id or 0))
        if other == kept.id or pair in existing:
            await ctx.session.delete(link)
            continue
        link.subject_a, link.subject_b = pair
        existing.add(pair)
        ctx.session.add(link)
        moved += 1
    await ctx.session.flush()
    return moved
