"""Disclosure of one item: channels (with a neutral fallback) and private deliveries.

Every command that posts an item about a subject goes through `post_item`: a message that
shows a protected person carries TLP:RED (`bot.core.protection.disclosure_label`), so fan-out
never posts it to a channel; channels get the neutral line, and the leads (or, for a
TLP:RED item, its named recipients) get the record privately.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.base.i18n import _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import UsageError
from bot.commands.operations import find_member_in_op
from bot.core import protection
from bot.core.access import TLP
from bot.core.fanout import FanoutResult
from bot.core.fanout import fanout as fanout_to_channels
from bot.store.models import Subject


async def parse_recipients(ctx: CommandContext, label: TLP) -> list[int]:
    """`--to M-3,M-7`: members of the operation, for a TLP:RED item only."""
    raw = str(ctx.args.get("to") or "").strip()
    if not raw:
        return []
    if label is not TLP.RED:
        raise UsageError(
            _(
                "--to names the recipients of a TLP:RED item; add --tlp red (other labels go "
                "to the linked channels)."
            )
        )
    ids: list[int] = []
    for token in (t for t in raw.split(",") if t.strip()):
        member, _ms = await find_member_in_op(ctx, token)
        if member.id is not None and member.id not in ids:
            ids.append(member.id)
    return ids


async def red_audience(
    ctx: CommandContext,
    explicit: Iterable[int],
    sources: Iterable[tuple[str, int | None, int | None]],
) -> set[int]:
    """Who reads a new TLP:RED item: its named recipients, and the readers of the RED
    records it repeats (`sources`: kind, id, author) — the restriction travels with it."""
    readers = set(explicit)
    for kind, item_id, author in sources:
        readers |= await protection.recipients_of(ctx.session, kind, item_id)
        if author is not None:
            readers.add(author)
    return readers


async def post_item(
    ctx: CommandContext,
    message: Message,
    *,
    tlp: TLP,
    kind: str,
    object_ref: str,
    subject: Subject | None,
    neutral: Message | None,
    red_readers: set[int] | None = None,
    protected_place: bool = False,
) -> list[str]:
    """Post an item to the linked channels (or its neutral line), and privately to the
    leads when it shows a protected person or place, or to its readers when TLP:RED.

    Returns the lines that tell the author where it went.
    """
    op = ctx.operation()
    author = ctx.member().id
    result: FanoutResult = await fanout_to_channels(
        ctx.session,
        now=ctx.now,
        op=op,
        message=message,
        tlp=tlp,
        kind=kind,
        object_ref=object_ref,
        fallback=(neutral, tlp) if neutral is not None and tlp is not TLP.RED else None,
        owner=await ctx.owner_if_strict(tlp),
    )
    ctx.posts += len(result.posted)
    lines = [result.summary()]
    private_to: set[int] = set()
    what = _("The record")
    if tlp is TLP.RED:
        private_to = set(red_readers or ())
        what = _("TLP:RED: the record")
    elif protection.is_protected(subject, ctx.now):
        private_to = set(await protection.lead_ids(ctx.session, op))
        what = _("Protected person: the record")
    elif protected_place:
        private_to = set(await protection.lead_ids(ctx.session, op))
        what = _("Protected place: the record")
    private_to.discard(author or 0)
    if private_to:
        sent = await protection.deliver_private(
            ctx.session,
            now=ctx.now,
            op=op,
            member_ids=private_to,
            message=message,
            kind=f"{kind}-private",
            object_ref=object_ref,
            tlp=TLP.RED if message.tlp == TLP.RED.value else tlp,
        )
        ctx.posts += len(sent.reached)
        note = sent.summary(what)
        if note:
            lines.append(note)
    elif tlp is TLP.RED:
        lines.append(_("TLP:RED: only you can read it; name recipients with --to M-3,M-7."))
    return lines
