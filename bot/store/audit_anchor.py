"""The audit chains' heads anchored outside the database (README, "Audit tamper evidence").

A checkpoint records, for one database, every chain's entry count and newest hash and
(with a key) how many of each chain's first entries carry no key because they were
written before the key was set. It goes to the data directory, to a copy in a second
directory where configured (`TASKFORCE_AUDIT_CHECKPOINT_COPY`, on a volume the database
host cannot write) and to the log (an `audit.checkpoint` line): at start, every few minutes,
after every N entries and at stop (`Checkpointer`).

The file's name carries the database's identity (table `auditdatabase`): each database has
its own checkpoint, so moving a deployment from one database to another never compares a
database with another's heads. A checkpoint never moves an anchor back: when the database no
longer holds a recorded head, nothing is written and the refusal is logged at error.

With `TASKFORCE_AUDIT_KEY` set, the checkpoint is an HMAC over all of it, and a checkpoint
that is missing (while the database has entries), unreadable, altered or without its HMAC
fails `audit verify`; start-up then writes nothing over it (the files stay as evidence)
until an operator has looked and run `taskforce audit anchor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store import audit
from bot.store.audit import AuditKeys, VerifyResult, chain_name, keys_of
from bot.store.models import AuditChain, AuditDatabase, AuditEntry, Operation

if TYPE_CHECKING:
    from bot.base.config import Settings
    from bot.store.engine import Store

log = structlog.get_logger(__name__)

FILE_PREFIX = "audit-checkpoint-"
VERSION = 2
IDENTITY_GONE = (
    "this database's audit identity (table auditdatabase) was removed although it has audit "
    "entries: no checkpoint can be matched with it"
)
_CREATE_IDENTITY = text(
    "INSERT INTO auditdatabase (id, identity) VALUES (1, :identity) ON CONFLICT (id) DO NOTHING"
)


class AnchorRefused(Exception):
    """`taskforce audit anchor` refused: the sentence says why; nothing was written."""


def checkpoint_path(directory: Path, identity: str) -> Path:
    """Where the checkpoint of the database `identity` lives in `directory`."""
    return directory / f"{FILE_PREFIX}{identity}.json"


@dataclass(frozen=True)
class Places:
    """The directories a checkpoint is written to: the data directory, and the copy."""

    dirs: tuple[Path, ...]

    @classmethod
    def of(cls, settings: Settings) -> Places:
        """From `TASKFORCE_DATA_DIR` and `TASKFORCE_AUDIT_CHECKPOINT_COPY`."""
        copy = settings.audit_checkpoint_copy
        return cls((settings.data_dir,) + ((copy,) if copy is not None else ()))

    def paths(self, identity: str) -> tuple[Path, ...]:
        """The checkpoint files of the database `identity`, one per directory."""
        return tuple(checkpoint_path(d, identity) for d in self.dirs)


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file as read.

    `heads`: chain → (entries, hash of the newest entry); `plain`: chain → how many of its
    first entries carry no key; `key_id`: the key its HMAC verified under (None: it has no
    HMAC); `problem`: set when the file cannot be trusted (unreadable, another database's,
    or its HMAC fails)."""

    path: Path
    written_at: str
    heads: dict[int, tuple[int, str]]
    plain: dict[int, int] = field(default_factory=dict)
    key_id: str | None = None
    problem: str | None = None


def _body(
    identity: str,
    written_at: str,
    heads: Mapping[int, tuple[int, str]],
    plain: Mapping[int, int],
    kid: str | None,
) -> dict[str, Any]:
    """The checkpoint's content, as written and as its HMAC covers it."""
    return {
        "version": VERSION,
        "database": identity,
        "written_at": written_at,
        "key_id": kid,
        "chains": {str(c): [n, h, plain.get(c, 0)] for c, (n, h) in sorted(heads.items())},
    }


