"""Tasks (`T-n`, issue 28): an action given to a named member with a deadline, read through
the disclosure rule (`bot.core.disclosure`, clause 10), and the reminder before it is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.disclosure import Level, Reader
from bot.store.models import Member, Operation
from bot.store.models_victims import Task

# The assignee's private reminder comes this long before the deadline; a task given with
# less time than that left gets none (the assignee was told when it was given).
REMIND_BEFORE = timedelta(hours=1)


def reminder_at(task: Task) -> datetime | None:
    """When the assignee is reminded of `task` (None: no reminder)."""
    at = task.due_at - REMIND_BEFORE
    return at if at > task.created_at else None


async def next_seq(session: AsyncSession, op: Operation) -> int:
    """The next `T-n` of the operation; the operation's row is locked until commit, so two
    tasks given at once never get the same number."""
    await session.exec(select(Operation.id).where(Operation.id == op.id).with_for_update())
    top = (
        await session.exec(select(sa.func.max(Task.seq)).where(Task.operation_id == op.id))
    ).one()
    return int(top or 0) + 1


async def tasks_seen(
    session: AsyncSession,
    op: Operation,
    reader: Reader,
    *,
    open_only: bool = True,
    assignee_id: int | None = None,
) -> list[tuple[Task, Member]]:
    """The tasks of `op` this reader may read (clause 10), by deadline, with assignees."""
    query = (
        select(Task, Member)
        .join(Member, col(Member.id) == col(Task.assignee_id))
        .where(Task.operation_id == op.id)
        .order_by(col(Task.due_at), col(Task.seq))
    )
    if open_only:
        query = query.where(col(Task.done_at).is_(None))
    if assignee_id is not None:
        query = query.where(Task.assignee_id == assignee_id)
    rows = (await session.exec(query)).all()
    return [(t, m) for t, m in rows if reader.task(t, t.tlp) is Level.FULL]
