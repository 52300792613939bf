"""Scheduled jobs as a table: one module per kind, one line per kind in `JOBS`.

Adding a scheduled job: write `bot/jobs/<kind>.py` with a `JobKind` subclass (`kind`,
`watches`, `plan`, `due_at`, `due`, `build`; see `bot/jobs/base.py`) and add one line here.
The scheduler (`bot/jobs/scheduler.py`) registers, fires, claims and catches up every kind alike.
"""

from __future__ import annotations

from bot.jobs.base import Cancel, JobKind, Planned
from bot.jobs.briefing import Briefing
from bot.jobs.reflection import Reflection
from bot.jobs.rejustify import Rejustify
from bot.jobs.reminder import Reminder
from bot.jobs.review import Review
from bot.jobs.taskreminder import TaskReminder

JOBS: tuple[JobKind, ...] = (
    Briefing(),
    Reminder(),
    Review(),
    Rejustify(),
    Reflection(),
    TaskReminder(),
)


def job(kind: str) -> JobKind:
    """The job kind named `kind` (ValueError if none)."""
    for found in JOBS:
        if found.kind == kind:
            return found
    raise ValueError(f"unknown fire kind {kind!r}")


__all__ = ["JOBS", "Cancel", "JobKind", "Planned", "job"]
