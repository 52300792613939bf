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

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import TLP, tlp_max
from bot.core.disclosure import channel_allows
from bot.fanout import link_agencies, linked_channels
from bot.messages import Message
from bot.models import Operation, OutboxMessage
from bot.outbox import enqueue_rows, outbox_row

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# Statuses of a post that reached its channel, or will: a pending one goes out before the
# correction (the outbox sends a channel's posts in order).
REACHED = ("sent", "sending")
QUEUED = ("pending", "sent", "sending")


async def recipients_of(
    session: AsyncSession, op: Operation, refs: Iterable[str], statuses: tuple[str, ...]
) -> dict[tuple[str, str], TLP]:
    """The channels sent a post about any of `refs` (in `statuses`), with the highest label
    each was sent."""
    wanted = [f"{op.code}/{r}" for r in refs]
    if not wanted:
        return {}
    rows = (
        await session.execute(
            sa.select(_OUTBOX.c.platform, _OUTBOX.c.channel_key, _OUTBOX.c.tlp).where(
                _OUTBOX.c.operation_id == op.id,
                _OUTBOX.c.object_ref.in_(wanted),
                _OUTBOX.c.status.in_(statuses),
            )
        )
    ).all()
    out: dict[tuple[str, str], TLP] = {}
    for platform, channel_key, label in rows:
        key = (str(platform), str(channel_key))
        out[key] = tlp_max(out.get(key, TLP.CLEAR), label) or TLP(label)
    return out


async def tell(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    reached: dict[tuple[str, str], TLP],
    message: Message,
    kind: str,
    object_ref: str,
) -> int:
    """Queue `message` to every linked channel in `reached` that may still read what it
    was sent; returns how many channels it goes to."""
    rows: list[dict[str, object]] = []
    for link in await linked_channels(session, op.id):
        label = reached.get((link.platform, link.channel_key))
        if label is None or not channel_allows(label, link.max_tlp, link_agencies(link), None):
            continue
        rows.append(
            outbox_row(
                now=now,
                platform=link.platform,
                channel_key=link.channel_key,
                payload={**message.to_json(), "tlp": label.value},
                operation_id=op.id,
                tlp=label.value,
                kind=kind,
                object_ref=f"{op.code}/{object_ref}",
            )
        )
    await enqueue_rows(session, rows)
    return len(rows)
