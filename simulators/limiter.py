"""Pure rate accounting for a simulated carrier: its MPS limiter and the observed peak rate.

The clock is passed in (seconds, monotonic), so tests drive time by hand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """`rate` tokens per second up to `capacity`; starts full."""

    __slots__ = ("_clock", "_stamp", "capacity", "rate", "tokens")

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self, now: float) -> None:
        elapsed = now - self._stamp
        if elapsed > 0:  # a reservation may have moved the stamp ahead of `now`
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self._stamp = now

    def try_take(self, now: float | None = None) -> bool:
        """Take one token if there is one."""
        self._refill(self._clock() if now is None else now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def reserve(self, now: float) -> float:
        """Take the next token, waiting for it if need be: the time it is taken (>= now)."""
        self._refill(now)
        if self.tokens < 1.0:
            # Jump to the instant the bucket holds one whole token again.
            self._stamp += (1.0 - self.tokens) / self.rate
            self.tokens = 1.0
        self.tokens -= 1.0
        return max(now, self._stamp)

    def reconfigure(self, rate: float, capacity: float) -> None:
        """Change rate and capacity live, keeping the tokens already earned (capped)."""
        self._refill(self._clock())
        self.rate = rate
        self.capacity = capacity
        self.tokens = min(self.tokens, capacity)


class SlidingWindow:
    """At most `limit` events in any `span` seconds (exact: keeps the last `limit` stamps)."""

    __slots__ = ("_stamps", "limit", "span")

    def __init__(self, limit: int, span: float = 1.0) -> None:
        self.limit = limit
        self.span = span
        self._stamps: deque[float] = deque(maxlen=limit)

    def try_add(self, now: float) -> bool:
        """Record an event at `now` unless `limit` events already happened in the last `span`."""
        stamps = self._stamps
        if len(stamps) == self.limit and now - stamps[0] < self.span:
            return False
        stamps.append(now)
        return True

    def reserve(self, at: float) -> float:
        """Record an event at `at` or, if the window is full then, as soon after as it fits."""
        stamps = self._stamps
        if stamps:
            at = max(at, stamps[-1])  # stamps stay ordered
        if len(stamps) == self.limit and at - stamps[0] < self.span:
            at = stamps[0] + self.span
        stamps.append(at)
        return at

    def resize(self, limit: int) -> None:
        """Change the limit, keeping the most recent stamps."""
        self.limit = limit
        self._stamps = deque(self._stamps, maxlen=limit)


class RateLimiter:
    """A carrier's MPS promise: a token bucket (bursts up to `capacity`) and never more than
    `rate` accepted in any 1-s window.

    A bare token bucket that starts full lets `capacity + rate` through in one second; real
    SMSCs count per second, and the simulator's job is to catch senders that exceed that.
    """

    __slots__ = ("_clock", "bucket", "window")

    def __init__(self, rate: int, capacity: int, clock: Clock) -> None:
        self._clock = clock
        self.bucket = TokenBucket(rate, capacity, clock)
        self.window = SlidingWindow(rate)

    def try_acquire(self, at: float | None = None) -> bool:
        """One submit_sm (arrived at `at`; now if None): True when it is within the limit
        (and is then counted)."""
        now = self._clock() if at is None else at
        if not self.bucket.try_take(now):
            return False
        if not self.window.try_add(now):
            self.bucket.tokens += 1.0  # give the token back: the window, not the bucket, said no
            return False
        return True

    def reserve(self, now: float | None = None) -> float:
        """Queue one submit_sm: the (monotonic) time it may be answered, `now` or later.

        For a carrier that queues instead of rejecting; the slot is taken either way.
        """
        return self.window.reserve(self.bucket.reserve(self._clock() if now is None else now))

    def reconfigure(self, rate: int, capacity: int) -> None:
        """Change the limit live (faults endpoint)."""
        self.bucket.reconfigure(rate, capacity)
        self.window.resize(rate)


class PeakRate:
    """Most events counted in any whole second (per-second buckets of the clock)."""

    __slots__ = ("_count", "_second", "peak")

    def __init__(self) -> None:
        self._second = -1
        self._count = 0
        self.peak = 0

    def add(self, now: float) -> None:
        """Count one event at `now`."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._count = 0
        self._count += 1
        if self._count > self.peak:
            self.peak = self._count