def _mac(body: Mapping[str, Any], key: bytes) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def read_checkpoint(path: Path, identity: str, keys: AuditKeys) -> Checkpoint | None:
    """The checkpoint at `path` of the database `identity`; None when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        chains = {int(c): list(v) for c, v in dict(data["chains"]).items()}
        heads = {c: (int(v[0]), str(v[1])) for c, v in chains.items()}
        plain = {c: int(v[2]) for c, v in chains.items() if len(v) > 2 and int(v[2])}
        written_at, database = str(data["written_at"]), data.get("database")
        mac, kid = data.get("mac"), data.get("key_id")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return Checkpoint(path, "?", {}, problem=f"the audit checkpoint {path} cannot be read")
    if database != identity:
        return Checkpoint(
            path,
            written_at,
            heads,
            problem=f"the audit checkpoint {path} names database {database}, not this one",
        )
    if mac is None:
        return Checkpoint(path, written_at, heads, plain)
    key = keys.known.get(str(kid))
    if key is None:
        return Checkpoint(
            path,
            written_at,
            heads,
            problem=f"the audit checkpoint {path} is authenticated with key {kid}, which this "
            "process does not hold",
        )
    expected = _mac(_body(identity, written_at, heads, plain, str(kid)), key)
    if not hmac.compare_digest(expected, str(mac)):
        return Checkpoint(
            path,
            written_at,
            heads,
            problem=f"the audit checkpoint {path} was altered (its HMAC fails)",
        )
    return Checkpoint(path, written_at, heads, plain, key_id=str(kid))


async def database_identity(session: AsyncSession, *, create: bool = False) -> str | None:
    """This database's audit identity; with `create`, made now if it has none."""
    query = select(AuditDatabase.identity).where(AuditDatabase.id == 1)
    found = (await session.exec(query)).first()
    if found is None and create:
        conn = await session.connection()
        await conn.execute(_CREATE_IDENTITY, {"identity": uuid.uuid4().hex})
        found = (await session.exec(query)).first()
    return found


async def has_entries(session: AsyncSession) -> bool:
    """Whether the database holds any audit entry."""
    return (await session.exec(select(AuditEntry.id).limit(1))).first() is not None


@dataclass(frozen=True)
class Survey:
    """What the database and the checkpoint files hold, read in one transaction."""

    identity: str | None
    entries: bool
    keyed: bool
    found: Sequence[tuple[Path, Checkpoint | None]] = ()

    def file_problem(self, path: Path, checkpoint: Checkpoint | None) -> str | None:
        """Why one place's checkpoint cannot be trusted, if it cannot."""
        if checkpoint is None:
            if self.keyed and self.entries:
                return (
                    f"there is no audit checkpoint of this database at {path} although the "
                    "database has audit entries: it was deleted or never written (after "
                    "checking, `taskforce audit anchor` writes one)"
                )
            return None
        if checkpoint.problem:
            return checkpoint.problem
        if self.keyed and checkpoint.key_id is None:
            return (
                f"the audit checkpoint {path} carries no authentication code (HMAC) although "
                "TASKFORCE_AUDIT_KEY is set: it was written or rewritten without the key"
            )
        return None

    @property
    def present_problems(self) -> list[str]:
        """Problems of the files that exist (a missing one is not among them)."""
        return [
            p for path, cp in self.found if cp is not None and (p := self.file_problem(path, cp))
        ]

    @property
    def trusted(self) -> list[Checkpoint]:
        """The checkpoints that exist and can be trusted."""
        return [cp for path, cp in self.found if cp is not None and not self.file_problem(path, cp)]

    @property
    def missing(self) -> list[Path]:
        """The places that hold no checkpoint of this database."""
        return [path for path, cp in self.found if cp is None]

    def allowance(self) -> dict[int, int]:
        """Per chain, how many first entries the trusted checkpoints all record as keyless."""
        trusted = self.trusted
        chains = {c for cp in trusted for c in cp.plain}
        return {c: min(cp.plain.get(c, 0) for cp in trusted) for c in chains}


