"""Live updates of the situation room by server-sent events.

A stream never carries data: it says `changed` when the member's own filtered view of the
operation changed, and the page then fetches that view again (an ordinary, audited page
read). The stream recomputes the view's fingerprint when this process committed a command
that queued posts (`Notifier.notify`, fed from the core's after-commit hook) and at least
every `poll` seconds (changes made on another replica, or ticks typed in chat). Each time it
checks the session and the live membership first: a removed member's stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

# A stream ends after this and the browser reconnects (`retry`): shorter than the server's
# graceful-stop budget, so an open page never holds up a shutdown.
STREAM_SECONDS = 15.0
RETRY_MS = 2000


# Streams that look at their view at the same time, at most: woken together by a command,
# the others wait their turn, so that commands never queue behind all of them at once.
LOOKS_AT_ONCE = 1


class LookFailed(Exception):
    """The look another stream was making for this one did not finish: make one's own."""


class Notifier:
    """Wakes every waiting stream of this process at once, and makes their looks at a view
    cheap: streams showing the same view share one look per wake-up (`look`), and looks
    take turns, so commands never queue behind all of them at once."""

    def __init__(self, looks_at_once: int = LOOKS_AT_ONCE) -> None:
        self._event = asyncio.Event()
        self.closed = False
        self.turns = asyncio.Semaphore(looks_at_once)
        self.looks = 0  # how many times a view was looked at (not shared)
        self._shared: dict[Hashable, tuple[float, asyncio.Future[str | None]]] = {}

    def notify(self) -> None:
        """Something was committed: every stream looks again (no look made before is
        shared from now on)."""
        self._shared.clear()
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def look(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[str | None]],
        now: float,
        fresh_for: float,
    ) -> str | None:
        """The fingerprint of view `key`: the look another stream made (or is making) since
        the last `notify` and less than `fresh_for` seconds ago, else a new one."""
        found = self._shared.get(key)
        if found is not None and now - found[0] < fresh_for:
            try:
                return await asyncio.shield(found[1])
            except LookFailed:
                pass
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)
        self._shared[key] = (now, future)
        try:
            self.looks += 1
            result = await compute()
        except BaseException:
            if self._shared.get(key, (0.0, None))[1] is future:
                del self._shared[key]
            future.set_exception(LookFailed())
            raise
        future.set_result(result)
        return result

    def close(self) -> None:
        """End every stream (shutdown)."""
        self.closed = True
        self.notify()

    async def wait(self, timeout: float) -> None:
        """Until the next `notify`, or `timeout` seconds."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


class Streams:
    """The event streams open in this process, per session and in all: one more than a
    limit allows is refused (README "Situation room": a page left open in many tabs, or a
    script, must not slow everyone's commands)."""

    def __init__(self, per_session: int, total: int) -> None:
        self.per_session = per_session
        self.total = total
        self._open: dict[int, int] = {}

    @property
    def count(self) -> int:
        """Streams open now."""
        return sum(self._open.values())

    def take(self, session_id: int) -> str | None:
        """Reserve a stream for `session_id`: None if it may open, else which limit is full
        (`session` or `total`). Each reservation is given back with `give_back`."""
        if self._open.get(session_id, 0) >= self.per_session:
            return "session"
        if self.count >= self.total:
            return "total"
        self._open[session_id] = self._open.get(session_id, 0) + 1
        return None

    def give_back(self, session_id: int) -> None:
        """A stream of `session_id` ended."""
        left = self._open.get(session_id, 0) - 1
        if left > 0:
            self._open[session_id] = left
        else:
            self._open.pop(session_id, None)


def _retrieved(future: asyncio.Future[str | None]) -> None:
    # A failed shared look nobody waited for is not an error to report.
    if not future.cancelled():
        future.exception()


async def stream(
    notifier: Notifier,
    fingerprint: Callable[[], Awaitable[str | None]],
    since: str | None,
    poll: float,
    loop_time: Callable[[], float],
) -> AsyncIterator[str]:
    """The event stream: `changed` when `fingerprint()` differs from the last one seen
    (first: `since`, the page's own), `gone` (then the end) when it is None."""
    yield f"retry: {RETRY_MS}\n\n"
    last = since
    deadline = loop_time() + STREAM_SECONDS
    while not notifier.closed and loop_time() < deadline:
        async with notifier.turns:  # one stream at a time checks its session and view
            current = await fingerprint()
        if current is None:
            yield "event: gone\ndata: -\n\n"
            return
        if current != last:
            if last is not None:
                yield "event: changed\ndata: -\n\n"
            last = current
        else:
            yield ": still here\n\n"
        await notifier.wait(poll)
