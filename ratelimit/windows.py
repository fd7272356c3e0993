"""Velocity limits (OTPs per number per hour, per account): the port, Redis adapter and twin.

Sliding-window logs: exact, and O(limit) memory per key, which suits the small limits of
OTP velocity checks. Redis decides on its own clock inside one Lua script.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import resources
from typing import Protocol

import redis

from ratelimit import window_model
from ratelimit.window_model import MICROS, WindowResult

logger = logging.getLogger(__name__)


class WindowCounters(Protocol):
    """At most `limit` hits per key in any `window_seconds`, shared by every process."""

    def hit(self, key: str, limit: int, window_seconds: float) -> WindowResult:
        """Count one hit on `key` if it fits; refused hits are not counted.

        Raises:
            ValueError: `limit` < 1 or `window_seconds` not positive.
        """
        ...


class RedisWindowCounters:
    """Sliding windows in Redis (a sorted set per key, with a TTL of one window).

    Fails OPEN by default — these are customer quotas, and refusing every OTP because Redis
    blinked is the worse failure: the hit is allowed with `degraded=True`, `failures` counts
    it and a warning is logged. Pass `fail_open=False` for a limit that must hold, which then
    refuses with `retry_after` = `failure_retry_after`.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "sb:win:",
        fail_open: bool = True,
        failure_retry_after: float = 1.0,
    ) -> None:
        self._prefix = prefix
        self._fail_open = fail_open
        self._failure_retry_after = failure_retry_after
        source = resources.files("ratelimit").joinpath("sliding_window.lua").read_text("utf-8")
        self._script = client.register_script(source)
        self._lock = threading.Lock()
        self.failures = 0

    def hit(self, key: str, limit: int, window_seconds: float) -> WindowResult:
        """Count one hit on `key` if it fits; see :class:`WindowCounters`."""
        decided = self.hit_timed(key, limit, window_seconds)
        if decided is not None:
            return decided[0]
        if self._fail_open:
            return WindowResult(True, limit - 1, 0.0, degraded=True)
        return WindowResult(False, 0, self._failure_retry_after, degraded=True)

    def hit_timed(
        self, key: str, limit: int, window_seconds: float
    ) -> tuple[WindowResult, int] | None:
        """Like `hit`, plus the Redis `TIME` (µs) it used; None when Redis failed (counted)."""
        window_model.check_limit(limit)
        span_us = window_model.window_us(window_seconds)
        full_key = self._prefix + key
        try:
            allowed, remaining, retry_us, now_us = self._script(
                keys=[full_key, full_key + ":seq"], args=[limit, span_us]
            )
        except (redis.RedisError, OSError) as exc:
            with self._lock:
                self.failures += 1
            mode = "open" if self._fail_open else "closed"
            logger.warning("window %r unavailable, failing %s: %s", key, mode, exc)
            return None
        result = WindowResult(bool(allowed), int(remaining), int(retry_us) / MICROS)
        return result, int(now_us)


class MemoryWindowCounters:
    """In-process twin of :class:`RedisWindowCounters`, for unit tests. Never fails.

    `clock` returns seconds (e.g. `time.time`, which freezegun controls).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._logs: dict[str, tuple[int, ...]] = {}
        self._lock = threading.Lock()
        self.failures = 0

    def hit(self, key: str, limit: int, window_seconds: float) -> WindowResult:
        """Count one hit on `key` if it fits; see :class:`WindowCounters`."""
        window_model.check_limit(limit)
        span_us = window_model.window_us(window_seconds)
        with self._lock:
            log, result = window_model.hit(
                self._logs.get(key, ()), round(self._clock() * MICROS), limit, span_us
            )
            self._logs[key] = log
        return result