async def survey(session: AsyncSession, places: Places, *, create_identity: bool = False) -> Survey:
    """Read the identity, whether there are entries, and every place's checkpoint."""
    keys = keys_of(session)
    entries = await has_entries(session)
    identity = await database_identity(session, create=create_identity and not entries)
    keyed = keys.current is not None
    if identity is None:
        return Survey(None, entries, keyed)
    found = await asyncio.to_thread(
        lambda: [(path, read_checkpoint(path, identity, keys)) for path in places.paths(identity)]
    )
    return Survey(identity, entries, keyed, found)


async def anchor_problem(
    session: AsyncSession, checkpoint: Checkpoint, chains: Collection[int] | None = None
) -> str | None:
    """Whether every checkpointed chain still holds its checkpointed head; the first
    chain that does not, as a sentence (one indexed read per chain)."""
    for chain, (entries, head) in sorted(checkpoint.heads.items()):
        if (chains is not None and chain not in chains) or entries == 0:
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
                f"{chain_name(chain)} had {entries} entries at the checkpoint of "
                f"{checkpoint.written_at}, and its entry {entries} {what}: entries were "
                "removed, renumbered or rewritten since"
            )
    return None


async def missing_chain(session: AsyncSession, chains: Collection[int] | None = None) -> str | None:
    """An operation whose chain has no tip (every operation's chain starts with `op new`):
    its chain was removed, tip and all."""
    query = (
        select(Operation.id)
        .where(col(Operation.id).not_in(select(AuditChain.chain)))
        .order_by(col(Operation.id))
    )
    if chains is not None:
        query = query.where(col(Operation.id).in_(list(chains) or [-1]))
    found = (await session.exec(query.limit(1))).first()
    if found is None:
        return None
    return f"operation #{found} has no audit chain: its chain was removed with its tip"


async def verify_anchored(
    session: AsyncSession, places: Places, *, chains: Collection[int] | None = None
) -> VerifyResult:
    """`audit verify`: the chains (`audit.verify`), no operation without its chain, and
    every checkpoint of this database (data directory and copy) still held.

    With a key, a missing, unreadable, altered or unauthenticated checkpoint is a failure,
    and an entry without a key is one unless the checkpoints record it as written before
    the key was set."""
    found = await survey(session, places)
    if found.identity is None and found.entries:
        return VerifyResult(0, None, IDENTITY_GONE)
    for path, checkpoint in found.found:
        problem = found.file_problem(path, checkpoint)
        if problem:
            return VerifyResult(0, None, problem)
    result = await audit.verify(
        session, chains=chains, plain=found.allowance() if found.keyed else None
    )
    if not result.ok:
        return result
    problem = await missing_chain(session, chains)
    for checkpoint in found.trusted:
        problem = problem or await anchor_problem(session, checkpoint, chains)
    if problem:
        return replace(result, problem=problem)
    newest = max(found.trusted, key=lambda cp: cp.written_at, default=None)
    if newest is None:
        return result
    anchored = len([c for c in newest.heads if chains is None or c in chains])
    return replace(result, anchored=anchored, checkpoint_at=newest.written_at if anchored else None)


