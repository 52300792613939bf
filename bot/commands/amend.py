"""`sighting edit`, and telling the channels when a record is corrected or withdrawn.

A wrong time or place is corrected, not erased: `sighting edit SG-n … --reason "…"` keeps
each changed field's previous value as a `SightingRevision` (like a subject's
rectification), and says so to every linked channel that was sent the sighting. Erasing a
record tells them it was withdrawn. Where the line goes, and at which label, is decided by
`bot.core.corrections` (only channels that got the original, still allowed to read it).
"""

from __future__ import annotations

from typing import Any

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, ngettext, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, Denied, UsageError
from bot.commands.grading import SALUTE, salute_fields
from bot.commands.intel import find_sighting
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.render import sighting_ref
from bot.commands.sightings import MAX_LOCATION, observed_time
from bot.commands.values import parse_coords, required_reason
from bot.contracts import Reply
from bot.core import corrections
from bot.core.access import Perm, Role
from bot.core.links import grid_cell
from bot.store.audit import Action
from bot.store.models_records import SightingRevision


async def tell_withdrawn(
    ctx: CommandContext, reached: dict[tuple[str, str], corrections.Reached], reason: str
) -> None:
    """Tell the channels that were sent the erased records that they were withdrawn."""

    def message(refs: list[str]) -> Message:
        with use_language(CHANNEL_LANGUAGE):  # posted to the channels (README "Languages")
            return Message(
                title=_("Withdrawn: {refs}").format(refs=", ".join(refs)),
                lines=[
                    ngettext(
                        "{refs} was withdrawn by the lead: {reason}",
                        "{refs} were withdrawn by the lead: {reason}",
                        len(refs),
                    ).format(refs=", ".join(refs), reason=reason)
                ],
                context=ctx.operation().code,
            )

    ctx.posts += await corrections.tell(
        ctx.session,
        now=ctx.now,
        op=ctx.operation(),
        reached=reached,
        message=message,
        kind="retraction",
    )


async def tell_corrected(
    ctx: CommandContext, refs: list[str], fields: list[str], reason: str, show: str
) -> None:
    """Tell the channels that were sent any post about `refs` that the record `show`
    names was corrected: which fields, by whom, why (never the values)."""
    op = ctx.operation()
    reached = await corrections.recipients_of(ctx.session, op, refs, corrections.QUEUED)

    def message(_got: list[str]) -> Message:
        with use_language(CHANNEL_LANGUAGE):
            return Message(
                title=_("Corrected: {ref}").format(ref=show),
                lines=[
                    _("{ref} was corrected by {name} ({fields}): {reason}").format(
                        ref=show, name=ctx.member().name, fields=", ".join(fields), reason=reason
                    ),
                    _("See `{command}`.").format(command=f"{_show_command(show)} {op.code}/{show}"),
                ],
                context=op.code,
            )

    ctx.posts += await corrections.tell(
        ctx.session, now=ctx.now, op=op, reached=reached, message=message, kind="correction"
    )


# How a changed column is named to people (the stored revision keeps the column).
FIELD_WORDS = {
    "location": "place",
    "lat": "coordinates",
    "lon": "coordinates",
    "observed_at": "time seen",
}


def _show_command(ref: str) -> str:
    return "sighting show" if ref.startswith("SG-") else "subject show"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@command(
    "sighting edit",
    'sighting edit <SG-n> [--at "…"] [--coords LAT,LON] [--when TIME] [--activity "…"] '
    '[--direction "…"] [--count "…"] [--equipment "…"] [--note "…"] [--observer "…"] '
    '--reason "…"',
    N_(
        "Correct a sighting (its reporter or a lead), with the reason; the previous values "
        "are kept and the channels that got it are told."
    ),
    args=(Arg("ref", ref=True),),
    flags=(
        Flag("at"),
        Flag("coords"),
        Flag("when", kind="time"),
        Flag("note"),
        Flag("observer"),
        Flag("reason"),
        *(Flag(name) for name in SALUTE),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.POST_SIGHTING,
    writes=True,
    action=Action.ALTER,
)
async def sighting_edit(ctx: CommandContext) -> Reply:
    """Change a sighting's fields, keeping the old values as revisions."""
    op = ctx.operation()
    sighting, _subject = await find_sighting(ctx, ctx.args["ref"])
    ref = sighting_ref(sighting)
    if sighting.reporter_id != ctx.member().id and ctx.role is not Role.LEAD:
        raise Denied(
            _(
                "{ref} was reported by someone else; only its reporter or a lead corrects it."
            ).format(ref=ref)
        )
    changes = await _sighting_changes(ctx, sighting)
    if not changes:
        raise CommandError(
            _(
                "Nothing to change on {ref}: give a new value with --at, --coords, --when, "
                "--activity, --direction, --count, --equipment, --note or --observer."
            ).format(ref=ref)
        )
    reason = required_reason(ctx.args.get("reason"), _("a correction"))
    revisions = [
        SightingRevision(
            sighting_id=sighting.id or 0,
            field=name,
            old_value=_text(getattr(sighting, name)),
            reason=reason,
            changed_by=ctx.member().id,
            changed_at=ctx.now,
        )
        for name in changes
        if name != "cell"
    ]
    ctx.session.add_all(revisions)
    for name, value in changes.items():
        setattr(sighting, name, value)
    ctx.session.add(sighting)
    await ctx.session.flush()
    fields = list(dict.fromkeys(FIELD_WORDS.get(name, name) for name in changes if name != "cell"))
    ids = ", ".join(f"#{r.id}" for r in revisions)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"corrected {', '.join(fields)}; previous values in revision {ids}: {reason}"[:1000],
    )
    await tell_corrected(ctx, [ref], fields, reason, ref)
    lines = [
        _("{ref} corrected: {fields}. The previous values are kept until it is erased.").format(
            ref=ref, fields=", ".join(fields)
        )
    ]
    if "observed_at" in changes:
        lines.append(
            _("Seen: {time}").format(time=format_time(sighting.observed_at, await ctx.tz()))
        )
    return Reply(Message(lines=lines, tlp=sighting.tlp))


async def _sighting_changes(ctx: CommandContext, sighting: Any) -> dict[str, object]:
    """The fields the command line changes (column → new value), only those that differ."""
    given: dict[str, object] = {}
    if ctx.args.get("at") is not None:
        where = str(ctx.args["at"]).strip()
        if not where or len(where) > MAX_LOCATION:
            raise UsageError(_("The location is 1 to {n} characters.").format(n=MAX_LOCATION))
        given["location"] = where
    if ctx.args.get("coords"):
        lat, lon = parse_coords(str(ctx.args["coords"]))
        given.update(lat=lat, lon=lon, cell=grid_cell(lat, lon))
    if ctx.args.get("when"):
        given["observed_at"] = observed_time(ctx, str(ctx.args["when"]), await ctx.tz())
    for column, value in salute_fields(ctx).items():
        if value is not None:
            given[column] = value
    for flag, limit in (("note", 2000), ("observer", 200)):
        if ctx.args.get(flag) is not None:
            value = str(ctx.args[flag]).strip() or None
            if value is not None and len(value) > limit:
                raise UsageError(
                    _("--{flag} is too long; the limit is {limit} characters.").format(
                        flag=flag, limit=limit
                    )
                )
            given[flag] = value
    return {k: v for k, v in given.items() if getattr(sighting, k) != v}
