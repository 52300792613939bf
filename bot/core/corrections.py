"""Retractions and corrections go where the original went, and nowhere else.

When a record is erased (withdrawn) or corrected, each linked channel that was sent a post
about it gets one line saying so ("SG-6 was withdrawn by the lead: reason"). The line is
labelled with the label of what that channel was sent (a channel that got a protected
person's neutral line is told at that label, never more), and the disclosure rule is asked
again for the channel as it is linked now: a channel whose ceiling was lowered since, or
that was unlinked, gets nothing. Channels that never got the original (withheld, or not
linked then) are not told that it existed. The line names the reference, who, the fields
changed and the reason — never the old or new values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.messages import Message
from bot.core.access import TLP, tlp_max
from bot.core.disclosure import channel_allows
from bot.core.fanout import link_agencies, linked_channels
from bot.store.models import Operation, OutboxMessage
from bot.store.outbox import enqueue_rows, outbox_row

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# Statuses of a post that reached its channel, or will: a pending one goes out before the
# correction (the outbox sends a channel's posts in order).
REACHED = ("sent", "sending")
QUEUED = ("pending", "sent", "sending")


@dataclass
class Reached:
    """What one channel was sent: the highest label, and which of the references."""

    label: TLP
    refs: list[str] = field(default_factory=list)


async def recipients_of(
    session: AsyncSession, op: Operation, refs: Iterable[str], statuses: tuple[str, ...]
) -> dict[tuple[str, str], Reached]:
    """The channels sent a post about any of `refs` (in `statuses`): the highest label
    each was sent, and which references (in the order of `refs`)."""
    order = list(dict.fromkeys(refs))
    wanted = [f"{op.code}/{r}" for r in order]
    if not wanted:
        return {}
    conn = await session.connection()
    rows = (
        await conn.execute(
            sa.select(
                _OUTBOX.c.platform, _OUTBOX.c.channel_key, _OUTBOX.c.tlp, _OUTBOX.c.object_ref
            ).where(
                _OUTBOX.c.operation_id == op.id,
                _OUTBOX.c.object_ref.in_(wanted),
                _OUTBOX.c.status.in_(statuses),
            )
        )
    ).all()
    out: dict[tuple[str, str], Reached] = {}
    for platform, channel_key, label, object_ref in rows:
        got = out.setdefault((str(platform), str(channel_key)), Reached(TLP(label)))
        got.label = tlp_max(got.label, label) or got.label
        ref = str(object_ref).split("/", 1)[1]
        if ref not in got.refs:
            got.refs.append(ref)
    for got in out.values():
        got.refs.sort(key=order.index)
    return out


async def tell(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    reached: dict[tuple[str, str], Reached],
    message: Callable[[list[str]], Message],
    kind: str,
) -> int:
    """Queue `message(refs the channel got)` to every linked channel in `reached` that may
    still read what it was sent; returns how many channels it goes to."""
    rows: list[dict[str, object]] = []
    for link in await linked_channels(session, op.id):
        got = reached.get((link.platform, link.channel_key))
        if got is None or not channel_allows(got.label, link.max_tlp, link_agencies(link), None):
            continue
        rows.append(
            outbox_row(
                now=now,
                platform=link.platform,
                channel_key=link.channel_key,
                payload={**message(got.refs).to_json(), "tlp": got.label.value},
                operation_id=op.id,
                tlp=got.label.value,
                kind=kind,
                object_ref=f"{op.code}/{got.refs[0]}",
            )
        )
    await enqueue_rows(session, rows)
    return len(rows)
