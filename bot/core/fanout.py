"""Fan-out: queue one post for every channel linked to an operation that may receive it.

One code path for commands (`CommandContext.fanout`) and the scheduler (reminders,
briefings, review lists): the TLP ceiling of each channel and "TLP:RED never to a group"
are applied here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _, ngettext
from bot.base.messages import Message
from bot.core.access import TLP, channel_ceiling, tlp_max
from bot.core.disclosure import channel_allows
from bot.store import tables
from bot.store.fastsql import Prepared
from bot.store.models import ChannelLink, Operation
from bot.store.outbox import enqueue_rows, outbox_row


@dataclass
class FanoutResult:
    """Where a post went, and where it was withheld and why."""

    posted: list[ChannelLink] = field(default_factory=list)
    withheld: list[tuple[ChannelLink, str]] = field(default_factory=list)
    reduced: list[ChannelLink] = field(default_factory=list)  # got the fallback instead

    def summary(self) -> str:
        """`Posted to 3 channels; withheld from 1 (ceiling TLP:GREEN).`"""
        n = len(self.posted)
        text = ngettext("Posted to {n} linked channel", "Posted to {n} linked channels", n).format(
            n=n
        )
        if self.reduced:
            k = len(self.reduced)
            text += " " + (
                _("({k} without the protected details)").format(k=k)
                if k != n
                else _("(without the protected details)")
            )
        if self.withheld:
            reasons = "; ".join(
                f"{c.platform} {c.channel_name or c.channel_key}: {_(why)}"
                for c, why in self.withheld
            )
            text += "; " + _("withheld from {n} ({reasons})").format(
                n=len(self.withheld), reasons=reasons
            )
        return text + "."


def link_agencies(link: ChannelLink) -> list[str]:
    """The agency codes a channel link records as reached (empty: unknown, shared)."""
    return [c for c in (link.agencies or "").split(",") if c]


def single_agency(link: ChannelLink) -> bool:
    """Whether the channel reaches the members of exactly one agency."""
    return len(link_agencies(link)) == 1


def effective_ceiling(link: ChannelLink) -> TLP:
    """The most a linked channel may show (never RED; AMBER+STRICT only for one agency)."""
    return channel_ceiling(link.max_tlp, single_agency(link))


def withheld_reason(label: TLP, link: ChannelLink, owner: str | None = None) -> str | None:
    """Why an item labelled `label` (shared by agency `owner`) may not go to `link`, or
    None if it may (the disclosure rule's clauses for channels)."""
    agencies = link_agencies(link)
    if channel_allows(label, link.max_tlp, agencies, owner):
        return None
    if label is TLP.RED:
        return N_("TLP:RED goes to its named recipients only, never to a channel")
    if label is TLP.AMBER_STRICT and len(agencies) != 1:
        return N_("TLP:AMBER+STRICT goes only to a single-agency channel")
    if label is TLP.AMBER_STRICT and owner is not None and agencies[0] != owner:
        return _("TLP:AMBER+STRICT stays inside {agency}").format(agency=owner)
    return _("ceiling {label}").format(label=TLP(link.max_tlp).label)


# A channel not linked to any operation is treated as a community channel.
UNLINKED_GROUP_CEILING = TLP.GREEN


_LINK_OF_CHANNEL = select(ChannelLink).where(
    col(ChannelLink.platform) == bindparam("platform"),
    col(ChannelLink.channel_key) == bindparam("channel_key"),
)
_LINKS_OF_OPERATION = (
    select(ChannelLink)
    .where(col(ChannelLink.operation_id) == bindparam("op_id"))
    .order_by(col(ChannelLink.id))
)


async def channel_link(
    session: AsyncSession, platform: str, channel_key: str
) -> ChannelLink | None:
    """The link of one chat channel, if it is linked to an operation."""
    params = {"platform": platform, "channel_key": channel_key}
    return (await session.exec(_LINK_OF_CHANNEL, params=params)).first()


_LINK = tables.CHANNEL_LINK
_LINK_IDS_OF_OPERATION = Prepared(
    sa.select(_LINK.c.id).where(_LINK.c.operation_id == sa.bindparam("op_id")).order_by(_LINK.c.id)
)


async def linked_channels(session: AsyncSession, operation_id: int | None) -> list[ChannelLink]:
    """The channels linked to an operation, oldest link first.

    The ids are read as plain rows first: most commands find no link, or only links this
    transaction has loaded already (the command's own channel); the ORM loads the links
    only when some are not in the session yet."""
    ids = [row[0] for row in await _LINK_IDS_OF_OPERATION.rows(session, {"op_id": operation_id})]
    if not ids:
        return []
    held = session.sync_session.identity_map
    known = [held.get(identity_key(ChannelLink, i)) for i in ids]
    if all(isinstance(link, ChannelLink) for link in known):
        return [link for link in known if isinstance(link, ChannelLink)]
    return list((await session.exec(_LINKS_OF_OPERATION, params={"op_id": operation_id})).all())


async def fanout(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    message: Message,
    tlp: str | TLP,
    kind: str,
    object_ref: str | None = None,
    fallback: tuple[Message, str | TLP] | None = None,
    owner: str | None = None,
) -> FanoutResult:
    """Queue `message` (labelled `tlp`) to every linked channel of `op` whose ceiling allows.

    The label used is the higher of `tlp` and the message's own (a message that shows a
    protected person carries TLP:RED, so it can never reach a channel whatever the caller
    says). Where it may not go, `fallback` (a shorter message and its label: a neutral
    line, a raid's code name and time) is posted instead if its label fits. `owner` is
    the sharer's agency: TLP:AMBER+STRICT goes only to a channel of that agency alone.
    """
    label = tlp_max(tlp, message.tlp) or TLP(tlp)
    message.tlp = label.value
    result = FanoutResult()
    rows: list[dict[str, object]] = []
    payloads: dict[int, dict[str, object]] = {}
    for link in await linked_channels(session, op.id):
        why = withheld_reason(label, link, owner)
        chosen, chosen_label = message, label
        if why is not None and fallback is not None:
            alt_label = tlp_max(fallback[1], fallback[0].tlp) or TLP(fallback[1])
            if withheld_reason(alt_label, link, owner) is None:
                fallback[0].tlp = alt_label.value
                chosen, chosen_label, why = fallback[0], alt_label, None
                result.reduced.append(link)
        if why is not None:
            result.withheld.append((link, why))
            continue
        payload = payloads.setdefault(id(chosen), chosen.to_json())
        rows.append(
            outbox_row(
                now=now,
                platform=link.platform,
                channel_key=link.channel_key,
                payload=payload,
                operation_id=op.id,
                tlp=chosen_label.value,
                kind=kind,
                object_ref=f"{op.code}/{object_ref}" if object_ref else op.code,
            )
        )
        result.posted.append(link)
    await enqueue_rows(session, rows)
    return result
