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
from collections.abc import AsyncIterator, Awaitable, Callable

# A stream ends after this and the browser reconnects (`retry`): shorter than the server's
# graceful-stop budget, so an open page never holds up a shutdown.
STREAM_SECONDS = 15.0
RETRY_MS = 2000


class Notifier:
    """Wakes every waiting stream of this process at once."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        """Something was committed: every stream looks again."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    def close(self) -> None:
        """End every stream (shutdown)."""
        self.closed = True
        self.notify()

    async def wait(self, timeout: float) -> None:
        """Until the next `notify`, or `timeout` seconds."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


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
