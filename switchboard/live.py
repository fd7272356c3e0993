"""Live figures read at scrape time (Prometheus gauges) and each second for the dashboard.

From Redis (cluster-wide): queue depths (Celery's lists), each carrier's bucket level, adaptive
pace, health score and circuit (the same keys the send workers use). From the database: the
outbox backlog (`queued` rows, one count). From this host's metrics files (every process
family under the metrics directory): submits, throttles, receipts and OTP latency, turned into
rates and a windowed p99 by differences between ticks. All cheap: a handful of Redis calls, one
count, a read of a few memory-mapped files.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from carriers import CircuitState, RedisHealthStore
from metrics import samples
from metrics.exposition import SampleKey
from ratelimit import Pacing, RedisTokenBuckets
from routing import RoutingTable
from store import MessageStore
from workers import CLASS_QUEUES, RECEIPTS_QUEUE, bucket_key, bucket_shape, pace_key
from workers.callbacks import CALLBACKS_QUEUE

log = logging.getLogger(__name__)

QUEUES = (*CLASS_QUEUES, RECEIPTS_QUEUE, CALLBACKS_QUEUE)
# kombu's Redis transport keeps messages of priority > 0 in lists of their own
# (`<queue>\x06\x16<priority>`, the default priority steps 0, 3, 6, 9): a depth sums them.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
WINDOW_SECONDS = 60.0  # delivery ratio and OTP p99 over the last minute
CIRCUIT_STATES = tuple(s.value for s in CircuitState)


@dataclass(frozen=True)
class CarrierLive:
    """One carrier now, cluster-wide."""

    name: str
    mps: int
    paced_rate: float  # tokens/s its bucket refills at now (AIMD pace x shaped rate)
    bucket_fill: float  # share of the bucket's capacity available now
    health: float
    circuit: str
    submit_latency: float | None = None  # mean seconds over the health score's minute
    receipt_delay: float | None = None  # mean seconds over the health score's minute


@dataclass(frozen=True)
class Live:
    """Everything read at one instant."""

    carriers: tuple[CarrierLive, ...]
    queues: Mapping[str, int]
    backlog: int


class LiveReader:
    """Reads `Live` from Redis and the database; failures give what could be read."""

    def __init__(
        self, client: redis.Redis, store: MessageStore, routes: Callable[[], RoutingTable]
    ) -> None:
        self._client = client
        self._store = store
        self._routes = routes
        self._health = RedisHealthStore(client)
        self._buckets = RedisTokenBuckets(client)
        self._pacing = Pacing()

    def read(self) -> Live:
        """Queues, backlog and every carrier of the routing table in force."""
        table = self._routes()
        names = sorted(table.carriers)
        views = self._health.views(names)
        carriers = []
        for name in names:
            spec = table.carriers[name]
            rate, capacity = bucket_shape(float(spec.mps))
            pace = self._buckets.pace(pace_key(name), self._pacing)
            level = self._buckets.level(bucket_key(name), rate, capacity)
            view = views[name]
            carriers.append(
                CarrierLive(
                    name,
                    spec.mps,
                    rate * pace,
                    max(0.0, min(1.0, level / capacity)),
                    view.score,
                    view.circuit.value,
                    view.submit_latency,
                    view.receipt_delay,
                )
            )
        try:
            pipe = self._client.pipeline(transaction=False)
            for queue in QUEUES:
                for suffix in PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            lengths = [int(n) for n in pipe.execute()]
            steps = len(PRIORITY_SUFFIXES)
            depths = {q: sum(lengths[i * steps : (i + 1) * steps]) for i, q in enumerate(QUEUES)}
        except redis.RedisError as exc:
            log.warning("queue depths unreadable: %s", exc)
            depths = {}
        try:
            backlog = self._store.queued_backlog()
        except Exception as exc:  # the database is down: the other figures still help
            log.warning("outbox backlog unreadable: %s", exc)
            backlog = -1
        return Live(tuple(carriers), depths, backlog)


class LiveCollector(Collector):
    """Prometheus gauges read at scrape time (served by the API's /metrics)."""

    def __init__(self, reader: LiveReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of one scrape."""
        live = self._reader.read()
        depth = GaugeMetricFamily(
            "switchboard_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"]
        )
        for queue, n in live.queues.items():
            depth.add_metric([queue], n)
        yield depth
        yield GaugeMetricFamily(
            "switchboard_outbox_backlog", "Messages queued in the database", value=live.backlog
        )
        families = {
            "mps": GaugeMetricFamily(
                "switchboard_carrier_mps_limit", "Configured MPS", labels=["carrier"]
            ),
            "paced": GaugeMetricFamily(
                "switchboard_carrier_paced_rate",
                "Tokens per second the carrier's bucket refills at now (adaptive pace)",
                labels=["carrier"],
            ),
            "fill": GaugeMetricFamily(
                "switchboard_carrier_bucket_fill_ratio",
                "Share of the carrier's bucket available now",
                labels=["carrier"],
            ),
            "health": GaugeMetricFamily(
                "switchboard_carrier_health_score", "Health score in [0, 1]", labels=["carrier"]
            ),
            "latency": GaugeMetricFamily(
                "switchboard_carrier_submit_latency_seconds",
                "Mean submit_sm to resp over the last minute (a health score input)",
                labels=["carrier"],
            ),
            "delay": GaugeMetricFamily(
                "switchboard_carrier_receipt_delay_seconds",
                "Mean submit to final receipt over the last minute (a health score input)",
                labels=["carrier"],
            ),
        }
        circuit = GaugeMetricFamily(
            "switchboard_carrier_circuit_state",
            "1 for the carrier's circuit state now (closed, open, half_open), else 0",
            labels=["carrier", "state"],
        )
        for c in live.carriers:
            families["mps"].add_metric([c.name], c.mps)
            families["paced"].add_metric([c.name], c.paced_rate)
            families["fill"].add_metric([c.name], c.bucket_fill)
            families["health"].add_metric([c.name], c.health)
            if c.submit_latency is not None:
                families["latency"].add_metric([c.name], c.submit_latency)
            if c.receipt_delay is not None:
                families["delay"].add_metric([c.name], c.receipt_delay)
            for state in CIRCUIT_STATES:
                circuit.add_metric([c.name, state], 1.0 if c.circuit == state else 0.0)
        yield from families.values()
        yield circuit


def _total(snapshot: Mapping[SampleKey, float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, pairs), value in snapshot.items()
        if sample == name and all((k, v) in pairs for k, v in labels.items())
    )


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """`histogram_quantile`: the q-quantile of cumulative bucket counts (upper bound → count),
    linear within a bucket; None with no observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / max(count - below, 1e-12))
        lower, below = bound, count
    return lower


class Figures:
    """The dashboard's figures each tick: live state plus rates from this host's counters."""

    def __init__(
        self,
        reader: LiveReader,
        metrics_base: Path,
        clock: Callable[[], float] = time.monotonic,
        read_samples: Callable[[list[Path]], dict[SampleKey, float]] = samples,
    ) -> None:
        self._reader = reader
        self._base = metrics_base
        self._clock = clock
        self._read = read_samples
        self._history: deque[tuple[float, dict[SampleKey, float]]] = deque()

    def _snapshot(self) -> dict[SampleKey, float]:
        families = sorted(p for p in self._base.iterdir()) if self._base.is_dir() else []
        return self._read(families)

    def __call__(self) -> dict[str, Any]:
        """One tick (JSON-ready)."""
        now = self._clock()
        snapshot = self._snapshot()
        self._history.append((now, snapshot))
        while len(self._history) > 2 and now - self._history[1][0] >= WINDOW_SECONDS:
            self._history.popleft()
        live = self._reader.read()
        previous_at, previous = self._history[-2] if len(self._history) > 1 else (now, snapshot)
        oldest_at, oldest = self._history[0]
        elapsed = max(now - previous_at, 1e-9)

        def rate(name: str, **labels: str) -> float:
            if previous is snapshot:
                return 0.0
            delta = _total(snapshot, name, **labels) - _total(previous, name, **labels)
            return max(0.0, delta) / elapsed

        def window(name: str, **labels: str) -> float:
            return max(0.0, _total(snapshot, name, **labels) - _total(oldest, name, **labels))

        submits = "switchboard_submits_total"
        carriers = []
        for c in live.carriers:
            delivered = window("switchboard_receipts_total", carrier=c.name, state="delivered")
            receipts = window("switchboard_receipts_total", carrier=c.name)
            carriers.append(
                {
                    "name": c.name,
                    "mps": c.mps,
                    "paced_rate": round(c.paced_rate, 1),
                    "bucket_fill": round(c.bucket_fill, 3),
                    "health": round(c.health, 3),
                    "circuit": c.circuit,
                    "rate": round(rate(submits, carrier=c.name, result="ok"), 1),
                    "throttled_per_s": round(rate(submits, carrier=c.name, result="throttled"), 2),
                    "throttled": int(_total(snapshot, submits, carrier=c.name, result="throttled")),
                    "submitted": int(_total(snapshot, submits, carrier=c.name, result="ok")),
                    "delivery_ratio": round(delivered / receipts, 3) if receipts else None,
                }
            )
        buckets: dict[float, float] = {}
        for (sample, pairs), value in snapshot.items():
            if sample == "switchboard_otp_latency_seconds_bucket":
                le = float(dict(pairs)["le"])
                before = oldest.get((sample, pairs), 0.0) if oldest is not snapshot else 0.0
                buckets[le] = buckets.get(le, 0.0) + max(0.0, value - before)
        p99 = quantile(0.99, buckets)
        return {
            "type": "figures",
            "at": time.time(),
            "window_s": round(now - oldest_at, 1),
            "carriers": carriers,
            "queues": dict(live.queues),
            "backlog": live.backlog,
            "otp_p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
        }
