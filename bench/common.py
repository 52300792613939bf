"""What every benchmark shares: result rows, the table, server processes, scratch databases."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import structlog

from bot.base.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VENV_BIN = Path(sys.executable).parent
SIGNING_SECRET = "bench-signing-secret"
TEAM, USER, CHANNEL = "TBENCH", "UBENCH", "CBENCH"
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Row:
    """One line of the table. `higher_is_better` says which way the ratio should point."""

    benchmark: str
    case: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline (None without a baseline)."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


@dataclass
class Sizes:
    """How big each benchmark runs; `tiny()` for the smoke test, `full()` for the record."""

    seconds: float = 10.0  # measured window of each closed/open-loop case
    warmup: float = 2.0
    concurrency: tuple[int, ...] = (1, 10, 50)
    rates: tuple[int, ...] = (50, 100, 200)
    channels: int = 200
    fanout_rounds: int = 5
    briefing_sizes: tuple[int, ...] = (10_000, 1_000_000)
    briefing_new: int = 100
    briefing_rounds: int = 5
    links_sightings: int = 1_000_000
    links_subjects: int = 100_000
    links_rounds: int = 5
    links_sqlite: bool = True  # False: the find & links case on PostgreSQL only
    deconflict_ops: int = 1000
    deconflict_keys: int = 1_000_000
    deconflict_rounds: int = 5
    memory_commands: int = 10_000
    memory_clients: int = 10
    startup_rounds: int = 3
    inprocess_commands: int = 2000
    fair_block: int = 200  # commands per block of the fair floor's in-process rotation
    fair_rounds: int = 5
    national_ops: int = 1000
    national_sightings: int = 1000  # per operation, in the day before 07:00
    national_rate: float = 20.0  # sightings/s sent while the briefings are built
    national_window: float = 30.0  # seconds of that load (before, and from 07:00)
    # SLACK_ACK_SECONDS for the served app: None keeps Taskforce's default (2 s). The smoke
    # run raises it so that a busy machine cannot turn replies into "working on it" acks.
    slack_ack_seconds: float | None = None
    postgres: bool = True
    pg_admin_url: str = field(
        default_factory=lambda: os.environ.get("TASKFORCE_BENCH_POSTGRES_URL", PG_ADMIN_DEFAULT)
    )

    @classmethod
    def full(cls) -> Sizes:
        """The sizes of the recorded run."""
        return cls()

    @classmethod
    def tiny(cls) -> Sizes:
        """Seconds, not minutes: for `tests/test_bench_smoke.py`."""
        return cls(
            seconds=0.3,
            warmup=0.0,
            concurrency=(2,),
            rates=(20,),
            channels=6,
            fanout_rounds=1,
            briefing_sizes=(200, 400),
            briefing_new=10,
            briefing_rounds=1,
            links_sightings=2000,
            links_subjects=300,
            links_rounds=1,
            deconflict_ops=5,
            deconflict_keys=200,
            deconflict_rounds=1,
            memory_commands=40,
            memory_clients=2,
            startup_rounds=1,
            inprocess_commands=30,
            fair_block=10,
            fair_rounds=1,
            national_ops=6,
            national_sightings=20,
            national_rate=5.0,
            national_window=1.0,
            slack_ack_seconds=60.0,
        )


# ----------------------------------------------------------------------------- table


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if x == 0:
        text = "0"
    elif abs(x) >= 100:
        text = f"{x:,.0f}"
    elif abs(x) >= 10:
        text = f"{x:.1f}"
    else:
        text = f"{x:.3g}"
    return f"{text} {unit}".strip()


def table(rows: Sequence[Row]) -> str:
    """The one table: benchmark, case, value, baseline, ratio, target, met?."""
    head = ("benchmark", "case", "value", "baseline", "ratio", "target", "met?")
    body = [
        (
            r.benchmark,
            r.case,
            _fmt(r.value, r.unit),
            _fmt(r.baseline, r.unit),
            "—" if r.ratio is None else f"{r.ratio:.2f}×",
            r.target or "—",
            {True: "yes", False: "NO", None: "—"}[r.met],
        )
        for r in rows
    ]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)
    ]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |")
    notes = [f"- {r.benchmark} / {r.case}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def machine() -> str:
    """Cores, memory and load of this machine, for the record."""
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB memory, load {load}; "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def log_to_file(name: str) -> Path:
    """Send this process's logs (JSON, INFO, as `taskforce serve` logs) to bench/out/NAME.log.

    The in-process benchmarks log what the served app would, but not onto the table.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.log"
    configure_logging(json=True, level=logging.INFO)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=path.open("a")))
    return path


# ------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (pct in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median (the 50th percentile)."""
    return percentile(values, 50)


# ----------------------------------------------------------------- slack signatures


def slack_signature(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """`v0=` + HMAC-SHA256(secret, `v0:{timestamp}:{body}`), as Slack signs requests."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (VmRSS from /proc)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Server:
    """A server in its own process: its URL, pid, and how long it took to be ready."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    ready_seconds: float

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL if it hangs)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    argv: list[str],
    env: dict[str, str],
    port: int,
    name: str,
    ready_path: str = "/readyz",
    timeout: float = 60.0,
) -> Server:
    """Launch `argv` and poll `ready_path` until it answers 200; time it from the launch."""
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{name}.log"
    full_env = {**os.environ, **env}
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=full_env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(proc, url, log, 0.0)
    deadline = started + timeout
    with httpx.Client(timeout=1.0) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
            try:
                if client.get(url + ready_path).status_code == 200:
                    server.ready_seconds = time.perf_counter() - started
                    return server
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                server.stop()
                raise RuntimeError(f"{name} not ready within {timeout:.0f} s; see {log}")
            time.sleep(0.005)


@contextlib.contextmanager
def running(
    argv: list[str], env: dict[str, str], port: int, name: str, ready_path: str = "/readyz"
) -> Iterator[Server]:
    """`start_server` as a context manager that always stops the process."""
    server = start_server(argv, env, port, name, ready_path)
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------- scratch databases


@contextlib.contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark (`postgresql://…` URL), dropped after."""
    name = f"tf_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_reachable(admin_url: str) -> bool:
    """Whether the PostgreSQL admin URL answers."""
    try:
        with psycopg.connect(admin_url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False