@dataclass(frozen=True)
class CheckpointPlan:
    """What a checkpoint will record, read from the database; `write` puts it on disk."""

    identity: str
    paths: tuple[Path, ...]
    heads: dict[int, tuple[int, str]]
    plain: dict[int, int]
    keys: AuditKeys
    missing: tuple[Path, ...] = ()
    problem: str | None = None

    def write(self, written_at: datetime) -> str | None:
        """Replace each file atomically (mode 0600) and log the checkpoint at info; when
        refused, write nothing (the files stay as they are), log it at error level and
        return the problem. A file found missing while the database had entries is logged
        at error before it is written again."""
        if self.problem:
            log.error("audit.checkpoint_refused", problem=self.problem)
            return self.problem
        stamp = written_at.isoformat(timespec="seconds")
        body = _body(self.identity, stamp, self.heads, self.plain, self.keys.current_id)
        if self.keys.current is not None:
            body["mac"] = _mac(body, self.keys.current)
        failed: str | None = None
        for path in self.paths:
            if path in self.missing:
                log.error("audit.checkpoint_missing", path=str(path))
            try:
                _write_file(path, body)
            except OSError as exc:
                log.error("audit.checkpoint_unwritable", path=str(path), error=str(exc))
                failed = failed or f"the audit checkpoint {path} cannot be written ({exc})"
        log.info(
            "audit.checkpoint",
            database=self.identity,
            written_at=stamp,
            heads={str(c): f"{n}:{h}" for c, (n, h) in sorted(self.heads.items())},
            plain={str(c): n for c, n in sorted(self.plain.items())},
            key_id=body["key_id"],
            mac=body.get("mac"),
        )
        return failed


