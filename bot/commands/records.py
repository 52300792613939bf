"""`subject edit`, `subject|sighting|notice erase`, `review keep`, `op retention`.

Rectification keeps each field's previous value in a `SubjectRevision` named by the audit
entry (outside the hash chain, so erasure can remove it); erasure removes content and
keeps the shell and the audit trail (`bot.core.lifecycle`); a record past its review date is
kept with a reason (its next review 12 months on) or erased. These commands also work in a
closed operation: its records are reviewed until erased or kept.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete
from sqlmodel import col, select

from bot.base.clock import add_months
from bot.base.i18n import N_, _, ngettext
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.amend import tell_corrected, tell_withdrawn
from bot.commands.context import CommandContext
from bot.commands.deconflict import deconflict
from bot.commands.errors import CommandError, UsageError
from bot.commands.fieldpending import forget_pending_about
from bot.commands.finder import regions
from bot.commands.intel import (
    REVIEW_MONTHS,
    find_notice,
    find_sighting,
    find_subject,
)
from bot.commands.refs import parse_ref
from bot.commands.registry import Arg, Flag, Handler, OpMode, command
from bot.commands.render import notice_ref, sighting_ref, subject_ref
from bot.commands.subjects import parse_aliases, parse_category, parse_sex
from bot.commands.values import parse_country, parse_dob, parse_int, required_reason
from bot.contracts import Reply
from bot.core import corrections, entities, lifecycle, protection
from bot.core.access import Perm
from bot.core.entities import strong_keys
from bot.core.evidence import FileStore, file_store
from bot.core.search import subject_keys
from bot.store.audit import Action
from bot.store.models import Notice, Sighting, Subject, SubjectKey, SubjectRevision


def _new_values(ctx: CommandContext, subject: Subject) -> dict[str, object]:
    """The fields the command line changes (field name → new value)."""
    given: dict[str, object] = {}
    if ctx.args.get("name") is not None:
        name = str(ctx.args["name"]).strip()
        if not name or len(name) > 200:
            raise UsageError(_("A name is 1 to 200 characters."))
        if subject.kind in entities.ENTITY_KINDS:  # a value: read as on `subject add`
            try:
                name = entities.read(
                    subject.kind,
                    name,
                    regions=regions(ctx.operation()),
                    country=subject.nationality,
                    doc_type="other",
                ).display
            except entities.EntityError as exc:
                raise UsageError(str(exc)) from None
        given["name"] = name
    if ctx.args.get("alias"):
        given["aliases"] = parse_aliases(ctx.args["alias"])
    if ctx.args.get("nationality"):
        given["nationality"] = parse_country(ctx.args["nationality"])
    for flag, field, parse in (("dob", "dob", parse_dob), ("sex", "sex", parse_sex)):
        if ctx.args.get(flag):
            if subject.kind != "person":
                raise UsageError(
                    _("--{flag} is for persons only; this subject is a {kind}.").format(
                        flag=flag, kind=subject.kind
                    )
                )
            given[field] = parse(ctx.args[flag])
    if ctx.args.get("desc") is not None:
        given["description"] = str(ctx.args["desc"]).strip() or None
    if ctx.args.get("category"):
        given["category"] = parse_category(subject.kind, ctx.args["category"])
    return {k: v for k, v in given.items() if getattr(subject, k) != v}


def _text(value: object) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return None if value is None else str(value)


@command(
    "subject edit",
    'subject edit <S-n> [--name "…"] [--alias A]... [--nationality XX] [--dob …] [--sex …] '
    '[--desc "…"] [--category …] --reason "…"',
    N_("Rectify a subject's data; the previous values stay on record with the audit entry."),
    args=(Arg("subject", ref=True),),
    flags=(
        Flag("name"),
        Flag("alias", multi=True),
        Flag("nationality"),
        Flag("dob"),
        Flag("sex"),
        Flag("desc"),
        Flag("category"),
        Flag("reason"),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.ADD_SUBJECT,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "--alias replaces the list of aliases. The audit entry names the fields changed and "
        "the revision that keeps their previous values, until the subject is erased."
    ),
)
async def subject_edit(ctx: CommandContext) -> Reply:
    """Change a subject's fields, keeping the old values as revisions."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["subject"])
    changes = _new_values(ctx, subject)
    ref = subject_ref(subject)
    if not changes:
        raise CommandError(
            _(
                "Nothing to change on {ref}: give a new value with --name, --alias, --nationality, "
                "--dob, --sex, --desc or --category."
            ).format(ref=ref)
        )
    note = required_reason(ctx.args.get("reason"), _("a rectification"))
    revisions = [
        SubjectRevision(
            subject_id=subject.id or 0,
            field=field,
            old_value=_text(getattr(subject, field)),
            changed_by=ctx.member().id,
            changed_at=ctx.now,
        )
        for field in changes
    ]
    ctx.session.add_all(revisions)
    for field, value in changes.items():
        setattr(subject, field, value)
    ctx.session.add(subject)
    await ctx.session.flush()
    if {"name", "aliases", "dob", "nationality"} & set(changes):
        conn = await ctx.session.connection()
        await conn.execute(delete(SubjectKey).where(col(SubjectKey.subject_id) == subject.id))
        strong = strong_keys(subject)
        ctx.session.add_all(subject_keys(subject, strong))
        await deconflict(ctx, subject, [t for _part, t in strong])
    fields = ", ".join(changes)
    ids = ", ".join(f"#{r.id}" for r in revisions)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"rectified {fields}; previous values in revision {ids}: {note}"[:1000],
    )
    # Every channel that was sent a post naming the subject is told it was corrected; a
    # protected person was never named to a channel (only a neutral line), so none is told.
    if not protection.is_protected(subject, ctx.now):
        refs = [ref, *await _refs_about(ctx, subject)]
        await tell_corrected(ctx, refs, list(changes), note, ref)
    return Reply(
        Message(
            lines=[
                _(
                    "{ref} rectified: {fields}. The previous values are kept with the audit "
                    "entry until the subject is erased."
                ).format(ref=ref, fields=fields)
            ],
            tlp=subject.tlp,
        )
    )


