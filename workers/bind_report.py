"""Who holds a bind to which carrier, in Redis, for `switchboard status`.

Each sending worker process writes its pool's bind state every `interval` seconds: one sorted
set per carrier (`switchboard:binds:<carrier>`), member `host:pid`, score the Unix time (the
writer's clock, NTP-synced hosts) until which the entry holds. A process that dies stops
writing and its entries age out after `ttl`. Only a report: nothing decides on it.

Redis down fails open: a failed write is counted and logged once per outage; sending goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

BINDS_PREFIX = "switchboard:binds:"


class FailOpenWrites:
    """Runs report writes that may fail: counts failures, one WARN per outage, one at its end."""

    def __init__(self, what: str, consequence: str) -> None:
        self.what = what
        self.consequence = consequence
        self.failures = 0
        self._failing = False

    def attempt(self, write: Callable[[], object]) -> None:
        """Call `write`; a RedisError is counted and logged, never raised."""
        try:
            write()
        except redis.RedisError as exc:
            self.failures += 1
            if not self._failing:
                log.warning("%s: Redis unreachable, %s: %s", self.what, self.consequence, exc)
            self._failing = True
            return
        if self._failing:
            log.warning("%s: Redis answers again (%d failed writes)", self.what, self.failures)
        self._failing = False


def bind_holder() -> str:
    """This process, as the bind report names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class BindReporter:
    """Writes `bound()` (carrier → bound?) to Redis on a daemon thread until :meth:`close`."""

    def __init__(
        self,
        client: redis.Redis,
        bound: Callable[[], dict[str, bool]],
        *,
        interval: float = 2.0,
        ttl: float = 10.0,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._bound = bound
        self._interval = interval
        self._ttl = ttl
        self.holder = holder or bind_holder()
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = FailOpenWrites("bind report", "status will miss binds")

    def start(self) -> None:
        """Report now, then every `interval` seconds."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bind-report", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        self.report()
        while not self._stop.wait(self._interval):
            self.report()

    def report(self) -> None:
        """One write of every carrier's bind state (failures counted, never raised)."""
        now = self._clock()
        pipe = self._client.pipeline(transaction=False)
        for carrier, bound in self._bound().items():
            key = BINDS_PREFIX + carrier
            if bound:
                pipe.zadd(key, {self.holder: now + self._ttl})
                pipe.expire(key, int(self._ttl) + 1)
            else:
                pipe.zrem(key, self.holder)
            pipe.zremrangebyscore(key, "-inf", now)
        self.writes.attempt(pipe.execute)

    def close(self) -> None:
        """Stop reporting and take this process's entries out."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        try:
            pipe = self._client.pipeline(transaction=False)
            for carrier in self._bound():
                pipe.zrem(BINDS_PREFIX + carrier, self.holder)
            pipe.execute()
        except redis.RedisError:
            pass  # the entries age out by themselves


def read_binds(client: redis.Redis, now: float | None = None) -> dict[str, list[str]]:
    """Live binds: carrier → the `host:pid` of every process holding one, sorted."""
    at = time.time() if now is None else now
    out: dict[str, list[str]] = {}
    for raw_key in client.scan_iter(match=BINDS_PREFIX + "*", count=100):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        members = client.zrangebyscore(key, at, "+inf")
        out[key.removeprefix(BINDS_PREFIX)] = sorted(
            m.decode() if isinstance(m, bytes) else str(m) for m in members
        )
    return dict(sorted(out.items()))
