"""Tables of the situation room: one-time sign-in links and browser sessions.

Only SHA-256 hashes of the secrets are stored: a copy of the database signs nobody in.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.store.models import ts


class RoomLink(SQLModel, table=True):
    """A one-time sign-in link (10 minutes, single use), bound to one member's identity."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    member_id: int = Field(foreign_key="member.id", index=True)
    identity_id: int = Field(foreign_key="identity.id")
    created_at: datetime = ts(nullable=False)
    expires_at: datetime = ts(nullable=False)
    used_at: datetime | None = ts(nullable=True)


class RoomSession(SQLModel, table=True):
    """A signed-in browser: lasts a shift, ends at `room logout` or when revoked."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    member_id: int = Field(foreign_key="member.id", index=True)
    identity_id: int = Field(foreign_key="identity.id")
    created_at: datetime = ts(nullable=False)
    expires_at: datetime = ts(nullable=False)
    revoked_at: datetime | None = ts(nullable=True)
