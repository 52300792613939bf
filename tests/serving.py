"""Test helpers: serve an ASGI app with real uvicorn on port 0; read /metrics samples."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
