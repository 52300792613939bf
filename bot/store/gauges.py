"""Gauges read from the store: the outbox's rows by status and the inbox's depth and age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlmodel import col, func, select

from bot.base.metrics import INBOX_DEPTH, INBOX_OLDEST, OUTBOX_ROWS, OUTBOX_STATUSES
from bot.store.models import InboxItem, OutboxMessage

if TYPE_CHECKING:
    from bot.store.engine import Store


async def refresh_outbox_rows(store: Store) -> None:
    """Set OUTBOX_ROWS from the database: one count per (platform, status)."""
    async with store.transaction() as session:
        rows = (
            await session.exec(
                select(OutboxMessage.platform, OutboxMessage.status, func.count()).group_by(
                    col(OutboxMessage.platform), col(OutboxMessage.status)
                )
            )
        ).all()
    OUTBOX_ROWS.clear()  # a status with no rows left must read 0, not its last count
    for platform in {p for p, _, _ in rows}:
        for status in OUTBOX_STATUSES:
            OUTBOX_ROWS.labels(platform, status).set(0)
    for platform, status, count in rows:
        OUTBOX_ROWS.labels(platform, status).set(count)


async def refresh_inbox(store: Store, now: datetime) -> None:
    """Set INBOX_DEPTH and INBOX_OLDEST from the database."""
    async with store.transaction() as session:
        count, oldest = (
            await session.exec(select(func.count(), func.min(InboxItem.received_at)))
        ).one()
    INBOX_DEPTH.set(count)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    INBOX_OLDEST.set(max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
