"""The hash-chained audit log (README, "Audit tamper evidence"; the Law Enforcement
Directive's logging).

One chain per operation, and one for what belongs to none (admin actions, help, sign-ups):
commands of different operations append side by side. Each entry stores the hash of the
one before it in its chain and its number there; its own hash covers every field, its
number and that link. Altering, deleting, renumbering or reordering a row breaks the chain
at that row; removing a chain's newest entries no longer matches the chain's tip row.

Tamper evidence against someone who can write to the database:

- With `TASKFORCE_AUDIT_KEY` set, an entry's hash is an HMAC-SHA256 under that key (which
  the database never holds); the entry names the key by `key_id`. Without the key, a
  rewritten entry cannot be given a hash that verifies, so recomputing the later hashes
  with the public algorithm no longer hides an edit. Old keys stay verifiable through
  `TASKFORCE_AUDIT_OLD_KEYS`. An entry without a key is accepted only where the checkpoint
  records it as written before the key was set (`verify(plain=…)`).
- The chains' heads are anchored outside the database (`bot.store.audit_anchor`): a checkpoint
  file bound to this database, an optional copy on another volume, and a log line.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import bindparam, insert, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store import tables
from bot.store.fastsql import Prepared
from bot.store.models import AuditChain, AuditEntry

GENESIS = "0" * 64
SESSION_KEYS = "taskforce.audit_keys"  # where a store's sessions carry the audit keys
# Where a store's sessions carry what is told of appended entries (`Checkpointer.noted`).
SESSION_TALLY = "taskforce.audit_tally"


def key_id(key: bytes) -> str:
    """The public name of an audit key (16 hex digits; tells nothing about the key)."""
    return hashlib.sha256(b"taskforce-audit-key-id\x00" + key).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKeys:
    """The key new entries are authenticated with, and every key entries may name."""

    current: bytes | None = None
    known: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_secrets(cls, current: str | None, old: Sequence[str] = ()) -> AuditKeys:
        """From `TASKFORCE_AUDIT_KEY` and `TASKFORCE_AUDIT_OLD_KEYS`."""
        keys = [k.encode() for k in old if k]
        now = current.encode() if current else None
        if now is not None:
            keys.append(now)
        return cls(current=now, known={key_id(k): k for k in keys})

    @property
    def current_id(self) -> str | None:
        """The key id new entries carry (None without a key)."""
        return key_id(self.current) if self.current is not None else None


NO_KEYS = AuditKeys()


def keys_of(session: AsyncSession) -> AuditKeys:
    """The audit keys of the store this session belongs to (`Store(audit_keys=…)`)."""
    found = session.info.get(SESSION_KEYS)
    return found if isinstance(found, AuditKeys) else NO_KEYS


class Action(enum.StrEnum):
    """The data-protection action classes that must be logged."""

    COLLECT = "collect"
    ALTER = "alter"
    CONSULT = "consult"
    DISCLOSE = "disclose"
    COMBINE = "combine"
    ERASE = "erase"


ADMIN_CHAIN = 0  # the chain of entries that belong to no operation

_ENTRY = tables.AUDIT_ENTRY
_CHAIN = tables.AUDIT_CHAIN
# Every column named (the entry's row gives them all): the statement runs at the driver.
_INSERT_ENTRIES = Prepared(
    insert(_ENTRY).values({c.name: bindparam(c.name) for c in _ENTRY.columns if c.name != "id"})
)
_OPEN_CHAIN = text(
    "INSERT INTO auditchain (chain, entries, head) VALUES (:chain, 0, :genesis) "
    "ON CONFLICT (chain) DO NOTHING"
)
# Counting the new entries in first takes the chain's row lock (held to commit): appends to
# one chain take turns, other chains go on. RETURNING gives the count after the update and
# the head before it (the head is not changed by this statement).
_CLAIM_SEQ = Prepared(
    text(
        "UPDATE auditchain SET entries = entries + :n WHERE chain = :chain RETURNING entries, head"
    )
)
_SET_HEAD = Prepared(text("UPDATE auditchain SET head = :head WHERE chain = :chain"))


def chain_of(operation_id: int | None) -> int:
    """The chain an entry belongs to: its operation's, or the admin chain."""
    return operation_id or ADMIN_CHAIN


