"""The scheduler: raid reminders, briefings and weekly review lists (SPEC section 4).

One APScheduler 3 `AsyncIOScheduler(timezone="UTC")` per process, with a memory job store:
schedules live in our tables (`BriefSchedule`, `Raid`) and jobs are (re)registered from them
at start-up, when a command changes one (`Core.on_schedule_change`, after commit) and every
`sync_seconds` (changes made on other replicas). Job callables are module-level functions
and their arguments plain values (instance key, ids, an ISO time).

Only the leader fires: on PostgreSQL the replica holding `pg_try_advisory_lock` on its own
unpooled psycopg connection (retried every `leader_retry` seconds, so another replica takes
over within seconds when the leader dies); on SQLite the single process always leads.
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

import psycopg
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import briefing, lifecycle, metrics, raidview, rejustify
from bot.access import TLP
from bot.commands.context import Core
from bot.fanout import effective_ceiling, fanout, withheld_reason
from bot.i18n import _
from bot.messages import Message
from bot.models import (
    AuditEntry,
    BriefSchedule,
    ChannelLink,
    Operation,
    Raid,
    ScheduledFire,
)
from bot.outbox import enqueue
from bot.recurrence import brief_trigger, fires_between, last_fire

log = structlog.get_logger(__name__)

SCHEDULER_LOCK_ID = 7_415_003  # pg advisory lock key of the scheduler leader
LATE_AFTER = timedelta(minutes=2)  # a fire built later than this is marked late
MAX_LATE = timedelta(hours=6)  # older missed fires are skipped, not sent
LOOKBACK = timedelta(days=7)  # how far back start-up looks for missed fires
# APScheduler's own grace: a job delayed (busy loop, suspended host) still runs when under
# MAX_LATE; our fire function then marks it late. Missed-while-down fires never reach
# APScheduler (memory job store): `run_due` finds them.
MISFIRE_GRACE_SECONDS = int(MAX_LATE.total_seconds())
REVIEW_TRIGGER = CronTrigger(day_of_week="mon", hour=8, minute=0, timezone="UTC")
REVIEW_REF = 0  # one weekly review fire covers every operation

_INSTANCES: dict[str, Scheduler] = {}


def _reminder_job(raid_id: int, offset: timedelta) -> str:
    """`reminder:7:120`: the job of raid 7's reminder 120 minutes before it."""
    return f"reminder:{raid_id}:{int(offset.total_seconds() // 60)}"


class FireResult(enum.StrEnum):
    """What became of one fire."""

    SENT = "sent"
    LATE = "late"  # sent, marked late
    SKIPPED = "skipped"  # more than MAX_LATE late: recorded, not sent
    DUPLICATE = "duplicate"  # claimed already (another replica, an earlier run)
    CANCELLED = "cancelled"  # the raid/schedule changed or ended: nothing recorded
    FAILED = "failed"  # building crashed: recorded so it is not retried in a loop


class _Cancel(Exception):
    """Raised inside a fire's transaction to roll the claim back (stale or ended)."""


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


async def run_brief(key: str, schedule_id: int) -> None:
    """Job: the briefing of `schedule_id` is due (its fire time is the newest cron time)."""

    async def work(s: Scheduler) -> None:
        async with s.core.store.transaction() as session:
            row = await session.get(BriefSchedule, schedule_id)
        if row is None or not row.active:
            return
        now = s.core.clock()
        due = last_fire(brief_trigger(row.time_of_day, row.days, row.timezone), now, LOOKBACK)
        if due is not None:
            await s.fire("brief", schedule_id, due, now)

    await _run(key, work)


async def run_reminder(key: str, raid_id: int, fire_at: str) -> None:
    """Job: the reminder of `raid_id` due at `fire_at` (ISO, UTC)."""
    await _run(key, lambda s: s.fire("reminder", raid_id, datetime.fromisoformat(fire_at)))


async def run_fire(key: str, kind: str, ref_id: int, fire_at: str) -> None:
    """Job: one dated fire of `kind` (a red notice's re-justification reminder)."""
    await _run(key, lambda s: s.fire(kind, ref_id, datetime.fromisoformat(fire_at)))


async def run_review(key: str) -> None:
    """Job: the weekly list of records due for review."""

    async def work(s: Scheduler) -> None:
        now = s.core.clock()
        due = last_fire(REVIEW_TRIGGER, now, LOOKBACK)
        if due is not None:
            await s.fire("review", REVIEW_REF, due, now)

    await _run(key, work)


