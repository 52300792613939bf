"""Prometheus metrics, one registry per process (exposed at `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

OUTBOX_STATUSES = ("pending", "sending", "sent", "dead")

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
SCHEDULER_LEADER = Gauge(
    "taskforce_scheduler_leader",
    "1 while this replica holds the scheduler's leader lock",
    registry=REGISTRY,
)
STORE_BATCH = Histogram(
    "taskforce_store_batch_transactions",
    "Transactions committed together by one SQLite group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
INBOX_DEPTH = Gauge(
    "taskforce_inbox_depth",
    "Acknowledged inbound events not finished yet (refreshed at scrape)",
    registry=REGISTRY,
)
INBOX_OLDEST = Gauge(
    "taskforce_inbox_oldest_seconds",
    "Age of the oldest acknowledged, unfinished inbound event (0 when none)",
    registry=REGISTRY,
)
INBOX_RECOVERED = Counter(
    "taskforce_inbox_recovered_total",
    "Acknowledged events run again after their process stopped before finishing them",
    ["platform"],
    registry=REGISTRY,
)
READY = Gauge(
    "taskforce_ready",
    "1 when the last readiness check passed",
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
