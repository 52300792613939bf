"""The hash-chained audit log (SPEC section 5, the Law Enforcement Directive's logging).

Each entry stores the hash of the one before it; its own hash covers every field and that
link. Altering, deleting or reordering a row breaks the chain at that row.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import AuditEntry

GENESIS = "0" * 64


class Action(enum.StrEnum):
    """The data-protection action classes that must be logged."""

    COLLECT = "collect"
    ALTER = "alter"
    CONSULT = "consult"
    DISCLOSE = "disclose"
    COMBINE = "combine"
    ERASE = "erase"


def entry_hash(entry: AuditEntry) -> str:
    """The SHA-256 over an entry's content and its link to the previous entry."""
    body = {
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "operation_id": entry.operation_id,
        "action": entry.action,
        "command": entry.command,
        "object_ref": entry.object_ref,
        "channel": entry.channel,
        "reason": entry.reason,
        "outcome": entry.outcome,
        "prev_hash": entry.prev_hash,
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


async def append(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    action: Action | str,
    command: str,
    actor_id: int | None = None,
    operation_id: int | None = None,
    object_ref: str | None = None,
    channel: str | None = None,
    reason: str | None = None,
    outcome: str = "ok",
) -> AuditEntry:
    """Append one entry at the tip of the chain.

    The caller's transaction must serialise appends (`Store.lock_audit_chain`; SQLite's
    BEGIN IMMEDIATE does it by itself).
    """
    tip = (
        await session.exec(select(AuditEntry.hash).order_by(col(AuditEntry.id).desc()).limit(1))
    ).first()
    entry = AuditEntry(
        at=at.replace(microsecond=at.microsecond),
        actor=actor[:200],
        actor_id=actor_id,
        operation_id=operation_id,
        action=str(action),
        command=command[:64],
        object_ref=object_ref[:200] if object_ref else None,
        channel=channel[:200] if channel else None,
        reason=reason[:1000] if reason else None,
        outcome=outcome,
        prev_hash=tip or GENESIS,
        hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain check: how many entries, and the first broken one if any."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the whole chain is intact."""
        return self.broken_id is None


async def verify(session: AsyncSession, batch: int = 5000) -> VerifyResult:
    """Recompute the chain from the first entry; name the first entry that does not fit."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.id) > last_id)
                .order_by(col(AuditEntry.id))
                .limit(batch)
            )
        ).all()
        if not rows:
            return VerifyResult(checked=checked)
        for row in rows:
            assert row.id is not None
            if row.prev_hash != prev:
                return VerifyResult(
                    checked,
                    row.id,
                    "it does not follow the entry before it (its link was altered, or an "
                    "entry before it was altered or removed)",
                )
            if entry_hash(row) != row.hash:
                return VerifyResult(checked, row.id, "its content does not match its hash")
            prev = row.hash
            checked += 1
            last_id = row.id