async def run_sync(key: str) -> None:
    """Job: re-read the tables (changes from other replicas) and send what is due."""
    sched = _INSTANCES.get(key)
    if sched is not None:
        await sched.sync()
        if sched.is_leader:
            await _run(key, lambda s: s.run_due())


# ------------------------------------------------------------------ leadership


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class LeaderLock:
    """Leader election with `pg_try_advisory_lock` on a dedicated, unpooled connection.

    `url` None (SQLite) means a single process: always leader.
    """

    def __init__(self, url: str | None, *, retry: float, lock_id: int = SCHEDULER_LOCK_ID):
        self.url = _libpq_url(url) if url else None
        self.retry = retry
        self.lock_id = lock_id
        self.is_leader = url is None
        self.problem: str | None = None
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gained = False

    async def start(self, on_gain: Callable[[], Awaitable[None]]) -> None:
        """Try for the lock now (awaiting `on_gain` if won), then every `retry` seconds."""
        if self.url is None:
            await on_gain()
            return
        self._stop.clear()
        await self._attempt(on_gain)
        self._task = asyncio.create_task(self._loop(on_gain), name="scheduler-leader")

    async def _attempt(self, on_gain: Callable[[], Awaitable[None]]) -> None:
        assert self.url is not None
        try:
            if self._conn is None or self._conn.closed:
                self.is_leader = False
                self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            if not self.is_leader:
                cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,))
                row = await cur.fetchone()
                if row and row[0]:
                    self.is_leader = True
                    log.info("scheduler.leader", lock=self.lock_id)
            else:
                await self._conn.execute("SELECT 1")  # the lock lives with the connection
            self.problem = None
        except (psycopg.Error, OSError) as exc:
            if self.is_leader:
                log.warning("scheduler.leadership_lost", error=str(exc)[:200])
            self.is_leader = self._gained = False
            self.problem = f"leader election: {type(exc).__name__}"
            await self._close()
            return
        if self.is_leader and not self._gained:
            self._gained = True
            await on_gain()
        self._gained = self.is_leader

    async def _loop(self, on_gain: Callable[[], Awaitable[None]]) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.retry)
            if not self._stop.is_set():
                await self._attempt(on_gain)

    async def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    async def stop(self) -> None:
        """Stop trying and give the lock up (closing the connection releases it)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.url is not None:
            self.is_leader = False
            await self._close()


# ------------------------------------------------------------------- scheduler


async def _in_use_since(session: AsyncSession, now: datetime) -> datetime:
    """When this database began recording: its first audit entry (`now` if it has none).

    The weekly review belongs to no row of its own: without this bound a new database would
    find last Monday's review "missed" and log it as skipped, days before it existed.
    """
    first = (await session.exec(select(func.min(AuditEntry.at)))).first()
    return first if first is not None else now


class Scheduler:
    """APScheduler wiring, job registration from our tables, fires and catch-up."""

    def __init__(
        self,
        core: Core,
        *,
        node_id: str | None = None,
        leader_retry: float = 5.0,
        sync_seconds: float = 60.0,
    ) -> None:
        self.core = core
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
        self.aps.add_job(
            run_review, REVIEW_TRIGGER, id="review", args=[self.key], replace_existing=True
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

    def on_change(self, kind: str, ref_id: int) -> None:
        """`Core.on_schedule_change`: a command committed a change to a raid or schedule."""
        if self.started:
            self._spawn(self.refresh(kind, ref_id))

    async def refresh(self, kind: str, ref_id: int) -> None:
        """Re-register the jobs of one raid (`raid`) or briefing schedule (`brief`)."""
        async with self.core.store.transaction() as session:
            if kind == "raid":
                raid = await session.get(Raid, ref_id)
                self._register_raid(raid, ref_id)
            elif kind == "brief":
                row = await session.get(BriefSchedule, ref_id)
                self._register_brief(row, ref_id)

    def _register_brief(self, row: BriefSchedule | None, ref_id: int) -> None:
        job_id = f"brief:{ref_id}"
        if row is None or not row.active:
            self._remove(job_id)
            return
        self.aps.add_job(
            run_brief,
            brief_trigger(row.time_of_day, row.days, row.timezone),
            id=job_id,
            args=[self.key, ref_id],
            replace_existing=True,
        )

    def _register_raid(self, raid: Raid | None, ref_id: int) -> None:
        now = self.core.clock()
        ahead: dict[str, datetime] = {}
        if raid is not None and raid.status in raidview.ACTIVE_STATUSES:
            ahead = {
                _reminder_job(ref_id, raid.at - t): t
                for t, _l in raidview.reminder_times(raid.at, now)
            }
        for off, _label in raidview.REMINDERS:
            job_id = _reminder_job(ref_id, off)
            if job_id not in ahead:
                self._remove(job_id)
        for job_id, t in ahead.items():
            self.aps.add_job(
                run_reminder,
                DateTrigger(run_date=t, timezone=UTC),
                id=job_id,
                args=[self.key, ref_id, t.astimezone(UTC).isoformat()],
                replace_existing=True,
            )

    def _remove(self, job_id: str) -> None:
        if self.aps.get_job(job_id) is not None:
            self.aps.remove_job(job_id)

    def job_times(self) -> dict[str, datetime]:
        """Each registered job's next run time (UTC): what /readyz and tests look at."""
        return {
            j.id: j.next_run_time.astimezone(UTC) for j in self.aps.get_jobs() if j.next_run_time
        }

    async def sync(self) -> None:
        """Register every active schedule and raid; drop jobs of ended ones."""
        now = self.core.clock()
        async with self.core.store.transaction() as session:
            schedules = (
                await session.exec(select(BriefSchedule).where(col(BriefSchedule.active).is_(True)))
            ).all()
            raids = (
                await session.exec(
                    select(Raid).where(
                        col(Raid.status).in_(raidview.ACTIVE_STATUSES), col(Raid.at) > now
                    )
                )
            ).all()
            reds = await rejustify.ahead(session, now)  # issue 15
        wanted = {f"brief:{r.id}" for r in schedules}
        wanted |= rejustify.register(self.aps, run_fire, self.key, reds)
        for row in schedules:
            self._register_brief(row, row.id or 0)
        for raid in raids:
            self._register_raid(raid, raid.id or 0)
            wanted |= {_reminder_job(raid.id or 0, off) for off, _l in raidview.REMINDERS}
        for job in self.aps.get_jobs():
            if job.id.startswith(("brief:", "reminder:", "rejustify:")) and job.id not in wanted:
                job.remove()

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
        claimed = dict(
            (
                await session.exec(
                    select(ScheduledFire.ref_id, func.max(ScheduledFire.fire_at))
                    .where(ScheduledFire.kind == "brief")
                    .group_by(col(ScheduledFire.ref_id))
                )
            ).all()
        )
        schedules = (
            await session.exec(select(BriefSchedule).where(col(BriefSchedule.active).is_(True)))
        ).all()
        for row in schedules:
            marks = [row.created_at, now - LOOKBACK, row.last_fired_at, claimed.get(row.id or 0)]
            start = max(m for m in marks if m is not None)
            trigger = brief_trigger(row.time_of_day, row.days, row.timezone)
            due += [("brief", row.id or 0, t) for t in fires_between(trigger, start, now)]
        raids = (
            await session.exec(
                select(Raid).where(
                    col(Raid.status).in_(raidview.ACTIVE_STATUSES),
                    col(Raid.at) > now,
                    col(Raid.at) <= now + raidview.REMINDERS[0][0],
                )
            )
        ).all()
        if raids:
            done = {
                (r, t)
                for r, t in (
                    await session.exec(
                        select(ScheduledFire.ref_id, ScheduledFire.fire_at).where(
                            ScheduledFire.kind == "reminder",
                            col(ScheduledFire.ref_id).in_([r.id for r in raids]),
                        )
                    )
                ).all()
            }
            for raid in raids:
                for off, _label in raidview.REMINDERS:
                    t = raid.at - off
                    # Only reminders due after the raid got this time: a raid planned (or
                    # moved) less than 24 h ahead gets just the reminders still ahead.
                    if raid.updated_at < t <= now and (raid.id, t) not in done:
                        due.append(("reminder", raid.id or 0, t))
        review = last_fire(REVIEW_TRIGGER, now, LOOKBACK)
        if review is not None and review >= await _in_use_since(session, now):
            seen = (
                await session.exec(
                    select(ScheduledFire.id).where(
                        ScheduledFire.kind == "review",
                        ScheduledFire.ref_id == REVIEW_REF,
                        ScheduledFire.fire_at == review,
                    )
                )
            ).first()
            if seen is None:
                due.append(("review", REVIEW_REF, review))
        due += await rejustify.due(session, now)  # issue 15
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
                    posts = await self._build(session, kind, ref_id, fire_at, now, late)
        except _Cancel as why:
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

    async def _build(
        self,
        session: AsyncSession,
        kind: str,
        ref_id: int,
        fire_at: datetime,
        now: datetime,
        late: bool,
    ) -> int:
        if kind == "brief":
            return await self._build_brief(session, ref_id, fire_at, now, late)
        if kind == "reminder":
            return await self._build_reminder(session, ref_id, fire_at, now, late)
        if kind == "review":
            return await self._build_review(session, now, late)
        if kind == rejustify.KIND:  # issue 15
            return await rejustify.build(session, ref_id, fire_at, now, late)
        raise ValueError(f"unknown fire kind {kind!r}")

    async def _build_brief(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        row = await session.get(BriefSchedule, ref_id)
        if row is None or not row.active:
            raise _Cancel("schedule stopped")
        op = await session.get(Operation, row.operation_id)
        if op is None or op.status == "closed":
            raise _Cancel("operation closed")
        link = (
            await session.exec(
                select(ChannelLink).where(
                    ChannelLink.operation_id == op.id,
                    ChannelLink.platform == row.platform,
                    ChannelLink.channel_key == row.channel_key,
                )
            )
        ).first()
        if link is None:
            raise _Cancel("channel no longer linked")
        message = await briefing.build(
            session,
            op,
            now=now,
            since=row.last_fired_at,
            audience=briefing.Audience(ceiling=effective_ceiling(link), is_group=link.is_group),
            tz=row.timezone,
            late_since=fire_at if late else None,
        )
        await lifecycle.briefing_combined(session, op, now)  # issue 15: a `combine` entry
        label = TLP(message.tlp or TLP.CLEAR)
        if withheld_reason(label, link) is not None:  # never, by build
            raise RuntimeError(f"briefing labelled {label.label} above its channel's ceiling")
        enqueue(
            session,
            now=now,
            platform=link.platform,
            channel_key=link.channel_key,
            message=message,
            operation_id=op.id,
            tlp=label.value,
            kind="briefing",
            object_ref=f"{op.code}/brief#{row.id}",
        )
        row.last_fired_at = now
        session.add(row)
        return 1

    async def _build_reminder(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        raid = await session.get(Raid, ref_id)
        if raid is None or raid.status not in raidview.ACTIVE_STATUSES:
            raise _Cancel("raid ended")
        labels = {raid.at - off: label for off, label in raidview.REMINDERS}
        label = labels.get(fire_at)
        if label is None or fire_at <= raid.updated_at:
            raise _Cancel("raid moved")
        if now >= raid.at:
            raise _Cancel("raid time passed")
        op = await session.get(Operation, raid.operation_id)
        if op is None:
            raise _Cancel("operation gone")
        items = await raidview.load_items(session, raid.id)
        message = raidview.reminder(op, raid, items, label, late=late)
        result = await raidview.post_raid(
            session, now=now, op=op, raid=raid, message=message, kind="reminder"
        )
        return len(result.posted)

    async def _build_review(self, session: AsyncSession, now: datetime, late: bool) -> int:
        # Subjects, notices and sightings, in closed operations too (issue 15: bot.lifecycle).
        by_op = await lifecycle.due_for_review(session, now)
        posts = 0
        for op_id, seqs in by_op.items():
            op = await session.get(Operation, op_id)
            if op is None:
                continue
            refs = ", ".join(seqs[:30])
            more = f" and {len(seqs) - 30} more" if len(seqs) > 30 else ""
            message = Message(
                title=f"For the leads of {op.code}: {len(seqs)} record(s) due for review",
                lines=[
                    f"Past their review date: {refs}{more}.",
                    _(
                        'Leads: open each and keep it (`review keep <ref> --reason "…"`) or '
                        "erase it (`subject erase`, `sighting erase`, `notice erase`)."
                    ),
                ],
                context=f"{op.code} · weekly review list · references only",
                mark="LATE" if late else None,
            )
            result = await fanout(
                session, now=now, op=op, message=message, tlp=TLP.GREEN, kind="review"
            )
            posts += len(result.posted)
        return posts
