"""Carrier health shared by every worker: rolling counters in Redis, read as one view per carrier.

Counters go into 5-second buckets (`sb:health:{carrier}:{bucket}` hashes that expire after a
minute); a view sums the last 12 buckets for the score (`carriers.health.score`) and the last 3
for the circuit: at least `failure_threshold` carrier failures (system errors, timeouts, lost
binds, submits answered after `SLOW_SUBMIT`) and no success (slow ones aside) in those 15 s →
`open`; once the newest failure is `open_for` seconds old without a success since →
`half_open`: routed last, and only `half_open_probes` messages per `open_for` seconds go to it
cluster-wide (`take_probe`, a Redis counter per window); one probe accepted in time is a
success in the window, which closes the circuit; a probe failing (or slow) is a new failure,
which opens it again. The score also has the submit latency and the receipt delay (means over
its minute: `submit_ms` / `timed`, `receipt_ms` / `delayed`) and the delivered share.
Buckets use the worker's wall clock (NTP-synced hosts are close enough for health; MPS uses
Redis's own clock).

Fails open: if Redis cannot be read, every carrier looks healthy (counted, logged), because
health only orders candidates — the MPS buckets, which fail closed, still guard the carriers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import redis

from carriers.health import CircuitState, HealthCounts, score

log = logging.getLogger(__name__)

BUCKET_SECONDS = 5
SCORE_BUCKETS = 12  # one minute
CIRCUIT_BUCKETS = 3  # fifteen seconds
# Counters: submits ok / error / throttled, carrier failures (circuit), slow submits (answered
# after SLOW_SUBMIT: failures for the circuit), submit latency (`submit_ms` over `timed`
# submits), final receipts delivered / undelivered, receipt delay (`receipt_ms` over `delayed`).
FIELDS = (
    "ok",
    "error",
    "throttled",
    "failure",
    "slow",
    "submit_ms",
    "timed",
    "delivered",
    "undelivered",
    "receipt_ms",
    "delayed",
)


@dataclass(frozen=True)
class HealthView:
    """What routing needs of one carrier now, and what the score was made of."""

    score: float = 1.0
    circuit: CircuitState = CircuitState.CLOSED
    submit_latency: float | None = None  # mean seconds over the score's minute
    receipt_delay: float | None = None  # mean seconds over the score's minute
    delivered_share: float | None = None  # of final receipts over the score's minute

    def describe(self) -> str:
        """One line of what the score was made of, for `routes explain --live`."""

        def mean(seconds: float | None) -> str:
            return "-" if seconds is None else f"{seconds * 1000:.0f} ms"

        share = "-" if self.delivered_share is None else f"{self.delivered_share:.0%}"
        return (
            f"score {self.score:.2f}, circuit {self.circuit}; submit latency "
            f"{mean(self.submit_latency)}, receipt delay {mean(self.receipt_delay)}, "
            f"delivered {share}"
        )


@dataclass(frozen=True)
class HealthPolicy:
    """When a circuit opens and when it is tried again."""

    failure_threshold: int = 5
    open_for: float = 10.0
    half_open_probes: int = 3  # messages let through per `open_for` while half-open

    def probe_window(self, now: float) -> int:
        """Which `open_for`-long window `now` is in (each has its own probes)."""
        return int(now // self.open_for)


class HealthStore(Protocol):
    """Rolling carrier counters shared by the cluster."""

    def add(self, carrier: str, **counts: int) -> None:
        """Add to the current bucket (the names of `FIELDS`)."""
        ...

    def views(self, carriers: Iterable[str]) -> dict[str, HealthView]:
        """The current view of each carrier."""
        ...

    def take_probe(self, carrier: str) -> bool:
        """One of the `half_open_probes` trial messages of this window for a half-open carrier;
        False when they are taken (send it elsewhere, or later)."""
        ...


def view_from_buckets(
    buckets: dict[int, dict[str, int]], now: float, policy: HealthPolicy
) -> HealthView:
    """Pure: a carrier's view from its per-bucket counters (bucket index → field → count)."""
    current = int(now // BUCKET_SECONDS)
    total: dict[str, int] = defaultdict(int)
    for index, fields in buckets.items():
        if current - index < SCORE_BUCKETS:
            for name, value in fields.items():
                total[name] += value
    receipts = total["delivered"] + total["undelivered"]
    counts = HealthCounts(
        submit_ok=total["ok"],
        submit_error=total["error"],
        throttled=total["throttled"],
        receipts_delivered=total["delivered"],
        receipts_undelivered=total["undelivered"],
        submit_latency=_mean_ms(total["submit_ms"], total["timed"]),
        receipt_delay=_mean_ms(total["receipt_ms"], total["delayed"]),
    )
    recent = [i for i in buckets if current - i < CIRCUIT_BUCKETS]

    def failures_in(i: int) -> int:  # a slow submit counts as a failure, not as a success
        return buckets[i].get("failure", 0) + buckets[i].get("slow", 0)

    failures = sum(failures_in(i) for i in recent)
    successes = sum(buckets[i].get("ok", 0) - buckets[i].get("slow", 0) for i in recent)
    circuit = CircuitState.CLOSED
    if failures >= policy.failure_threshold and successes <= 0:
        newest_failure = max(i for i in recent if failures_in(i))
        failing_since = (current - newest_failure) * BUCKET_SECONDS
        circuit = CircuitState.HALF_OPEN if failing_since >= policy.open_for else CircuitState.OPEN
    return HealthView(
        score(counts),
        circuit,
        counts.submit_latency,
        counts.receipt_delay,
        total["delivered"] / receipts if receipts else None,
    )


def _mean_ms(total_ms: int, samples: int) -> float | None:
    """Mean seconds of `samples` adding up to `total_ms` milliseconds (None: no sample)."""
    return total_ms / samples / 1000 if samples else None


class RedisHealthStore:
    """HealthStore on Redis hashes; writes are one pipeline, reads one pipeline for all carriers."""

    def __init__(
        self,
        client: redis.Redis,
        policy: HealthPolicy = HealthPolicy(),
        clock: Callable[[], float] = time.time,
        prefix: str = "sb:health:",
    ) -> None:
        self.client = client
        self.policy = policy
        self.clock = clock
        self.prefix = prefix
        self.failures = 0

    def add(self, carrier: str, **counts: int) -> None:
        """Add to this bucket's counters; a Redis error is logged and counted, never raised."""
        bucket = int(self.clock() // BUCKET_SECONDS)
        key = f"{self.prefix}{carrier}:{bucket}"
        try:
            pipe = self.client.pipeline(transaction=False)
            for name, value in counts.items():
                if value:
                    pipe.hincrby(key, name, value)
            pipe.expire(key, BUCKET_SECONDS * SCORE_BUCKETS + BUCKET_SECONDS)
            pipe.execute()
        except redis.RedisError:
            self.failures += 1
            log.warning("carrier health counters not written (Redis unavailable)")

    def take_probe(self, carrier: str) -> bool:
        """A probe slot of this window (INCR on a key expiring with it). Fails closed: no
        Redis, no probe — though with no Redis no carrier looks half-open (views fail open)."""
        window = self.policy.probe_window(self.clock())
        key = f"{self.prefix}{carrier}:probes:{window}"
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, int(self.policy.open_for) + 1)
            taken = int(pipe.execute()[0])
        except redis.RedisError:
            self.failures += 1
            log.warning("half-open probe of %s not taken (Redis unavailable)", carrier)
            return False
        return taken <= self.policy.half_open_probes

    def views(self, carriers: Iterable[str]) -> dict[str, HealthView]:
        """Every carrier's view; all healthy when Redis cannot be read (fails open)."""
        names = list(carriers)
        now = self.clock()
        current = int(now // BUCKET_SECONDS)
        indexes = [current - i for i in range(SCORE_BUCKETS)]
        try:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                for index in indexes:
                    pipe.hgetall(f"{self.prefix}{name}:{index}")
            raw = pipe.execute()
        except redis.RedisError:
            self.failures += 1
            log.warning(
                "carrier health unreadable (Redis unavailable); treating carriers as healthy"
            )
            return {name: HealthView() for name in names}
        out: dict[str, HealthView] = {}
        for n, name in enumerate(names):
            buckets = {
                index: {k.decode(): int(v) for k, v in raw[n * len(indexes) + i].items()}
                for i, index in enumerate(indexes)
                if raw[n * len(indexes) + i]
            }
            out[name] = view_from_buckets(buckets, now, self.policy)
        return out


class MemoryHealthStore:
    """In-process twin of RedisHealthStore (same bucketing), for unit tests."""

    def __init__(
        self, policy: HealthPolicy = HealthPolicy(), clock: Callable[[], float] = time.time
    ) -> None:
        self.policy = policy
        self.clock = clock
        self._buckets: dict[str, dict[int, dict[str, int]]] = defaultdict(dict)
        self._probes: dict[tuple[str, int], int] = defaultdict(int)
        self._lock = threading.Lock()

    def take_probe(self, carrier: str) -> bool:
        """A probe slot of this window."""
        key = (carrier, self.policy.probe_window(self.clock()))
        with self._lock:
            self._probes[key] += 1
            return self._probes[key] <= self.policy.half_open_probes

    def add(self, carrier: str, **counts: int) -> None:
        """Add to this bucket's counters."""
        bucket = int(self.clock() // BUCKET_SECONDS)
        with self._lock:
            fields = self._buckets[carrier].setdefault(bucket, defaultdict(int))
            for name, value in counts.items():
                fields[name] += value

    def views(self, carriers: Iterable[str]) -> dict[str, HealthView]:
        """Every carrier's view."""
        now = self.clock()
        with self._lock:
            return {
                name: view_from_buckets(dict(self._buckets.get(name, {})), now, self.policy)
                for name in carriers
            }