def _write_file(path: Path, body: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(body, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


async def plan_checkpoint(session: AsyncSession, places: Places) -> CheckpointPlan:
    """Read the heads to anchor, after checking the files already there.

    Refused (nothing will be written) when a file cannot be trusted, when a trusted one
    records a head the database no longer holds (an anchor never moves back), when the
    identity is gone, or, with a key, when no trusted checkpoint exists although the
    database has entries (a restart never anchors what it cannot check)."""
    keys = keys_of(session)
    found = await survey(session, places, create_identity=True)

    def refused(problem: str) -> CheckpointPlan:
        return CheckpointPlan(found.identity or "?", (), {}, {}, keys, problem=problem)

    if found.identity is None:
        return refused(IDENTITY_GONE)
    problems = found.present_problems
    if problems:
        return refused(problems[0])
    trusted = found.trusted
    if found.keyed and found.entries and not trusted:
        problem = found.file_problem(found.missing[0], None)
        assert problem is not None
        return refused(problem)
    for checkpoint in trusted:
        problem = await anchor_problem(session, checkpoint)
        if problem:
            return refused(problem)
    return CheckpointPlan(
        found.identity,
        places.paths(found.identity),
        await audit.current_heads(session),
        found.allowance() if found.keyed else {},
        keys,
        missing=tuple(found.missing) if found.entries else (),
    )


async def anchor(
    store: Store, places: Places, now: datetime, *, accept_unkeyed: bool = False
) -> str:
    """`taskforce audit anchor`: after checking every chain, write a new checkpoint of
    this database over missing, unreadable or unauthenticated ones (each set aside as
    `….replaced-<time>`, kept as evidence) and record how many entries carry no key.

    Refused (AnchorRefused, nothing written) when a chain is broken, when a trusted
    checkpoint records a head the database no longer holds, or when entries carry no key
    that no checkpoint records as keyless, unless `accept_unkeyed` (they were written
    before the key was set). Audited as `audit anchor` by `cli`. Returns the sentence."""
    async with store.transaction() as session:
        found = await survey(session, places, create_identity=True)
        if found.identity is None:
            raise AnchorRefused(f"Nothing was anchored: {IDENTITY_GONE}.")
        result = await audit.verify(session)
        problem = None if result.ok else result.sentence()
        if problem is None:
            lost = await missing_chain(session)
            problem = f"Audit chain BROKEN: {lost}." if lost else None
        for checkpoint in found.trusted:
            if problem is not None:
                break
            lost = await anchor_problem(session, checkpoint)
            problem = f"Audit chain BROKEN: {lost}." if lost else None
        if problem:
            raise AnchorRefused(f"{problem} Nothing was anchored.")
        allowed = found.allowance()
        plain = dict(result.plain) if found.keyed else {}
        extra = sum(max(0, n - allowed.get(c, 0)) for c, n in plain.items())
        if extra and not accept_unkeyed:
            raise AnchorRefused(
                f"Nothing was anchored: {extra} audit entries carry no key and no checkpoint "
                "records them as written before TASKFORCE_AUDIT_KEY was set. If they were, "
                "run again with --accept-unkeyed; if not, they were rewritten without the key."
            )
        await audit.append(
            session,
            at=now,
            actor="cli",
            action=audit.Action.ALTER,
            command="audit anchor",
            object_ref="audit-checkpoint",
            reason=f"{extra} keyless entries accepted" if extra else None,
        )
        keys = keys_of(session)
    # Read after the commit: on PostgreSQL the new tip's head is only sent with it.
    async with store.transaction() as session:
        heads = await audit.current_heads(session)
    plan = CheckpointPlan(found.identity, places.paths(found.identity), heads, plain, keys)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for path, old in found.found:
        if old is not None and found.file_problem(path, old):
            await asyncio.to_thread(path.rename, path.with_name(f"{path.name}.replaced-{stamp}"))
    log.warning(
        "audit.checkpoint_anchored", database=found.identity, keyless_accepted=extra or None
    )
    failed = await asyncio.to_thread(plan.write, now)
    if failed:
        raise AnchorRefused(f"Anchoring failed: {failed}.")
    chains = len(plan.heads)
    return (
        f"Audit checkpoint written for database {found.identity}: "
        f"{chains} chain{'s' if chains != 1 else ''} anchored in {len(plan.paths)} "
        f"place{'s' if len(plan.paths) != 1 else ''}."
    )


class Checkpointer:
    """Writes the checkpoint at start, every `every` seconds, after every `every_entries`
    entries this process appends, and once more at stop (0 turns either trigger off)."""

    def __init__(
        self,
        store: Store,
        places: Places,
        clock: Callable[[], datetime],
        every: float,
        every_entries: int = 100,
    ) -> None:
        self.store = store
        self.places = places
        self.clock = clock
        self.every = every
        self.every_entries = every_entries
        self._pending = 0
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False

    def noted(self, appended: int) -> None:
        """Told of entries appended (`audit.SESSION_TALLY`): after `every_entries`, the
        periodic task writes a checkpoint without waiting for its timer."""
        self._pending += appended
        if self.every_entries and self._pending >= self.every_entries:
            self._due.set()

    async def write(self) -> str | None:
        """Write one checkpoint now (see `plan_checkpoint`): read in a transaction, then
        write the files after it."""
        self._pending = 0
        self._due.clear()
        async with self.store.transaction() as session:
            plan = await plan_checkpoint(session, self.places)
        return await asyncio.to_thread(plan.write, self.clock())

    async def open(self) -> None:
        """At start-up, before anything is appended: give a database without audit
        entries its first checkpoint, so that its entries are anchored from the first."""
        try:
            async with self.store.transaction() as session:
                if await has_entries(session):
                    return
                plan = await plan_checkpoint(session, self.places)
            await asyncio.to_thread(plan.write, self.clock())
        except Exception as exc:  # a disk or database hiccup: the periodic writes retry
            log.warning("audit.checkpoint_failed", error=type(exc).__name__)

    def start(self) -> None:
        """Start the periodic writes (with both triggers 0: only the one at stop)."""
        self._started = True
        if (self.every > 0 or self.every_entries > 0) and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._loop(), name="audit-checkpoint")

    async def _write_logged(self) -> None:
        try:
            await self.write()
        except Exception as exc:  # a database or disk hiccup: try again next time
            log.warning("audit.checkpoint_failed", error=type(exc).__name__)

    async def _loop(self) -> None:
        if self.every > 0:
            await self._write_logged()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self.every if self.every > 0 else None)
            await self._write_logged()

    async def stop(self) -> None:
        """Stop the periodic writes and anchor the heads one last time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._started:
            self._started = False
            await self._write_logged()
