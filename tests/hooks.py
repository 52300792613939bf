"""Test hooks for served processes (`TASKFORCE_TEST_HOOKS=tests.hooks`).

`install(app)` holds every command whose line contains `HOLD` before its transaction
starts, until the file `<data dir>/release` exists: a served process then acknowledges
the command as "Working on it…" and can be killed while the command is still unfinished.
"""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.contracts import Invocation

MARK = "HOLD"


def install(app: App) -> None:
    """Hold marked commands until `<data dir>/release` exists."""
    release = app.settings.data_dir / "release"

    async def hold(inv: Invocation) -> None:
        while MARK in inv.text and not release.exists():
            await asyncio.sleep(0.05)

    app.core.before_transaction = hold