async def _erased(ctx: CommandContext, refs: list[str], reason: str) -> Reply:
    """What every erasure ends with: the stored posts about `refs` and the stored first
    answers forgotten, one `erase` audit entry (who, when, why, which references)."""
    op = ctx.operation()
    # Read before the scrub: a post not sent yet never will be, so it needs no retraction.
    reached = await corrections.recipients_of(ctx.session, op, refs, corrections.REACHED)
    await lifecycle.scrub_posts(ctx.session, op, refs)
    await lifecycle.forget_stored_answers(ctx.session)
    ctx.audit(Action.ERASE, object_ref=f"{op.code}/{','.join(refs)}"[:200], reason=reason)
    await tell_withdrawn(ctx, reached, reason)
    return Reply(Message(lines=[_("{ref} is erased.").format(ref=refs[0])]))


def _erase_command(noun: str, prefix: str, details: str = "") -> Callable[[Handler], Handler]:
    """The `<noun> erase <prefix>-n --reason "…"` command: one declaration for the three."""
    return command(
        f"{noun} erase",
        f'{noun} erase <{prefix}-n> --reason "…"',
        N_("Erase a record's content (lead); the audit log keeps who, when and why."),
        args=(Arg("ref", ref=True),),
        flags=(Flag("reason"),),
        op=OpMode.REQUIRED,
        perm=Perm.ERASE,
        writes=True,
        action=Action.ERASE,
        details=details,
    )


@_erase_command(
    "subject",
    "S",
    details=N_(
        "Erases the subject with its sightings, its notices, its search keys, its "
        "rectification history and its decided links; the stored copies of the posts about "
        "them are emptied (a post not yet sent is not sent). The reference stays, as erased."
    ),
)
async def subject_erase(ctx: CommandContext) -> Reply:
    """Erase a subject and everything recorded about it."""
    subject = await find_subject(ctx, ctx.args["ref"])
    reason = required_reason(ctx.args.get("reason"), _("an erasure"))
    me = ctx.member().id
    sightings = (
        await ctx.session.exec(
            select(Sighting).where(
                Sighting.subject_id == subject.id, col(Sighting.erased_at).is_(None)
            )
        )
    ).all()
    notices = (
        await ctx.session.exec(
            select(Notice).where(Notice.subject_id == subject.id, col(Notice.erased_at).is_(None))
        )
    ).all()
    refs = [subject_ref(subject)]
    for sighting in sightings:
        lifecycle.blank_sighting(sighting, me, ctx.now, reason)
        ctx.session.add(sighting)
        refs.append(sighting_ref(sighting))
    for notice in notices:
        lifecycle.blank_notice(notice, me, ctx.now, reason)
        ctx.session.add(notice)
        refs.append(notice_ref(notice))
    await lifecycle.erase_subject_data(ctx.session, subject)
    await lifecycle.erase_evidence(ctx.session, [s.id or 0 for s in sightings], _files(ctx))
    await forget_pending_about(ctx, subject.seq)
    lifecycle.blank_subject(subject, me, ctx.now, reason)
    ctx.session.add(subject)
    await _erased(ctx, refs, reason)
    with_what = [
        ngettext("{n} sighting", "{n} sightings", len(sightings)).format(n=len(sightings)),
        ngettext("{n} notice", "{n} notices", len(notices)).format(n=len(notices)),
    ]
    return Reply(
        Message(
            lines=[
                _(
                    "{ref} is erased, with {what}: {refs}. The audit log keeps who erased them, "
                    "when and why."
                ).format(
                    ref=refs[0], what=_(" and ").join(with_what), refs=", ".join(refs[1:]) or "—"
                )
            ]
        )
    )


