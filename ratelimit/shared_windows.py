"""Request and message rates shared by every API process, decided locally (no Redis round trip
per request): a sliding-window *counter* per key, synced with Redis a few times a second.

Each process counts its own hits per key in fixed 1-second slots and decides alone, from the
cluster's counts it last heard plus its own since: the estimate over the last second is
`previous_slot * (1 - elapsed fraction) + current_slot` (Cloudflare's sliding-window counter;
exact at slot edges, an even-spread approximation between). `RedisWindowSync.sync` pushes the
hits counted since the last sync (`INCRBY`, expiring with two slots) and reads back the
cluster's totals, one pipeline for every key seen — at `sync_interval` 0.1 s the cluster may
overshoot a limit by what the other processes admit in 0.1 s, the price of not paying a Redis
round trip per request (~2,000 POST/s per process).

Fails OPEN (customer quotas, STYLE.md §11): while Redis cannot be reached, each process limits
on its own counts only, `failures` counts the failed syncs and one warning is logged per outage.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

logger = logging.getLogger(__name__)
SLOT = 1.0  # seconds: limits are per second


@dataclass(frozen=True)
class RateDecision:
    """Allowed?, what is left of the limit this second, and when to retry when refused."""

    allowed: bool
    remaining: int
    retry_after: float
    reset: float  # seconds until the current slot ends


def estimate(previous: int, current: int, elapsed: float) -> float:
    """Hits in the last second: the previous slot weighted by how much of it is still inside."""
    return previous * (1.0 - elapsed / SLOT) + current


def decide(previous: int, current: int, elapsed: float, limit: int, cost: int) -> RateDecision:
    """Whether `cost` more hits fit `limit` per second (pure; `elapsed` into the slot)."""
    seen = estimate(previous, current, elapsed)
    reset = SLOT - elapsed
    if seen + cost <= limit:
        return RateDecision(True, max(0, math.floor(limit - seen - cost)), 0.0, reset)
    if current + cost > limit or previous == 0:
        return RateDecision(False, 0, reset, reset)  # even a new slot's start would not fit
    # The previous slot's weight falls linearly: wait until enough of it has left the window.
    room_at = 1.0 - (limit - current - cost) / previous  # the elapsed fraction where it fits
    return RateDecision(False, 0, max(0.001, (room_at * SLOT) - elapsed), reset)


@dataclass
class _Key:
    slot: int = -1
    cluster_current: int = 0  # every process's hits in `slot`, as last synced
    cluster_previous: int = 0  # and in `slot - 1`
    unsynced: int = 0  # this process's hits in `slot` not yet pushed


@dataclass
class SharedWindows:
    """Per-key rates decided locally; `RedisWindowSync` shares the counts between processes."""

    clock: Callable[[], float]  # seconds (time.time: the slots must agree across hosts)
    _keys: dict[str, _Key] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str, limit: int, cost: int = 1) -> RateDecision:
        """Count `cost` hits on `key` if they fit `limit` per second (refused ones are not)."""
        now = self.clock()
        slot = math.floor(now / SLOT)
        elapsed = now - slot * SLOT
        with self._lock:
            entry = self._keys.get(key)
            if entry is None:
                entry = self._keys[key] = _Key(slot)
            if entry.slot != slot:  # roll over: what was current is now previous
                previous = entry.cluster_current + entry.unsynced if entry.slot == slot - 1 else 0
                entry.slot, entry.cluster_previous, entry.cluster_current = slot, previous, 0
                entry.unsynced = 0
            decision = decide(
                entry.cluster_previous,
                entry.cluster_current + entry.unsynced,
                elapsed,
                limit,
                cost,
            )
            if decision.allowed:
                entry.unsynced += cost
            return decision

    def take_unsynced(self) -> dict[str, tuple[int, int]]:
        """Key → (slot, hits not yet pushed), zeroed as taken (for the sync)."""
        with self._lock:
            taken = {k: (e.slot, e.unsynced) for k, e in self._keys.items() if e.slot >= 0}
            for entry in self._keys.values():
                entry.cluster_current += entry.unsynced
                entry.unsynced = 0
            return taken

    def learn(self, key: str, slot: int, current: int, previous: int) -> None:
        """The cluster's totals for `key` in `slot` and the slot before (from the sync)."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is None or entry.slot != slot:
                return  # rolled over meanwhile: the next sync brings the new slot
            entry.cluster_current = max(entry.cluster_current, current)
            entry.cluster_previous = max(entry.cluster_previous, previous)

    def forget_idle(self, before_slot: int) -> None:
        """Drop keys not hit since `before_slot` (bounded memory)."""
        with self._lock:
            for key in [k for k, e in self._keys.items() if e.slot < before_slot]:
                del self._keys[key]


class RedisWindowSync:
    """Pushes a process's counts to Redis and reads the cluster's back; fails open (counted)."""

    def __init__(self, windows: SharedWindows, client: redis.Redis, prefix: str = "sb:rate:"):
        self.windows = windows
        self.client = client
        self.prefix = prefix
        self.failures = 0
        self._failing = False

    def sync(self) -> bool:
        """One round: every key's new hits pushed, totals read back. False when Redis failed
        (the hits taken are then lost to the other processes, not to this one)."""
        taken = self.windows.take_unsynced()
        if not taken:
            return True
        pipe = self.client.pipeline(transaction=False)
        keys = list(taken.items())
        for key, (slot, hits) in keys:
            current = f"{self.prefix}{key}:{slot}"
            if hits:
                pipe.incrby(current, hits)
                pipe.expire(current, 3)
            else:
                pipe.get(current)
            pipe.get(f"{self.prefix}{key}:{slot - 1}")
        try:
            replies = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self.failures += 1
            if not self._failing:
                logger.warning("rate limits: Redis unreachable, limiting per process: %s", exc)
            self._failing = True
            return False
        if self._failing:
            logger.warning("rate limits: Redis back, limits shared again")
        self._failing = False
        at = 0
        for key, (slot, hits) in keys:
            total = int(replies[at] or 0)
            at += 2 if hits else 1  # INCRBY + EXPIRE, or GET
            before = int(replies[at] or 0)
            at += 1
            self.windows.learn(key, slot, total, before)
        self.windows.forget_idle(math.floor(self.windows.clock() / SLOT) - 2)
        return True

    def run(self, interval: float, stop: threading.Event) -> None:
        """Sync every `interval` seconds until `stop` is set (a daemon thread's body)."""
        while not stop.wait(interval):
            try:
                self.sync()
            except Exception:  # never let the thread die: limits would silently go local
                logger.exception("rate limit sync failed")
                self.failures += 1