def entry_hash(entry: AuditEntry | Mapping[str, Any], key: bytes | None = None) -> str:
    """The hash over an entry's content, its place in its chain and its link to the
    previous entry of that chain: HMAC-SHA256 under `key` (the entry's `key_id` is covered
    too), or plain SHA-256 without one."""
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
    kid = get("key_id")
    if kid is not None:
        body["key_id"] = kid
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if key is not None:
        return hmac.new(key, raw, hashlib.sha256).hexdigest()
    return hashlib.sha256(raw).hexdigest()


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
    keys = keys_of(session)
    kid = keys.current_id
    by_chain: dict[int, list[int]] = {}
    for i, entry in enumerate(entries):
        by_chain.setdefault(chain_of(entry.operation_id), []).append(i)
    rows: list[dict[str, Any]] = [{} for _ in entries]
    for chain in sorted(by_chain):
        indexes = by_chain[chain]
        params = {"n": len(indexes), "chain": chain}
        claimed = next(iter(await _CLAIM_SEQ.execute(session, params)), None)
        if claimed is None:
            await conn.execute(_OPEN_CHAIN, {"chain": chain, "genesis": GENESIS})
            claimed = next(iter(await _CLAIM_SEQ.execute(session, params)), None)
            assert claimed is not None
        last_seq, prev = int(claimed[0]), str(claimed[1])
        seq = last_seq - len(indexes)
        for i in indexes:
            seq += 1
            row = entries[i].row()
            row.update(chain=chain, chain_seq=seq, prev_hash=prev, key_id=kid)
            row["hash"] = prev = entry_hash(row, keys.current)
            rows[i] = row
        await _SET_HEAD.later(session, {"head": prev, "chain": chain})
    for row in rows:  # with the head, sent in one round trip on PostgreSQL (fastsql.later)
        await _INSERT_ENTRIES.later(session, row)
    tally = session.info.get(SESSION_TALLY)
    if callable(tally):
        cast(Callable[[int], None], tally)(len(rows))
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
    """Outcome of a check of the chains: entries and chains checked, the first broken
    entry if any, entries written without a key, chains confirmed by the checkpoint.

    `plain`: per chain, how many of its first entries carry no key (written before the
    key was set; what `taskforce audit anchor` records)."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None
    chains: int = 0
    unkeyed: int = 0
    anchored: int = 0
    checkpoint_at: str | None = None
    plain: Mapping[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return self.broken_id is None and self.problem is None

    def sentence(self) -> str:
        """The outcome as one sentence (two when something needs saying about keys)."""
        if self.ok:
            chains = f" in {self.chains} chain{'s' if self.chains != 1 else ''}"
            out = f"Audit chain intact: {self.checked} entries verified{chains}"
            if self.checkpoint_at:
                out += f", matching the checkpoint of {self.checkpoint_at}"
            out += "."
            if self.unkeyed:
                out += (
                    f" {self.unkeyed} entries carry no key (written without "
                    "TASKFORCE_AUDIT_KEY): a rewrite of those would not show."
                )
            return out
        if self.broken_id is None:
            return f"Audit chain BROKEN: {self.problem}."
        return (
            f"Audit chain BROKEN at entry #{self.broken_id}: {self.problem} "
            f"({self.checked} entries before it are intact)."
        )


async def verify(
    session: AsyncSession,
    batch: int = 5000,
    *,
    chains: Collection[int] | None = None,
    plain: Mapping[int, int] | None = None,
) -> VerifyResult:
    """Recompute the chains from their first entries; name the first entry that does not fit.

    Each chain must count 1, 2, 3… with no gap, each entry must link to the one before it
    and match its own hash (an HMAC under the key it names, when it names one), and the
    chain must end where its tip row says (so removing the newest entries is caught too).
    Entries of a chain with no tip are reported. With `plain` (a key is set; from the
    checkpoint), an entry without a key is accepted only among the first `plain[chain]`
    of its chain. `chains` limits the check to those chains (a lead verifies the
    operations they lead, and learns nothing of the others). The checkpoint outside the
    database is compared by `bot.store.audit_anchor.verify_anchored`.
    """
    keys = keys_of(session)
    tips = {
        int(c.chain): c
        for c in (await session.exec(select(AuditChain).order_by(col(AuditChain.chain)))).all()
        if chains is None or int(c.chain) in chains
    }
    if chains is None:
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
    checked = unkeyed = 0
    leading: dict[int, int] = {}
    for chain, tip in tips.items():
        prev, seq, keyed = GENESIS, 0, False
        allowed = None if plain is None else plain.get(chain, 0)
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
                        f"entries before it in {chain_name(chain)} were removed ({gap} "
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
                problem = _entry_problem(row, keys, keyed, allowed)
                if problem:
                    return VerifyResult(checked, row.id, problem, len(tips))
                keyed = keyed or row.key_id is not None
                unkeyed += row.key_id is None
                if not keyed:
                    leading[chain] = row.chain_seq
                prev, seq = row.hash, row.chain_seq
                checked += 1
        if seq != tip.entries or prev != tip.head:
            return VerifyResult(
                checked,
                None,
                f"{chain_name(chain)} ends at entry {seq} but its tip records "
                f"{tip.entries}: its newest entries were removed or its tip was altered",
                len(tips),
            )
    return VerifyResult(checked, chains=len(tips), unkeyed=unkeyed, plain=leading)


def _entry_problem(
    row: AuditEntry, keys: AuditKeys, keyed_before: bool, allowed: int | None
) -> str | None:
    """What is wrong with one entry's own hash, if anything (`allowed`: how many of the
    chain's first entries may carry no key; None: any)."""
    if row.key_id is None:
        if keyed_before:
            return (
                "it carries no key although the entries before it in its chain do: it was "
                "rewritten by someone without the audit key"
            )
        if allowed is not None and row.chain_seq > allowed:
            return (
                "it carries no key although TASKFORCE_AUDIT_KEY is set, and no checkpoint of "
                "this database records it as written before the key: it was rewritten by "
                "someone without the audit key"
            )
        expected = entry_hash(row)
    else:
        key = keys.known.get(row.key_id)
        if key is None:
            return (
                f"it is authenticated with audit key {row.key_id}, which this process does "
                "not hold (set it as TASKFORCE_AUDIT_KEY or add it to TASKFORCE_AUDIT_OLD_KEYS)"
            )
        expected = entry_hash(row, key)
    if not hmac.compare_digest(expected, row.hash):
        if row.key_id is not None:
            return "its content does not match its authentication code (HMAC): it was altered"
        return "its content does not match its hash"
    return None


def chain_name(chain: int) -> str:
    """How a sentence names a chain."""
    return "the admin chain" if chain == ADMIN_CHAIN else f"the chain of operation #{chain}"


async def current_heads(session: AsyncSession) -> dict[int, tuple[int, str]]:
    """Every chain's tip as the database records it."""
    rows = (await session.exec(select(AuditChain))).all()
    return {int(c.chain): (int(c.entries), str(c.head)) for c in rows}
