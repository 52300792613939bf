"""Clocks: the system clock, and a settable one for tests, drills and replays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (`advance`, `set`)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kw: float) -> datetime:
        """Move forward by `delta` (or `timedelta(**kw)`); return the new now."""
        self.now += delta if delta is not None else timedelta(**kw)
        return self.now

    def set(self, when: datetime) -> None:
        """Jump to `when` (aware)."""
        self.now = when.astimezone(UTC)


def add_months(when: datetime, months: int) -> datetime:
    """`when` plus whole calendar months (31 Jan + 1 month → 28/29 Feb)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
