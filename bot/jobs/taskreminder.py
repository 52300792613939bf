"""A task's reminder to the member it was given to (issue 28): once, an hour before the
deadline, in a private message on their platform (`protection.deliver_private`). One fire
per task and deadline (ref = the task's id, fire time = its deadline − 1 h): a task done
since is not reminded; a claimed fire is never sent twice, and a fire missed while the bot
was down is sent late on restart, while the task is still open and not yet due."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.base.i18n import _, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.core.access import TLP
from bot.core.protection import deliver_private
from bot.core.tasks import reminder_at
from bot.jobs.base import JobKind, Planned, unclaimed
from bot.store.models import Member, Operation
from bot.store.models_victims import Task


def _open(now: datetime) -> SelectOfScalar[Task]:
    return select(Task).where(col(Task.done_at).is_(None), col(Task.due_at) > now)


class TaskReminder(JobKind):
    """Jobs `task:<task id>`: one-off, an hour before an open task's deadline."""

    kind = "task"
    watches = "task"

    async def plan(
        self, session: AsyncSession, now: datetime, ref_id: int | None = None
    ) -> list[Planned]:
        """The reminders still ahead, of every open task (or of one)."""
        if ref_id is not None:
            found = await session.get(Task, ref_id)
            rows = [found] if found is not None and found.done_at is None else []
        else:
            rows = list((await session.exec(_open(now))).all())
        return [
            Planned(
                f"{self.kind}:{t.id}",
                DateTrigger(run_date=at, timezone=UTC),
                t.id or 0,
                at.astimezone(UTC),
            )
            for t in rows
            if (at := reminder_at(t)) is not None and at > now
        ]

    async def due(self, session: AsyncSession, now: datetime) -> list[tuple[int, datetime]]:
        """Reminders due by `now` (before the deadline) and not yet claimed."""
        rows = (await session.exec(_open(now))).all()
        wanted = [(t.id or 0, at) for t in rows if (at := reminder_at(t)) is not None and at <= now]
        return await unclaimed(session, self.kind, wanted)

    async def build(
        self, session: AsyncSession, ref_id: int, fire_at: datetime, now: datetime, late: bool
    ) -> int:
        """The private reminder to the assignee."""
        task = await session.get(Task, ref_id)
        if task is None or task.done_at is not None or reminder_at(task) != fire_at:
            return 0
        if now >= task.due_at:
            return 0
        op = await session.get(Operation, task.operation_id)
        member = await session.get(Member, task.assignee_id)
        if op is None or member is None:
            return 0
        with use_language(member.language):
            message = Message(
                title=_("Reminder: {op}/T-{n} is due {time}").format(
                    op=op.code,
                    n=task.seq,
                    time=format_time(task.due_at, member.timezone or op.timezone),
                ),
                lines=[
                    task.text,
                    _("When it is done: `task done {op}/T-{n}`.").format(op=op.code, n=task.seq),
                ],
                context=_("{op} · your task · private reminder").format(op=op.code),
                mark="LATE" if late else None,
                tlp=task.tlp,
            )
        sent = await deliver_private(
            session,
            now=now,
            op=op,
            member_ids=[task.assignee_id],
            message=message,
            kind=self.kind,
            object_ref=f"T-{task.seq}",
            tlp=TLP(task.tlp),
        )
        return len(sent.reached)
