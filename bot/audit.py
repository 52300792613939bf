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
  `TASKFORCE_AUDIT_OLD_KEYS`. An entry written without a key after a keyed one in the same
  chain is reported: that is what a rewrite by someone without the key looks like.
- The chains' heads (count and newest hash) are anchored outside the database: a
  checkpoint file in the data directory, and a log line, written every few minutes and at
  shutdown (`Checkpointer`). A chain that no longer contains its checkpointed head (newest
  entries deleted, tip row rewritten to match, entries renumbered) fails `verify`, and a
  new checkpoint is refused instead of moving the anchor back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import structlog
from sqlalchemy import bindparam, insert, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.fastsql import Prepared
from bot.models import AuditChain, AuditEntry

if TYPE_CHECKING:
    from bot.store import Store

log = structlog.get_logger(__name__)

GENESIS = "0" * 64
CHECKPOINT_FILE = "audit-checkpoint.json"
SESSION_KEYS = "taskforce.audit_keys"  # where a store's sessions carry the audit keys


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

_ENTRY = AuditEntry.__table__  # type: ignore[attr-defined]
_CHAIN = AuditChain.__table__  # type: ignore[attr-defined]
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
    entry if any, entries written without a key, chains confirmed by the checkpoint."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None
    chains: int = 0
    unkeyed: int = 0
    anchored: int = 0
    checkpoint_at: str | None = None

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
    checkpoint: Checkpoint | None = None,
) -> VerifyResult:
    """Recompute the chains from their first entries; name the first entry that does not fit.

    Each chain must count 1, 2, 3… with no gap, each entry must link to the one before it
    and match its own hash (an HMAC under the key it names, when it names one), and the
    chain must end where its tip row says (so removing the newest entries is caught too).
    Entries of a chain with no tip are reported. With a `checkpoint` (read from outside the
    database), every chain must still hold the head recorded there. `chains` limits the
    check to those chains (a lead verifies the operations they lead, and learns nothing of
    the others).
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
    for chain, tip in tips.items():
        prev, seq, keyed = GENESIS, 0, False
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
                problem = _entry_problem(row, keys, keyed)
                if problem:
                    return VerifyResult(checked, row.id, problem, len(tips))
                keyed = keyed or row.key_id is not None
                unkeyed += row.key_id is None
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
    anchored = 0
    if checkpoint is not None:
        problem = checkpoint.problem or await anchor_problem(session, checkpoint, chains)
        if problem:
            return VerifyResult(checked, None, problem, len(tips))
        anchored = len([c for c in checkpoint.heads if chains is None or c in chains])
    return VerifyResult(
        checked,
        chains=len(tips),
        unkeyed=unkeyed,
        anchored=anchored,
        checkpoint_at=checkpoint.written_at if checkpoint is not None and anchored else None,
    )


def _entry_problem(row: AuditEntry, keys: AuditKeys, keyed_before: bool) -> str | None:
    """What is wrong with one entry's own hash, if anything."""
    if row.key_id is None:
        if keyed_before:
            return (
                "it carries no key although the entries before it in its chain do: it was "
                "rewritten by someone without the audit key"
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


def _chain_name(chain: int) -> str:
    return "the admin chain" if chain == ADMIN_CHAIN else f"the chain of operation #{chain}"


# ------------------------------------------------------------------ anchoring outside


@dataclass(frozen=True)
class Checkpoint:
    """The heads of the chains as last anchored outside the database.

    `heads`: chain → (entries, hash of the newest entry). `problem` is set when the file
    itself cannot be trusted (unreadable, or its authentication code does not match)."""

    written_at: str
    heads: dict[int, tuple[int, str]]
    problem: str | None = None


def checkpoint_path(data_dir: Path) -> Path:
    """Where the checkpoint of a process with this data directory lives."""
    return data_dir / CHECKPOINT_FILE


def _heads_mac(heads: Mapping[int, tuple[int, str]], key: bytes) -> str:
    raw = json.dumps(sorted((c, n, h) for c, (n, h) in heads.items()), separators=(",", ":"))
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


def read_checkpoint(path: Path, keys: AuditKeys = NO_KEYS) -> Checkpoint | None:
    """The checkpoint at `path`; None when there is none yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        heads = {int(c): (int(v[0]), str(v[1])) for c, v in dict(data["chains"]).items()}
        written_at = str(data["written_at"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return Checkpoint("?", {}, f"the audit checkpoint {path} cannot be read")
    mac, kid = data.get("mac"), data.get("key_id")
    if mac is not None:
        key = keys.known.get(str(kid))
        if key is None:
            return Checkpoint(
                written_at,
                heads,
                f"the audit checkpoint {path} is authenticated with key {kid}, which this "
                "process does not hold",
            )
        if not hmac.compare_digest(_heads_mac(heads, key), str(mac)):
            return Checkpoint(
                written_at, heads, f"the audit checkpoint {path} was altered (its HMAC fails)"
            )
    return Checkpoint(written_at, heads)


async def anchor_problem(
    session: AsyncSession, checkpoint: Checkpoint, chains: Collection[int] | None = None
) -> str | None:
    """Whether every checkpointed chain still holds its checkpointed head; the first
    chain that does not, as a sentence (one indexed read per chain)."""
    for chain, (entries, head) in sorted(checkpoint.heads.items()):
        if chains is not None and chain not in chains:
            continue
        if entries == 0:
            continue
        found = (
            await session.exec(
                select(AuditEntry.hash).where(
                    AuditEntry.chain == chain, AuditEntry.chain_seq == entries
                )
            )
        ).first()
        if found != head:
            what = "is missing" if found is None else "is not the one recorded"
            return (
                f"{_chain_name(chain)} had {entries} entries at the checkpoint of "
                f"{checkpoint.written_at}, and its entry {entries} {what}: entries were "
                "removed, renumbered or rewritten since"
            )
    return None


async def current_heads(session: AsyncSession) -> dict[int, tuple[int, str]]:
    """Every chain's tip as the database records it."""
    rows = (await session.exec(select(AuditChain))).all()
    return {int(c.chain): (int(c.entries), str(c.head)) for c in rows}


async def write_checkpoint(session: AsyncSession, path: Path, written_at: datetime) -> str | None:
    """Anchor the chains' heads outside the database (see `CheckpointPlan`); the problem
    when refused, else None. The file is written while `session`'s transaction is open:
    `Checkpointer` reads in a transaction and writes after it instead."""
    return (await plan_checkpoint(session, path)).write(written_at)


@dataclass(frozen=True)
class CheckpointPlan:
    """What a checkpoint will record, read from the database; `write` puts it on disk."""

    path: Path
    heads: dict[int, tuple[int, str]]
    keys: AuditKeys
    problem: str | None = None

    def write(self, written_at: datetime) -> str | None:
        """Replace the file atomically (mode 0600) and log the heads at info; when the
        database no longer holds a head the last checkpoint recorded, write nothing (the
        old anchor stays), log it at error level (someone altered the audit log) and
        return the problem."""
        if self.problem:
            log.error("audit.checkpoint_refused", problem=self.problem)
            return self.problem
        stamp = written_at.isoformat(timespec="seconds")
        data: dict[str, Any] = {
            "version": 1,
            "written_at": stamp,
            "chains": {str(c): [n, h] for c, (n, h) in sorted(self.heads.items())},
        }
        if self.keys.current is not None:
            data["key_id"] = self.keys.current_id
            data["mac"] = _heads_mac(self.heads, self.keys.current)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        log.info(
            "audit.checkpoint",
            written_at=stamp,
            heads={str(c): f"{n}:{h}" for c, (n, h) in sorted(self.heads.items())},
        )
        return None


async def plan_checkpoint(session: AsyncSession, path: Path) -> CheckpointPlan:
    """Read the heads to anchor, after checking that the database still holds every head
    the checkpoint at `path` recorded (a checkpoint never moves an anchor back)."""
    keys = keys_of(session)
    old = read_checkpoint(path, keys)
    if old is not None:
        problem = old.problem or await anchor_problem(session, old)
        if problem:
            return CheckpointPlan(path, {}, keys, problem)
    return CheckpointPlan(path, await current_heads(session), keys)


class Checkpointer:
    """Writes the audit checkpoint every `every` seconds, and once more at stop."""

    def __init__(
        self, store: Store, path: Path, clock: Callable[[], datetime], every: float
    ) -> None:
        self.store = store
        self.path = path
        self.clock = clock
        self.every = every
        self._task: asyncio.Task[None] | None = None
        self._started = False

    async def write(self) -> str | None:
        """Write one checkpoint now (see `write_checkpoint`)."""
        async with self.store.transaction() as session:
            plan = await plan_checkpoint(session, self.path)
        return await asyncio.to_thread(plan.write, self.clock())

    def start(self) -> None:
        """Start the periodic writes (with `every` 0: only the one at stop)."""
        self._started = True
        if self.every > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._loop(), name="audit-checkpoint")

    async def _loop(self) -> None:
        while True:
            try:
                await self.write()
            except Exception as exc:  # a database or disk hiccup: try again next time
                log.warning("audit.checkpoint_failed", error=type(exc).__name__)
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        """Stop the periodic writes and anchor the heads one last time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._started:
            self._started = False
            try:
                await self.write()
            except Exception as exc:
                log.warning("audit.checkpoint_failed", error=type(exc).__name__)
