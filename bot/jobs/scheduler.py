"""The scheduler: every kind of job in `bot/jobs/` (reminders, briefings, reviews, …).

One APScheduler 3 `AsyncIOScheduler(timezone="UTC")` per process, with a memory job store:
schedules live in our tables (`BriefSchedule`, `Raid`) and jobs are (re)registered from them
at start-up, when a command changes one (`Core.on_schedule_change`, after commit) and every
`sync_seconds` (changes made on other replicas). Job callables are module-level functions
and their arguments plain values (instance key, ids, an ISO time).

Only the leader fires (`bot/jobs/leader.py`: a PostgreSQL advisory lock; on SQLite the single
process always leads). What a kind of job registers, when it is due and what it builds are
the kind's own (`bot/jobs/<kind>.py`, one line in `bot/jobs.JOBS`); the rest is here, the
same for every kind.
Every fire is first claimed by a unique `ScheduledFire(kind, ref_id, fire_at)` row, then
built and queued through the outbox in the same transaction: however many replicas or
retries, a fire is posted once. A fire missed while the bot was down is sent on the next
start (or leadership change), marked late, when under `MAX_LATE`; older ones are recorded
as skipped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base import metrics
from bot.commands.context import Core
from bot.jobs import JOBS, Cancel, JobKind, Planned
from bot.jobs.base import LOOKBACK
from bot.jobs.leader import SCHEDULER_LOCK_ID, LeaderLock
from bot.jobs.review import REVIEW_REF, REVIEW_TRIGGER
from bot.store.eventkeys import forget_old_events
from bot.store.models import ScheduledFire

log = structlog.get_logger(__name__)

LATE_AFTER = timedelta(minutes=2)  # a fire built later than this is marked late
MAX_LATE = timedelta(hours=6)  # older missed fires are skipped, not sent
# APScheduler's own grace: a job delayed (busy loop, suspended host) still runs when under
# MAX_LATE; our fire function then marks it late. Missed-while-down fires never reach
# APScheduler (memory job store): `run_due` finds them.
MISFIRE_GRACE_SECONDS = int(MAX_LATE.total_seconds())

__all__ = [
    "LATE_AFTER",
    "LOOKBACK",
    "MAX_LATE",
    "REVIEW_REF",
    "REVIEW_TRIGGER",
    "SCHEDULER_LOCK_ID",
    "FireResult",
    "LeaderLock",
    "Scheduler",
    "run_brief",
    "run_job",
    "run_sync",
]

_INSTANCES: dict[str, Scheduler] = {}


class FireResult(enum.StrEnum):
    """What became of one fire."""

    SENT = "sent"
    LATE = "late"  # sent, marked late
    SKIPPED = "skipped"  # more than MAX_LATE late: recorded, not sent
    DUPLICATE = "duplicate"  # claimed already (another replica, an earlier run)
    CANCELLED = "cancelled"  # the raid/schedule changed or ended: nothing recorded
    FAILED = "failed"  # building crashed: recorded so it is not retried in a loop


# ------------------------------------------------------------- job entry points


async def _run(key: str, work: Callable[[Scheduler], Awaitable[object]]) -> None:
    sched = _INSTANCES.get(key)
    if sched is None or not sched.is_leader:
        return
    task = asyncio.current_task()
    if task is not None:
        sched._inflight.add(task)
    try:
        await work(sched)
    except Exception:  # a job must never kill the scheduler
        log.exception("scheduler.job_error")
    finally:
        if task is not None:
            sched._inflight.discard(task)


async def run_job(key: str, kind: str, ref_id: int, fire_at: str | None = None) -> None:
    """Job: APScheduler says a job of `kind` about row `ref_id` is due (`fire_at`: the ISO
    time a one-off job stands for). The kind says which fire that is; it is then fired."""

    async def work(s: Scheduler) -> None:
        kind_ = s.kind(kind)
        now = s.core.clock()
        given = datetime.fromisoformat(fire_at) if fire_at else None
        async with s.core.store.transaction() as session:
            due = await kind_.due_at(session, ref_id, given, now)
        if due is not None:
            await s.fire(kind, ref_id, due, now)

    await _run(key, work)


async def run_brief(key: str, schedule_id: int) -> None:
    """Job: the briefing of `schedule_id` is due (kept for callers of the old name)."""
    await run_job(key, "brief", schedule_id)


async def run_sync(key: str) -> None:
    """Job: re-read the tables (changes from other replicas) and send what is due."""
    sched = _INSTANCES.get(key)
    if sched is not None:
        await sched.sync()
        if sched.is_leader:
            await _run(key, lambda s: s.run_due())
            await _run(key, lambda s: s.housekeeping())


# ------------------------------------------------------------------- scheduler


class Scheduler:
    """APScheduler wiring, job registration from the job kinds, fires and catch-up."""

    def __init__(
        self,
        core: Core,
        *,
        node_id: str | None = None,
        leader_retry: float = 5.0,
        sync_seconds: float = 60.0,
        jobs: tuple[JobKind, ...] = JOBS,
    ) -> None:
        self.core = core
        self.jobs = jobs
        self.node_id = node_id or f"s-{uuid.uuid4().hex[:10]}"
        self.key = f"{self.node_id}:{uuid.uuid4().hex[:8]}"
        self.sync_seconds = sync_seconds
        self.aps = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
                "coalesce": True,
                "max_instances": 1,
            },
        )
        url = None if core.store.is_sqlite else core.store.url
        self.leader = LeaderLock(url, retry=leader_retry)
        self._inflight: set[asyncio.Task[object]] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self.started = False

    # ---------------------------------------------------------------- lifecycle

    @property
    def is_leader(self) -> bool:
        """Whether this replica runs the jobs (always on SQLite)."""
        return self.started and self.leader.is_leader

    def ready(self) -> str | None:
        """None when running (as leader or standby), else a short reason."""
        if not self.started or not self.aps.running:
            return "scheduler not running"
        return self.leader.problem

    async def start(self) -> None:
        """Start APScheduler in the running loop, register jobs, then seek leadership.

        If the store cannot be read, nothing stays started and the error is raised, so the
        caller (the server's start-up, which retries) can simply call `start()` again.
        """
        if self.started:
            return
        _INSTANCES[self.key] = self
        self.aps.start()
        self.started = True
        try:
            await self.sync()
        except Exception:
            self.started = False
            _INSTANCES.pop(self.key, None)
            self.aps.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
            raise
        self.core.on_schedule_change = self.on_change
        self.aps.add_job(
            run_sync,
            IntervalTrigger(seconds=self.sync_seconds),
            id="sync",
            args=[self.key],
            replace_existing=True,
        )
        await self.leader.start(self._catch_up)
        log.info("scheduler.started", node=self.node_id, jobs=len(self.aps.get_jobs()))

    async def _catch_up(self) -> None:
        # On winning leadership: send what was missed while no replica led.
        await _run(self.key, lambda s: s.run_due())

    async def stop(self) -> None:
        """Give up leadership, stop APScheduler and wait for fires in flight."""
        if not self.started:
            return
        await self.leader.stop()
        self.started = False
        if self.aps.running:
            self.aps.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
        await self.settle()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        _INSTANCES.pop(self.key, None)
        self.core.on_schedule_change = lambda kind, ref_id: None
        log.info("scheduler.stopped", node=self.node_id)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait until every job refresh and catch-up already asked for has finished."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # ---------------------------------------------------------- registration

    def kind(self, name: str) -> JobKind:
        """This scheduler's job kind `name` (ValueError if none)."""
        for found in self.jobs:
            if found.kind == name:
                return found
        raise ValueError(f"unknown fire kind {name!r}")

    def on_change(self, kind: str, ref_id: int) -> None:
        """`Core.on_schedule_change`: a command committed a change to a raid or schedule."""
        if self.started:
            self._spawn(self.refresh(kind, ref_id))

    async def refresh(self, kind: str, ref_id: int) -> None:
        """Re-register the jobs of one row (`kind` is what changed: `raid`, `brief`, …)."""
        now = self.core.clock()
        for kind_ in self.jobs:
            if kind_.watches != kind:
                continue
            async with self.core.store.transaction() as session:
                planned = await kind_.plan(session, now, ref_id)
            self._apply(kind_, planned, ref_id)

    def _apply(self, kind_: JobKind, planned: list[Planned], ref_id: int | None) -> None:
        wanted = {p.job_id for p in planned}
        for p in planned:
            self.aps.add_job(
                run_job,
                p.trigger,
                id=p.job_id,
                args=[
                    self.key,
                    kind_.kind,
                    p.ref_id,
                    p.fire_at.astimezone(UTC).isoformat() if p.fire_at else None,
                ],
                replace_existing=True,
            )
        for registered in self.aps.get_jobs():
            if kind_.owns(registered.id, ref_id) and registered.id not in wanted:
                registered.remove()

    def job_times(self) -> dict[str, datetime]:
        """Each registered job's next run time (UTC): what /readyz and tests look at."""
        return {
            j.id: j.next_run_time.astimezone(UTC) for j in self.aps.get_jobs() if j.next_run_time
        }

    async def sync(self) -> None:
        """Register every kind's jobs from the tables; drop jobs of ended rows."""
        now = self.core.clock()
        for kind_ in self.jobs:
            async with self.core.store.transaction() as session:
                planned = await kind_.plan(session, now)
            self._apply(kind_, planned, None)

    async def housekeeping(self) -> int:
        """The leader's upkeep at each sync: forget handled events' keys and first answers
        past `TASKFORCE_PROCESSED_KEEP_DAYS` (`bot.store.eventkeys`). Returns how many."""
        settings = self.core.settings
        forgotten = await forget_old_events(
            self.core.store, self.core.clock(), settings.processed_keep_days
        )
        if forgotten:
            log.info("scheduler.processed_events_forgotten", count=forgotten)
        return forgotten

    # ------------------------------------------------------------------- fires

    async def run_due(self, now: datetime | None = None) -> list[tuple[str, int, FireResult]]:
        """Fire everything due up to `now` and not yet claimed (start-up catch-up, sync).

        Fires under MAX_LATE late are sent marked late; older ones recorded as skipped.
        """
        now = now or self.core.clock()
        out: list[tuple[str, int, FireResult]] = []
        async with self.core.store.transaction() as session:
            due = await self._due(session, now)
        for kind, ref_id, fire_at in due:
            out.append((kind, ref_id, await self.fire(kind, ref_id, fire_at, now)))
        return out

    async def _due(self, session: AsyncSession, now: datetime) -> list[tuple[str, int, datetime]]:
        due: list[tuple[str, int, datetime]] = []
        for kind_ in self.jobs:
            due += [(kind_.kind, ref_id, t) for ref_id, t in await kind_.due(session, now)]
        due.sort(key=lambda d: d[2])
        return due

    async def fire(
        self, kind: str, ref_id: int, fire_at: datetime, now: datetime | None = None
    ) -> FireResult:
        """Claim one fire, then build and queue its posts in the same transaction."""
        now = now or self.core.clock()
        fire_at = fire_at.astimezone(UTC)
        late = now - fire_at > LATE_AFTER
        too_late = now - fire_at > MAX_LATE
        result = FireResult.SKIPPED if too_late else FireResult.LATE if late else FireResult.SENT
        posts = 0
        try:
            async with self.core.store.transaction() as session:
                outcome = "skipped" if too_late else "sent"
                if not await self._claim(session, kind, ref_id, fire_at, now, late, outcome):
                    result = FireResult.DUPLICATE
                elif too_late:
                    log.warning(
                        "scheduler.fire_skipped",
                        kind=kind,
                        ref_id=ref_id,
                        fire_at=fire_at.isoformat(),
                        late_by=str(now - fire_at),
                    )
                else:
                    posts = await self.kind(kind).build(session, ref_id, fire_at, now, late)
        except Cancel as why:
            log.info("scheduler.fire_cancelled", kind=kind, ref_id=ref_id, why=str(why))
            result = FireResult.CANCELLED
        except Exception:
            log.exception("scheduler.fire_failed", kind=kind, ref_id=ref_id)
            result = FireResult.FAILED
            with contextlib.suppress(Exception):
                async with self.core.store.transaction() as session:
                    await self._claim(session, kind, ref_id, fire_at, now, late, "failed")
        metrics.SCHEDULER_FIRES.labels(kind, result.value).inc()
        if posts:
            self.core.on_outbox()
        if result is not FireResult.DUPLICATE:
            log.info("scheduler.fire", kind=kind, ref_id=ref_id, result=result.value, posts=posts)
        return result

    async def _claim(
        self,
        session: AsyncSession,
        kind: str,
        ref_id: int,
        fire_at: datetime,
        now: datetime,
        late: bool,
        outcome: str,
    ) -> bool:
        insert = sqlite_insert if self.core.store.is_sqlite else pg_insert
        stmt = (
            insert(ScheduledFire)
            .values(
                kind=kind,
                ref_id=ref_id,
                fire_at=fire_at,
                claimed_at=now,
                claimed_by=self.node_id,
                late=late,
                outcome=outcome,
            )
            .on_conflict_do_nothing(index_elements=["kind", "ref_id", "fire_at"])
            .returning(col(ScheduledFire.id))
        )
        return (await session.exec(stmt)).first() is not None
