"""Sign-in links and sessions of the situation room.

A link is 32 random bytes, shown once (in the member's private chat) and stored as its
SHA-256; it lasts `LINK_MINUTES` and is used at most once. Redeeming it opens a session
whose secret (the cookie) is likewise stored only as a hash. The session's CSRF token is
derived from its secret (`csrf_token`), so it needs no storage and no page can forge it
without the cookie. A session is checked on every request (`open_session`): not expired,
not revoked, and the member still exists; the operation pages then check the live
membership, so `op remove` stops a removed member's next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import Identity, Member
from bot.store.room_models import RoomLink, RoomSession

LINK_MINUTES = 10


def digest(secret: str) -> str:
    """The stored form of a link or session secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: bound to its secret, never stored."""
    return hmac.new(session_secret.encode(), b"taskforce-room-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_secret: str, given: str | None) -> bool:
    """Whether a request carries its session's CSRF token."""
    return bool(given) and hmac.compare_digest(csrf_token(session_secret), given or "")


async def issue_link(session: AsyncSession, member_id: int, identity_id: int, now: datetime) -> str:
    """Store a new one-time link for this member and return its secret (shown once)."""
    secret = secrets.token_urlsafe(32)
    session.add(
        RoomLink(
            token_hash=digest(secret),
            member_id=member_id,
            identity_id=identity_id,
            created_at=now,
            expires_at=now + timedelta(minutes=LINK_MINUTES),
        )
    )
    return secret


@dataclass(frozen=True)
class LinkHolder:
    """Whom a usable sign-in link signs in: the member's name, language and identity."""

    name: str
    language: str | None
    identity: str  # `platform:key`, as `whoami` lists it


async def link_holder(session: AsyncSession, secret: str, now: datetime) -> LinkHolder | None:
    """The member a link would sign in (read only: the link stays unused), or None when the
    link is unknown, used or expired."""
    if not secret or len(secret) > 100:
        return None
    row = (
        await session.exec(
            select(Member, Identity)
            .join(RoomLink, col(RoomLink.member_id) == col(Member.id))
            .join(Identity, col(Identity.id) == col(RoomLink.identity_id))
            .where(
                col(RoomLink.token_hash) == digest(secret),
                col(RoomLink.used_at).is_(None),
                col(RoomLink.expires_at) > now,
            )
        )
    ).first()
    if row is None:
        return None
    member, identity = row
    return LinkHolder(member.name, member.language, f"{identity.platform}:{identity.key}")


async def redeem_link(
    session: AsyncSession, secret: str, now: datetime, hours: float
) -> str | None:
    """Use a link once and open a session; return the session secret, or None when the link
    is unknown, used or expired (one answer for all three)."""
    if not secret or len(secret) > 100:
        return None
    # One conditional UPDATE: of two browsers racing with the same link, one wins.
    result = await session.exec(
        update(RoomLink)
        .where(
            col(RoomLink.token_hash) == digest(secret),
            col(RoomLink.used_at).is_(None),
            col(RoomLink.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(RoomLink.member_id), col(RoomLink.identity_id))
    )
    row = result.first()
    if row is None:
        return None
    member_id, identity_id = int(row[0]), int(row[1])
    opened = secrets.token_urlsafe(32)
    session.add(
        RoomSession(
            token_hash=digest(opened),
            member_id=member_id,
            identity_id=identity_id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return opened


@dataclass(frozen=True)
class SignedIn:
    """The member behind a valid session, and the identity their room actions run as."""

    session_id: int
    member: Member
    identity: Identity


async def open_session(session: AsyncSession, secret: str | None, now: datetime) -> SignedIn | None:
    """The signed-in member for a session cookie, or None (unknown, expired, revoked)."""
    if not secret or len(secret) > 100:
        return None
    row = (
        await session.exec(
            select(RoomSession, Member, Identity)
            .join(Member, col(Member.id) == col(RoomSession.member_id))
            .join(Identity, col(Identity.id) == col(RoomSession.identity_id))
            .where(
                col(RoomSession.token_hash) == digest(secret),
                col(RoomSession.revoked_at).is_(None),
                col(RoomSession.expires_at) > now,
            )
        )
    ).first()
    if row is None:
        return None
    found, member, identity = row
    if identity.member_id != member.id:  # the identity moved to another member
        return None
    return SignedIn(found.id or 0, member, identity)


async def revoke(
    session: AsyncSession, now: datetime, *, member_id: int, session_id: int | None = None
) -> int:
    """End one session, or every open session of the member; return how many ended."""
    stmt = update(RoomSession).where(
        col(RoomSession.member_id) == member_id, col(RoomSession.revoked_at).is_(None)
    )
    if session_id is not None:
        stmt = stmt.where(col(RoomSession.id) == session_id)
    result = await session.exec(stmt.values(revoked_at=now))
    return int(result.rowcount or 0)
