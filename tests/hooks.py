"""Test hooks for served processes (`TASKFORCE_TEST_HOOKS=tests.hooks`).

`install(app)` holds every command whose line contains `HOLD` before its transaction
starts, until the file `<data dir>/release` exists: a served process then acknowledges
the command as "Working on it…" and can be killed while the command is still unfinished.
A console line containing `CRASH` fails outside the dispatch (`taskforce shell` carries on).
"""

from __future__ import annotations

import asyncio

from bot.contracts import Invocation
from bot.serving.app import App

MARK = "HOLD"


def install(app: App) -> None:
    """Hold marked commands until `<data dir>/release` exists."""
    release = app.settings.data_dir / "release"

    async def hold(inv: Invocation) -> None:
        while MARK in inv.text and not release.exists():
            await asyncio.sleep(0.05)

    app.core.before_transaction = hold
    crash_console(app)


def crash_console(app: App) -> None:
    """Make the console fail (outside the dispatch) on every line containing `CRASH`."""
    push = app.console.push

    async def failing(line: str, **kw: object) -> object:
        if "CRASH" in line:
            raise RuntimeError("a test crash outside the dispatch")
        return await push(line, **kw)  # type: ignore[arg-type]

    app.console.push = failing  # type: ignore[method-assign]
