"""How long a handled event's key, and the first answer given to it, are kept.

Dispatch records every platform event it handles (`ProcessedEvent`): a redelivery is
recognised by its key and given the first answer, never run again. Platforms redeliver
within minutes (Slack's retries) or at most a day (Telegram's update queue); a key older
than `TASKFORCE_PROCESSED_KEEP_DAYS` can no longer come back, and its stored answer may
quote a subject or a sighting. The scheduler's leader deletes such rows at each sync, a
bounded batch at a time (oldest first) so that the writer is never held for long.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store import tables
from bot.store.engine import Store
from bot.store.fastsql import Prepared

BATCH = 1000  # rows deleted per transaction

_EVENTS = tables.PROCESSED_EVENT
_DELETE_OLDEST = Prepared(
    sa.delete(_EVENTS)
    .where(
        _EVENTS.c.id.in_(
            sa.select(_EVENTS.c.id)
            .where(_EVENTS.c.created_at < sa.bindparam("cutoff"))
            .order_by(_EVENTS.c.created_at)
            .limit(sa.bindparam("batch", type_=sa.Integer))
            .scalar_subquery()
        )
    )
    .returning(_EVENTS.c.id)
)


async def forget_old_events(store: Store, now: datetime, keep_days: int) -> int:
    """Delete the keys and first answers of events handled more than `keep_days` ago;
    return how many were deleted."""
    cutoff = now - timedelta(days=keep_days)
    deleted = 0
    while True:
        async with store.transaction() as session:
            rows = await _DELETE_OLDEST.execute(session, {"cutoff": cutoff, "batch": BATCH})
            count = len(rows)
        deleted += count
        if count < BATCH:
            return deleted
