"""Test helpers: serve an ASGI app with real uvicorn on port 0 (in this loop, or as a
`taskforce serve` child process); read /metrics samples."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp

START_TIMEOUT = 15.0


@asynccontextmanager
async def serving(asgi: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """Run `asgi` under uvicorn on 127.0.0.1, port 0, in this loop; yield its base URL.

    Leaving the block shuts the server down gracefully (the lifespan's shutdown runs).
    """
    cfg = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_config=None, lifespan="on", **config)
    server = uvicorn.Server(cfg)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), START_TIMEOUT)
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, step: float = 0.02
) -> None:
    """Poll `condition` until it holds; fail the test if it does not within `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of sample `name` with exactly these labels in Prometheus text (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


TASKFORCE = str(Path(sys.executable).parent / "taskforce")
STARTED = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


def replica_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of one `taskforce serve` process: this database, no stray tokens."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TASKFORCE_", "SLACK_", "TELEGRAM_"))
    }
    env.update(
        TASKFORCE_DATABASE_URL=db_url,
        TASKFORCE_DATA_DIR=str(data_dir),
        TASKFORCE_PORT="0",
        TASKFORCE_LOG_JSON="1",
        **extra,
    )
    return env


@dataclass
class ServerProcess:
    """`taskforce serve` as a child process; its log lines (JSON) are collected as they come."""

    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None
    _started: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, timeout: float = 120.0) -> ServerProcess:
        """Spawn it and wait until uvicorn listens (its port is read from the log)."""
        self.proc = await asyncio.create_subprocess_exec(
            TASKFORCE,
            "serve",
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self._started.wait())
        await asyncio.wait({waiter, self._reader}, timeout=timeout, return_when="FIRST_COMPLETED")
        waiter.cancel()
        if not self.url:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError("taskforce serve did not start:\n" + "\n".join(self.lines))
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:  # keep draining: a full pipe would block the server
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            found = STARTED.search(line)
            if found and not self.url:
                self.url = f"http://{found.group(1)}:{found.group(2)}"
                self._started.set()

    async def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        """Wait until a log line containing `text` has been written."""
        await wait_until(lambda: any(text in line for line in self.lines), timeout)

    def signal(self, signum: int) -> None:
        """Send a signal (SIGTERM for a graceful stop, SIGKILL for a crash)."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait(self, timeout: float = 60.0) -> int:
        """Wait for the process to exit; return its exit code."""
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self) -> int:
        """SIGTERM, then wait (kill if still there after the wait)."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        try:
            return await self.wait()
        except TimeoutError:
            self.proc.kill()
            return await self.wait()

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log lines (parsed) whose event is `name`."""
        out: list[dict[str, Any]] = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict) and item.get("event") == name:
                    out.append(item)
        return out


@contextlib.contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event, debug and up, whatever an earlier test configured (a level
    filter set by `configure_logging` would otherwise drop info lines before capture)."""
    import logging

    import structlog

    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as events:
            yield events
    finally:
        structlog.configure(**old)
