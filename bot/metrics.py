"""Prometheus metrics, one registry per process (exposed at `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

COMMANDS = Counter(
    "taskforce_commands_total", "Commands handled", ["command", "outcome"], registry=REGISTRY
)
COMMAND_LATENCY = Histogram(
    "taskforce_command_seconds",
    "Time to handle one command, parse to commit",
    ["command"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
OUTBOX = Counter(
    "taskforce_outbox_total",
    "Outbox deliveries by result",
    ["platform", "result"],
    registry=REGISTRY,
)
OUTBOX_ROWS = Gauge(
    "taskforce_outbox_rows",
    "Outbox rows by status (refreshed at scrape)",
    ["platform", "status"],
    registry=REGISTRY,
)
SCHEDULER_FIRES = Counter(
    "taskforce_scheduler_fires_total",
    "Scheduled fires by kind and result",
    ["kind", "result"],
    registry=REGISTRY,
)
INBOUND_DUPLICATES = Counter(
    "taskforce_inbound_duplicates_total",
    "Inbound events dropped as already processed",
    ["platform"],
    registry=REGISTRY,
)
REFUSED = Counter(
    "taskforce_requests_refused_total",
    "Requests refused before reaching the core",
    ["platform", "reason"],
    registry=REGISTRY,
)
