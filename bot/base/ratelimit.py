"""Per-member command rate: a token bucket per platform identity, platform-free.

Each identity may send `per_minute` commands in a burst, then one more every
`60 / per_minute` seconds. The buckets live in the process: with several replicas behind a
load balancer each replica keeps its own, so one member gets at most `replicas × per_minute`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Past this many identities, full buckets (members idle long enough) are forgotten.
PRUNE_ABOVE = 10_000
EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    """Token buckets keyed by `(platform, identity)`; time is given by the caller (seconds)."""

    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def take(self, key: tuple[str, str], per_minute: int, now: float) -> float:
        """Spend one token for `key`; return 0 if allowed, else the seconds to wait.

        `per_minute <= 0` turns the limit off. A refused call spends nothing, so a member
        who keeps flooding is served again as soon as the bucket has refilled one token.
        """
        if per_minute <= 0:
            return 0.0
        capacity = float(per_minute)
        rate = per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_ABOVE:
                self._prune(capacity, rate, now)
            bucket = self._buckets[key] = _Bucket(tokens=capacity, at=now)
        else:
            # max(): a clock stepped backwards must not drain or overfill the bucket.
            bucket.tokens = min(capacity, bucket.tokens + max(now - bucket.at, 0.0) * rate)
            bucket.at = max(now, bucket.at)
        if bucket.tokens >= 1.0 - EPSILON:  # refills add up in floating point
            bucket.tokens = max(bucket.tokens - 1.0, 0.0)
            return 0.0
        return (1.0 - bucket.tokens) / rate

    def _prune(self, capacity: float, rate: float, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * rate >= capacity]
        for k in full:
            del self._buckets[k]


def wait_seconds(delay: float) -> int:
    """A refusal's wait rounded up to whole seconds (at least 1), for the reply."""
    return max(1, math.ceil(delay - EPSILON))
