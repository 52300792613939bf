"""Identities' reachability and the adapters' read positions: the statements the gateway
runs for adapters (a Telegram /start, a DM that failed, where a sync or poll stopped)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from bot.store import tables
from bot.store.engine import Store
from bot.store.models import ChannelLink, Identity, PlatformCursor, ProcessedEvent


async def set_can_dm(store: Store, platform: str, key: str, value: bool) -> None:
    """Record whether the bot can write to this identity in a one-to-one chat."""
    async with store.transaction() as session:
        await session.exec(
            update(Identity)
            .where(
                col(Identity.platform) == platform,
                col(Identity.key) == key,
                col(Identity.can_dm) != value,
            )
            .values(can_dm=value)
        )


async def greet(
    store: Store, platform: str, key: str, event_key: str, now: datetime, *, private: bool
) -> bool:
    """Mark a greeting event handled and, in a private chat, the identity reachable;
    return whether the identity is registered."""
    async with store.transaction() as session:
        ident = (
            await session.exec(
                select(Identity).where(Identity.platform == platform, Identity.key == key)
            )
        ).first()
        if ident is not None and private and not ident.can_dm:
            ident.can_dm = True
            session.add(ident)
        session.add(ProcessedEvent(platform=platform, event_key=event_key, created_at=now))
    return ident is not None


async def cursor(store: Store, platform: str, name: str) -> str | None:
    """Where an adapter has read its platform's event stream up to, if anywhere."""
    async with store.transaction() as session:
        row = (
            await session.exec(
                select(PlatformCursor).where(
                    PlatformCursor.platform == platform, PlatformCursor.name == name
                )
            )
        ).first()
    return row.value if row else None


async def save_cursor(store: Store, platform: str, name: str, value: str, now: datetime) -> None:
    """Remember an adapter's read position (one row per platform and name)."""
    dialect = sqlite_insert if store.is_sqlite else pg_insert
    statement = dialect(tables.PLATFORM_CURSOR).values(
        platform=platform, name=name, value=value, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["platform", "name"], set_={"value": value, "updated_at": now}
    )
    async with store.transaction() as session:
        conn = await session.connection()
        await conn.execute(statement)


async def private_link_reader(store: Store, platform: str, channel_key: str) -> str | None:
    """The identity key of the member who linked this channel as a one-to-one chat ("" if
    they have none on `platform`); None for a group channel or one not linked."""
    async with store.transaction() as session:
        link = (
            await session.exec(
                select(ChannelLink).where(
                    ChannelLink.platform == platform, ChannelLink.channel_key == channel_key
                )
            )
        ).first()
        if link is None or link.is_group:
            return None
        ident = (
            await session.exec(
                select(Identity).where(
                    Identity.platform == platform, Identity.member_id == link.linked_by
                )
            )
        ).first()
        return ident.key if ident is not None else ""
