"""The hash-chained audit log (SPEC section 5, the Law Enforcement Directive's logging).

One chain per operation, and one for what belongs to none (admin actions, help, sign-ups):
commands of different operations append side by side. Each entry stores the hash of the
one before it in its chain and its number there; its own hash covers every field, its
number and that link. Altering, deleting, renumbering or reordering a row breaks the chain
at that row; removing a chain's newest entries no longer matches the chain's tip row.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import insert, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import AuditChain, AuditEntry

GENESIS = "0" * 64


class Action(enum.StrEnum):
    """The data-protection action classes that must be logged."""

    COLLECT = "collect"
    ALTER = "alter"
    CONSULT = "consult"
    DISCLOSE = "disclose"
    COMBINE = "combine"
    ERASE = "erase"


ADMIN_CHAIN = 0  # the chain of entries that belong to no operation

_ENTRY = AuditEntry.__table__  # type: ignore[attr-defined]
_CHAIN = AuditChain.__table__  # type: ignore[attr-defined]
_INSERT_ENTRIES = insert(_ENTRY)
_OPEN_CHAIN = text(
    "INSERT INTO auditchain (chain, entries, head) VALUES (:chain, 0, :genesis) "
    "ON CONFLICT (chain) DO NOTHING"
)
# Counting the new entries in first takes the chain's row lock (held to commit): appends to
# one chain take turns, other chains go on. RETURNING gives the count after the update and
# the head before it (the head is not changed by this statement).
_CLAIM_SEQ = text(
    "UPDATE auditchain SET entries = entries + :n WHERE chain = :chain RETURNING entries, head"
)
_SET_HEAD = text("UPDATE auditchain SET head = :head WHERE chain = :chain")


def chain_of(operation_id: int | None) -> int:
    """The chain an entry belongs to: its operation's, or the admin chain."""
    return operation_id or ADMIN_CHAIN


def entry_hash(entry: AuditEntry | Mapping[str, Any]) -> str:
    """The SHA-256 over an entry's content, its place in its chain and its link to the
    previous entry of that chain."""
    get = entry.get if isinstance(entry, Mapping) else partial(getattr, entry)
    at = cast(datetime, get("at"))
    body = {
        "at": at.isoformat(timespec="microseconds"),
        "actor_id": get("actor_id"),
        "actor": get("actor"),
        "operation_id": get("operation_id"),
        "action": get("action"),
        "command": get("command"),
        "object_ref": get("object_ref"),
        "channel": get("channel"),
        "reason": get("reason"),
        "outcome": get("outcome"),
        "chain": get("chain"),
        "chain_seq": get("chain_seq"),
        "prev_hash": get("prev_hash"),
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One audit entry to append (the chain, sequence and hashes are filled in by `append`)."""

    at: datetime
    actor: str
    action: Action | str
    command: str
    actor_id: int | None = None
    operation_id: int | None = None
    object_ref: str | None = None
    channel: str | None = None
    reason: str | None = None
    outcome: str = "ok"

    def row(self) -> dict[str, Any]:
        """The column values, each cut to its column's length."""
        return {
            "at": self.at,
            "actor": self.actor[:200],
            "actor_id": self.actor_id,
            "operation_id": self.operation_id,
            "action": str(self.action),
            "command": self.command[:64],
            "object_ref": self.object_ref[:200] if self.object_ref else None,
            "channel": self.channel[:200] if self.channel else None,
            "reason": self.reason[:1000] if self.reason else None,
            "outcome": self.outcome,
        }


async def append_entries(session: AsyncSession, entries: Sequence[Entry]) -> list[str]:
    """Append entries at the tips of their chains, in the caller's transaction.

    Chains are locked in ascending order (two transactions appending to the same chains
    cannot deadlock). Returns the new entries' hashes, in the order given.
    """
    if not entries:
        return []
    conn = await session.connection()
    by_chain: dict[int, list[int]] = {}
    for i, entry in enumerate(entries):
        by_chain.setdefault(chain_of(entry.operation_id), []).append(i)
    rows: list[dict[str, Any]] = [{} for _ in entries]
    for chain in sorted(by_chain):
        indexes = by_chain[chain]
        claimed = (await conn.execute(_CLAIM_SEQ, {"n": len(indexes), "chain": chain})).first()
        if claimed is None:
            await conn.execute(_OPEN_CHAIN, {"chain": chain, "genesis": GENESIS})
            claimed = (
                await conn.execute(_CLAIM_SEQ, {"n": len(indexes), "chain": chain})
            ).first()
            assert claimed is not None
        last_seq, prev = int(claimed[0]), str(claimed[1])
        seq = last_seq - len(indexes)
        for i in indexes:
            seq += 1
            row = entries[i].row()
            row.update(chain=chain, chain_seq=seq, prev_hash=prev)
            row["hash"] = prev = entry_hash(row)
            rows[i] = row
        await conn.execute(_SET_HEAD, {"head": prev, "chain": chain})
    await conn.execute(_INSERT_ENTRIES, rows)
    return [row["hash"] for row in rows]


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
) -> str:
    """Append one entry at the tip of its chain (the operation's, or the admin chain);
    return its hash."""
    entry = Entry(
        at=at,
        actor=actor,
        action=action,
        command=command,
        actor_id=actor_id,
        operation_id=operation_id,
        object_ref=object_ref,
        channel=channel,
        reason=reason,
        outcome=outcome,
    )
    return (await append_entries(session, [entry]))[0]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a check of every chain: entries and chains checked, the first broken
    entry if any."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None
    chains: int = 0

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return self.broken_id is None and self.problem is None

    def sentence(self) -> str:
        """The outcome as one sentence."""
        if self.ok:
            chains = f" in {self.chains} chain{'s' if self.chains != 1 else ''}"
            return f"Audit chain intact: {self.checked} entries verified{chains}."
        if self.broken_id is None:
            return f"Audit chain BROKEN: {self.problem}."
        return (
            f"Audit chain BROKEN at entry #{self.broken_id}: {self.problem} "
            f"({self.checked} entries before it are intact)."
        )