@_erase_command("sighting", "SG")
async def sighting_erase(ctx: CommandContext) -> Reply:
    """Erase one sighting's content."""
    sighting, _subject = await find_sighting(ctx, ctx.args["ref"])
    reason = required_reason(ctx.args.get("reason"), _("an erasure"))
    lifecycle.blank_sighting(sighting, ctx.member().id, ctx.now, reason)
    ctx.session.add(sighting)
    await lifecycle.erase_evidence(ctx.session, [sighting.id or 0], _files(ctx))
    return await _erased(ctx, [sighting_ref(sighting)], reason)


@_erase_command("notice", "N")
async def notice_erase(ctx: CommandContext) -> Reply:
    """Erase one notice's content; sightings no longer match it."""
    notice, _subject = await find_notice(ctx, ctx.args["ref"])
    reason = required_reason(ctx.args.get("reason"), _("an erasure"))
    lifecycle.blank_notice(notice, ctx.member().id, ctx.now, reason)
    ctx.session.add(notice)
    return await _erased(ctx, [notice_ref(notice)], reason)


@command(
    "review keep",
    'review keep <S-n|SG-n|N-n> --reason "…"',
    N_("Keep a record past its review date, with the reason (lead); reviewed again in 12 months."),
    args=(Arg("ref", ref=True),),
    flags=(Flag("reason"),),
    op=OpMode.REQUIRED,
    perm=Perm.ERASE,
    writes=True,
    action=Action.ALTER,
)
async def review_keep(ctx: CommandContext) -> Reply:
    """Set the next review date of a record 12 months on."""
    op = ctx.operation()
    raw = str(ctx.args["ref"])
    kind = parse_ref(raw).prefix
    reason = required_reason(ctx.args.get("reason"), _("keeping a record"))
    record: Subject | Sighting | Notice
    if kind == "S":
        record = await find_subject(ctx, raw)
        ref = subject_ref(record)
    elif kind == "SG":
        record, _s = await find_sighting(ctx, raw)
        ref = sighting_ref(record)
    elif kind == "N":
        record, _s = await find_notice(ctx, raw)
        ref = notice_ref(record)
    else:
        raise UsageError(
            _("'{raw}' is not a subject, sighting or notice reference.").format(raw=raw)
        )
    record.review_at = add_months(ctx.now, REVIEW_MONTHS)
    ctx.session.add(record)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}", reason=f"kept: {reason}")
    return Reply(
        Message(
            lines=[
                _("{ref} is kept; next review {when}.").format(
                    ref=ref, when=format_time(record.review_at, await ctx.tz())
                )
            ]
        )
    )


@command(
    "op retention",
    "op retention [OP] <months>",
    N_("How long a closed operation's records are kept before they come up for review (lead)."),
    args=(Arg("months"),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
)
async def op_retention(ctx: CommandContext) -> Reply:
    """Set the retention period; in a closed operation, review dates move up to match."""
    op = ctx.operation()
    months = parse_int(str(ctx.args["months"]), _("The retention period"), 1, 120)
    was = op.retention_months or lifecycle.RETENTION_MONTHS
    op.retention_months = months
    ctx.session.add(op)
    await lifecycle.pull_reviews(ctx.session, op)
    ctx.audit(Action.ALTER, object_ref=op.code, reason=f"retention {was} -> {months} months")
    return Reply(
        Message(
            lines=[
                _(
                    "{op} keeps its records {months} months after closing; then they come up "
                    "for review."
                ).format(op=op.code, months=months)
            ]
        )
    )


async def _refs_about(ctx: CommandContext, subject: Subject) -> list[str]:
    """The references of the sightings and notices about a subject (their posts name it)."""
    sightings = await ctx.session.exec(
        select(Sighting.seq).where(
            Sighting.subject_id == subject.id, col(Sighting.erased_at).is_(None)
        )
    )
    notices = await ctx.session.exec(
        select(Notice.seq).where(Notice.subject_id == subject.id, col(Notice.erased_at).is_(None))
    )
    return [f"SG-{n}" for n in sightings] + [f"N-{n}" for n in notices]


def _files(ctx: CommandContext) -> FileStore:
    """Where this deployment keeps photos (erasure removes them)."""
    return file_store(ctx.settings.data_dir)
