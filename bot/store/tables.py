"""The Core table of each model the fast path reads, typed, declared once.

SQLModel sets `__table__` at class creation, which the type checker cannot see; the store's
statements (`bot.store.fastsql`, `bot.store.entityrows`) and the layers above take their
table handles from here.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlmodel import SQLModel

from bot.store.models import (
    Agency,
    AuditChain,
    AuditEntry,
    ChannelLink,
    Identity,
    InboxItem,
    Member,
    Membership,
    Notice,
    Operation,
    OutboxMessage,
    PlatformCursor,
    ProcessedEvent,
    ReadGrant,
    Recipient,
    Sighting,
    Subject,
    SubjectKey,
)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of `model`."""
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


AGENCY = table_of(Agency)
AUDIT_CHAIN = table_of(AuditChain)
AUDIT_ENTRY = table_of(AuditEntry)
CHANNEL_LINK = table_of(ChannelLink)
IDENTITY = table_of(Identity)
INBOX_ITEM = table_of(InboxItem)
MEMBER = table_of(Member)
MEMBERSHIP = table_of(Membership)
NOTICE = table_of(Notice)
OPERATION = table_of(Operation)
OUTBOX_MESSAGE = table_of(OutboxMessage)
PLATFORM_CURSOR = table_of(PlatformCursor)
PROCESSED_EVENT = table_of(ProcessedEvent)
READ_GRANT = table_of(ReadGrant)
RECIPIENT = table_of(Recipient)
SIGHTING = table_of(Sighting)
SUBJECT = table_of(Subject)
SUBJECT_KEY = table_of(SubjectKey)