async def verify(session: AsyncSession, batch: int = 5000) -> VerifyResult:
    """Recompute every chain from its first entry; name the first entry that does not fit.

    Each chain must count 1, 2, 3… with no gap, each entry must link to the one before it
    and match its own hash, and the chain must end where its tip row says (so removing the
    newest entries is caught too). Entries of a chain with no tip are reported.
    """
    tips = {
        int(c.chain): c
        for c in (await session.exec(select(AuditChain).order_by(col(AuditChain.chain)))).all()
    }
    orphan = (
        await session.exec(
            select(AuditEntry.id)
            .where(col(AuditEntry.chain).not_in(list(tips) or [-1]))
            .order_by(col(AuditEntry.id))
            .limit(1)
        )
    ).first()
    if orphan is not None:
        return VerifyResult(0, orphan, "its chain has no recorded tip (the tip was removed)")
    checked = 0
    for chain, tip in tips.items():
        prev, seq = GENESIS, 0
        while True:
            rows = (
                await session.exec(
                    select(AuditEntry)
                    .where(AuditEntry.chain == chain, col(AuditEntry.chain_seq) > seq)
                    .order_by(col(AuditEntry.chain_seq))
                    .limit(batch)
                )
            ).all()
            if not rows:
                break
            for row in rows:
                assert row.id is not None
                if row.chain_seq != seq + 1:
                    gap = (
                        f"number {seq + 1}"
                        if row.chain_seq == seq + 2
                        else f"numbers {seq + 1} to {row.chain_seq - 1}"
                    )
                    return VerifyResult(
                        checked,
                        row.id,
                        f"entries before it in {_chain_name(chain)} were removed ({gap} "
                        "missing) or it was renumbered",
                        len(tips),
                    )
                if row.prev_hash != prev:
                    return VerifyResult(
                        checked,
                        row.id,
                        "it does not follow the entry before it (its link was altered, or an "
                        "entry before it was altered or removed)",
                        len(tips),
                    )
                if entry_hash(row) != row.hash:
                    return VerifyResult(
                        checked, row.id, "its content does not match its hash", len(tips)
                    )
                prev, seq = row.hash, row.chain_seq
                checked += 1
        if seq != tip.entries or prev != tip.head:
            return VerifyResult(
                checked,
                None,
                f"{_chain_name(chain)} ends at entry {seq} but its tip records "
                f"{tip.entries}: its newest entries were removed or its tip was altered",
                len(tips),
            )
    return VerifyResult(checked, chains=len(tips))


def _chain_name(chain: int) -> str:
    return "the admin chain" if chain == ADMIN_CHAIN else f"the chain of operation #{chain}"
