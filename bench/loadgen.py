"""The load generator: signed Slack slash commands over keep-alive HTTP (aiohttp).

Runs in its own process so that the client's work is not charged to the server:
`python -m bench.loadgen '<json config>'` prints one JSON result. Modes:

- `closed`: `concurrency` clients, each sending its next request when the last one is
  answered; throughput over `seconds` after `warmup`.
- `open`: requests scheduled at a fixed `rate`; each latency is measured from the request's
  *scheduled* send time, so a slow server cannot hide its queue (no coordinated omission).
- `count`: exactly `count` requests with `concurrency` clients (for the memory benchmark).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.common import (
    CHANNEL,
    ROOT,
    SIGNING_SECRET,
    TEAM,
    USER,
    percentile,
    slack_signature,
)


@dataclass
class LoadConfig:
    """What to send, where, and how hard."""

    url: str
    mode: str = "closed"
    concurrency: int = 1
    rate: float = 50.0
    seconds: float = 5.0
    warmup: float = 1.0
    count: int = 0
    text: str = "op show"
    expect: str = ""
    response_url: str = "http://127.0.0.1:9/response/x"
    secret: str = SIGNING_SECRET
    timeout: float = 30.0


@dataclass
class LoadResult:
    """Counts, throughput and latency percentiles (seconds) of one run."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    throughput: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)


class Client:
    """Builds, signs and sends one slash command; remembers the first failure."""

    def __init__(self, cfg: LoadConfig, session: aiohttp.ClientSession) -> None:
        self.cfg = cfg
        self.session = session
        self.run = uuid.uuid4().hex[:8]
        self.seq = 0
        self.first_error = ""

    def body(self) -> bytes:
        """A slash-command form, unique per request (its trigger id and `{i}` in the text)."""
        self.seq += 1
        i = self.seq
        return urlencode(
            {
                "token": "legacy-unused",
                "team_id": TEAM,
                "team_domain": "bench",
                "channel_id": CHANNEL,
                "channel_name": "bench",
                "user_id": USER,
                "user_name": "bench",
                "command": "/tf",
                "text": self.cfg.text.format(i=i, run=self.run),
                "api_app_id": "ABENCH",
                "response_url": f"{self.cfg.response_url}/{self.run}/{i}",
                "trigger_id": f"{self.run}.{i}.{uuid.uuid4().hex[:12]}",
            }
        ).encode()

    async def send(self) -> bool:
        """One request; True when answered 200 with the expected text."""
        body = self.body()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": slack_signature(body, stamp, self.cfg.secret),
        }
        try:
            async with self.session.post(
                self.cfg.url + "/slack/events", data=body, headers=headers
            ) as resp:
                text = await resp.text()
                good = resp.status == 200 and self.cfg.expect in text
                if not good and not self.first_error:
                    self.first_error = f"HTTP {resp.status}: {text[:300]}"
                return good
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"
            return False


def _summary(
    client: Client, latencies: list[float], ok: int, errors: int, elapsed: float
) -> LoadResult:
    done = ok + errors
    return LoadResult(
        sent=done,
        ok=ok,
        errors=errors,
        elapsed=elapsed,
        throughput=ok / elapsed if elapsed > 0 else 0.0,
        p50=percentile(latencies, 50) if latencies else 0.0,
        p99=percentile(latencies, 99) if latencies else 0.0,
        max=max(latencies) if latencies else 0.0,
        first_error=client.first_error,
        latencies=latencies,
    )


async def closed_loop(cfg: LoadConfig, client: Client) -> LoadResult:
    """`concurrency` clients back to back; count the requests started inside the window.

    Every request started in the window is awaited; the elapsed time runs from the start
    of the window to the last of their answers.
    """
    start = time.perf_counter()
    window_start = start + cfg.warmup
    window_end = window_start + cfg.seconds
    latencies: list[float] = []
    ok = errors = 0
    last = window_start

    async def worker() -> None:
        nonlocal ok, errors, last
        while True:
            sent = time.perf_counter()
            if sent >= window_end:
                return
            good = await client.send()
            done = time.perf_counter()
            if sent >= window_start:
                latencies.append(done - sent)
                last = max(last, done)
                if good:
                    ok += 1
                else:
                    errors += 1

    await asyncio.gather(*(worker() for _ in range(cfg.concurrency)))
    return _summary(client, latencies, ok, errors, last - window_start)


async def open_loop(cfg: LoadConfig, client: Client) -> LoadResult:
    """A request every 1/rate seconds whatever the answers; latency from the schedule."""
    interval = 1.0 / cfg.rate
    total = int((cfg.warmup + cfg.seconds) * cfg.rate)
    measured_from = int(cfg.warmup * cfg.rate)
    latencies: list[float] = []
    ok = errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i: int, scheduled: float) -> None:
        nonlocal ok, errors
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        good = await client.send()
        if i >= measured_from:
            latencies.append(loop.time() - scheduled)
            if good:
                ok += 1
            else:
                errors += 1

    tasks = [asyncio.create_task(one(i, start + i * interval)) for i in range(total)]
    await asyncio.gather(*tasks)
    return _summary(client, latencies, ok, errors, cfg.seconds)


async def fixed_count(cfg: LoadConfig, client: Client) -> LoadResult:
    """Exactly `count` requests, `concurrency` at a time."""
    remaining = cfg.count
    latencies: list[float] = []
    ok = errors = 0
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal remaining, ok, errors
        while remaining > 0:
            remaining -= 1
            sent = time.perf_counter()
            good = await client.send()
            latencies.append(time.perf_counter() - sent)
            if good:
                ok += 1
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(cfg.concurrency)))
    return _summary(client, latencies, ok, errors, time.perf_counter() - start)


async def run(cfg: LoadConfig) -> LoadResult:
    """Run one load according to `cfg.mode`."""
    limit = cfg.concurrency if cfg.mode != "open" else 0
    connector = aiohttp.TCPConnector(limit=limit, force_close=False)
    timeout = aiohttp.ClientTimeout(total=cfg.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Client(cfg, session)
        if cfg.mode == "closed":
            return await closed_loop(cfg, client)
        if cfg.mode == "open":
            return await open_loop(cfg, client)
        if cfg.mode == "count":
            return await fixed_count(cfg, client)
        raise ValueError(f"unknown mode {cfg.mode!r}")


def run_in_process(cfg: LoadConfig) -> LoadResult:
    """Run the load in a separate Python process and return its result."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", json.dumps(asdict(cfg))],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr.decode()[-2000:]}")
    return LoadResult(**json.loads(proc.stdout))


def main(argv: list[str]) -> None:
    """Entry point of the load process: config as JSON in argv[1], result as JSON out."""
    cfg = LoadConfig(**json.loads(argv[1]))
    result = asyncio.run(run(cfg))
    out: dict[str, Any] = asdict(result)
    if cfg.mode != "open":
        out["latencies"] = []  # only the open loop's are needed, keep the pipe small
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
