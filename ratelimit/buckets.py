"""Token buckets for carrier MPS: the port, the Redis adapter and its in-memory twin.

One bucket per key (a carrier, or a carrier's share for one traffic class), counted in PDUs
(segments). The Redis adapter decides on Redis's own clock inside one Lua script, so every
worker process on every host draws from the same bucket (ARCHITECTURE.md invariant 2).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import redis

from ratelimit import model
from ratelimit.model import MICROS, BucketState, Grant, PaceState

logger = logging.getLogger(__name__)

#: Seconds a caller is told to wait when the bucket store cannot be reached.
FAILURE_RETRY_AFTER = 1.0


Bucket = tuple[str, float, float]  # key, rate (tokens/s), capacity


@dataclass(frozen=True)
class Pacing:
    """How a carrier's pace adapts: AIMD on the share of its configured rate.

    `cut` of the pace is kept on a throttle (at most once per `cooldown` seconds, never below
    `minimum`); `recover_per_s` of the configured rate comes back every second.
    """

    cut: float = 0.9
    minimum: float = 0.05
    cooldown: float = 0.25
    recover_per_s: float = 0.08


class TokenBuckets(Protocol):
    """Rate limits shared by every process that uses the same store."""

    def take(
        self, key: str, rate: float, capacity: float, tokens: int = 1, partial: bool = False
    ) -> Grant:
        """Take `tokens` from bucket `key` (refilling at `rate`/s up to `capacity`).

        All-or-nothing unless `partial`, which grants as many whole tokens as are there.

        Raises:
            ValueError: `rate` or `capacity` not positive, or `tokens` < 1.
        """
        ...

    def take_chain(self, buckets: Sequence[Bucket], tokens: int) -> Grant:
        """Take up to `tokens` from every one of `buckets` at once, as many as the emptiest
        holds (one decision: no token of one bucket is spent when another refuses).

        Raises:
            ValueError: no buckets, a `rate` or `capacity` not positive, or `tokens` < 1.
        """
        ...

    def level(self, key: str, rate: float, capacity: float) -> float:
        """Tokens in bucket `key` now, without taking any (for the routing snapshot)."""
        ...

    def take_lane(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, float]:
        """Take up to `tokens` whole tokens above `floor` (booking up to `ahead` before they
        refill; yielding for `yield_s` to a refused lane without it) from bucket `key`,
        refilling at `rate` times the pace at `pace_key` (:func:`ratelimit.model.take_lane`);
        one decision. A `whole` take grants all `tokens` or none.

        Returns the grant, the rate the bucket refilled at (tokens/s) and the seconds until
        the last granted token is due (send none before).

        Raises:
            ValueError: `rate` or `capacity` not positive, `floor` not in [0, capacity - 1],
                or `tokens` < 1.
        """
        ...

    def take_lane_timed(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, int, float] | None:
        """Like `take_lane`: (grant, rate, the store's clock at the decision in µs, due in),
        so a lane can place its tokens' slots on the store's clock; None when the store
        failed (counted; the caller treats it as a refusal: fail closed). A `whole` take
        grants all `tokens` or none (:func:`ratelimit.model.take_lane`)."""
        ...

    def cut_pace(self, pace_key: str, pacing: Pacing) -> float | None:
        """A throttle: cut the pace at `pace_key` (:func:`ratelimit.model.cut_pace`).

        Returns the new pace, or None when a cut within the cooldown already counted.
        """
        ...

    def pace(self, pace_key: str, pacing: Pacing) -> float:
        """The pace at `pace_key` now: the share of the configured rate allowed (1.0: all)."""
        ...


def _check_take(rate: float, capacity: float, tokens: int) -> None:
    model.check_limits(rate, capacity, tokens)
    if tokens < 1:
        raise ValueError(f"take() needs tokens >= 1, got {tokens!r}; use level() to read")


def _check_lane(rate: float, capacity: float, floor: float, tokens: int) -> None:
    _check_take(rate, capacity, tokens)
    if not (0 <= floor <= capacity - 1):
        raise ValueError(f"floor must be in [0, capacity - 1], got {floor!r}")


def _check_chain(buckets: Sequence[Bucket], tokens: int) -> None:
    if not buckets:
        raise ValueError("take_chain() needs at least one bucket")
    for _, rate, capacity in buckets:
        _check_take(rate, capacity, tokens)


class RedisTokenBuckets:
    """Token buckets in Redis, decided by one Lua script on Redis's clock.

    Fails CLOSED: when Redis cannot be reached (or errs), `take` grants nothing with
    `retry_after` = :data:`FAILURE_RETRY_AFTER`, `level` reads 0.0, `failures` counts it and a
    warning is logged. No token, no submit: over-sending to a carrier is the worse failure.
    Give the client a `socket_timeout` so a hung Redis fails fast instead of blocking.
    """

    def __init__(self, client: redis.Redis, prefix: str = "sb:tb:") -> None:
        self._client = client
        self._prefix = prefix
        source = resources.files("ratelimit").joinpath("token_bucket.lua").read_text("utf-8")
        # register_script runs EVALSHA and loads the script again after a SCRIPT FLUSH/restart.
        self._script = client.register_script(source)
        chain = resources.files("ratelimit").joinpath("token_chain.lua").read_text("utf-8")
        self._chain = client.register_script(chain)
        lane = resources.files("ratelimit").joinpath("token_lane.lua").read_text("utf-8")
        self._lane = client.register_script(lane)
        cut = resources.files("ratelimit").joinpath("pace_cut.lua").read_text("utf-8")
        self._cut = client.register_script(cut)
        self._lock = threading.Lock()
        self.failures = 0

    def take(
        self, key: str, rate: float, capacity: float, tokens: int = 1, partial: bool = False
    ) -> Grant:
        """Take `tokens` from bucket `key`; see :class:`TokenBuckets`. Fails closed."""
        _check_take(rate, capacity, tokens)
        decided = self._run(key, rate, capacity, tokens, partial)
        if decided is None:
            return Grant(0, FAILURE_RETRY_AFTER)
        return decided[0]

    def take_timed(
        self, key: str, rate: float, capacity: float, tokens: int = 1, partial: bool = False
    ) -> tuple[Grant, float, int] | None:
        """Like `take`, plus the tokens left and the Redis `TIME` (µs) the decision used.

        Returns None when Redis failed (counted and logged, as in `take`). For audits and for
        checking the script against :mod:`ratelimit.model` at the very same instants.
        """
        _check_take(rate, capacity, tokens)
        return self._run(key, rate, capacity, tokens, partial)

    def take_chain(self, buckets: Sequence[Bucket], tokens: int) -> Grant:
        """Take from several buckets in one script; see :class:`TokenBuckets`. Fails closed."""
        decided = self.take_chain_timed(buckets, tokens)
        return Grant(0, FAILURE_RETRY_AFTER) if decided is None else decided[0]

    def take_chain_timed(self, buckets: Sequence[Bucket], tokens: int) -> tuple[Grant, int] | None:
        """Like `take_chain`, plus the Redis `TIME` (µs) the decision used; None when Redis
        failed (counted and logged)."""
        _check_chain(buckets, tokens)
        args: list[int | str] = [tokens]
        for _, rate, capacity in buckets:
            args += [repr(float(rate)), repr(float(capacity))]
        keys = [self._prefix + key for key, _, _ in buckets]
        try:
            granted, retry_after, now_us = self._chain(keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            self._failed(keys[0], exc)
            return None
        return Grant(int(granted), float(retry_after)), int(now_us)

    def take_lane(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, float]:
        """Take from a carrier's bucket, paced; see :class:`TokenBuckets`. Fails closed."""
        decided = self.take_lane_timed(
            key, pace_key, rate, capacity, floor, pacing, tokens, ahead, yield_s, whole
        )
        if decided is None:
            return Grant(0, FAILURE_RETRY_AFTER), rate, 0.0
        grant, paced, _, due_in = decided
        return grant, paced, due_in

    def take_lane_timed(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, int, float] | None:
        """Like `take_lane`: (grant, rate, the Redis `TIME` (µs) of the decision, due in);
        None when Redis failed (counted and logged)."""
        _check_lane(rate, capacity, floor, tokens)
        args: list[str | int] = [
            repr(float(v)) for v in (rate, capacity, floor, pacing.recover_per_s)
        ]
        try:
            granted, retry_after, paced, now_us, due_in = self._lane(
                keys=[self._prefix + key, self._prefix + pace_key],
                args=[
                    *args,
                    tokens,
                    repr(float(ahead)),
                    round(yield_s * MICROS),
                    "1" if whole else "0",
                ],
            )
        except (redis.RedisError, OSError) as exc:
            self._failed(key, exc)
            return None
        return Grant(int(granted), float(retry_after)), float(paced), int(now_us), float(due_in)

    def cut_pace(self, pace_key: str, pacing: Pacing) -> float | None:
        """Cut a carrier's pace in one script; None within the cooldown, or when Redis failed
        (counted and logged; its bucket fails closed anyway)."""
        decided = self.cut_pace_timed(pace_key, pacing)
        if decided is None or decided[0] is None:
            return None
        return decided[0].factor

    def cut_pace_timed(
        self, pace_key: str, pacing: Pacing
    ) -> tuple[PaceState | None, PaceState] | None:
        """Like `cut_pace`: (the new state if it cut, the state now); None on Redis failure."""
        args: list[str | int] = [
            repr(float(pacing.recover_per_s)),
            repr(float(pacing.cut)),
            repr(float(pacing.minimum)),
            round(pacing.cooldown * MICROS),
        ]
        try:
            did_cut, factor, ts = self._cut(keys=[self._prefix + pace_key], args=args)
        except (redis.RedisError, OSError) as exc:
            self._failed(pace_key, exc)
            return None
        state = PaceState(float(factor), int(ts))
        return (state if int(did_cut) else None), state

    def pace(self, pace_key: str, pacing: Pacing) -> float:
        """The pace now (1.0 when none is stored; 0.0 when Redis fails: closed)."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.hmget(self._prefix + pace_key, "factor", "ts")
                pipe.time()
                (factor, ts), (seconds, micros) = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._failed(pace_key, exc)
            return 0.0
        if factor is None or ts is None:
            return 1.0
        state = PaceState(float(factor), int(ts))
        return model.pace_at(state, int(seconds) * MICROS + int(micros), pacing.recover_per_s)

    def level(self, key: str, rate: float, capacity: float) -> float:
        """Tokens in bucket `key` now (0.0 when Redis fails: closed)."""
        model.check_limits(rate, capacity, 0)
        decided = self._run(key, rate, capacity, 0, False)
        return 0.0 if decided is None else decided[1]

    def _run(
        self, key: str, rate: float, capacity: float, tokens: int, partial: bool
    ) -> tuple[Grant, float, int] | None:
        try:
            reply = self._script(
                keys=[self._prefix + key],
                args=[repr(float(rate)), repr(float(capacity)), tokens, "1" if partial else "0"],
            )
        except (redis.RedisError, OSError) as exc:
            self._failed(key, exc)
            return None
        granted, retry_after, left, now_us = reply
        return Grant(int(granted), float(retry_after)), float(left), int(now_us)

    def _failed(self, key: str, exc: Exception) -> None:
        with self._lock:
            self.failures += 1
        logger.warning("token bucket %r unavailable, failing closed: %s", key, exc)


class MemoryTokenBuckets:
    """In-process twin of :class:`RedisTokenBuckets` with the same semantics, for unit tests.

    `clock` returns seconds (e.g. `time.monotonic`, or a fake). Thread-safe; never fails.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._states: dict[str, BucketState] = {}
        self._paces: dict[str, PaceState] = {}
        self._lock = threading.Lock()
        self.failures = 0

    def take(
        self, key: str, rate: float, capacity: float, tokens: int = 1, partial: bool = False
    ) -> Grant:
        """Take `tokens` from bucket `key`; see :class:`TokenBuckets`."""
        _check_take(rate, capacity, tokens)
        with self._lock:
            state, grant, _ = model.take(
                self._states.get(key), self._now_us(), rate, capacity, tokens, partial
            )
            if state is not None:
                self._states[key] = state
        return grant

    def take_chain(self, buckets: Sequence[Bucket], tokens: int) -> Grant:
        """Take from several buckets at once; see :class:`TokenBuckets`."""
        _check_chain(buckets, tokens)
        with self._lock:
            states, grant = model.take_chain(
                [self._states.get(key) for key, _, _ in buckets],
                self._now_us(),
                [(rate, capacity) for _, rate, capacity in buckets],
                tokens,
            )
            for (key, _, _), state in zip(buckets, states, strict=True):
                self._states[key] = state
        return grant

    def take_lane(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, float]:
        """Take from a carrier's bucket, paced; see :class:`TokenBuckets`."""
        decided = self.take_lane_timed(
            key, pace_key, rate, capacity, floor, pacing, tokens, ahead, yield_s, whole
        )
        assert decided is not None  # the twin never fails
        grant, paced, _, due_in = decided
        return grant, paced, due_in

    def take_lane_timed(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, int, float] | None:
        """Like `take_lane`, plus the twin's clock (µs) at the decision; never None."""
        _check_lane(rate, capacity, floor, tokens)
        with self._lock:
            now_us = self._now_us()
            state, grant, paced, due_in = model.take_lane(
                self._states.get(key),
                self._paces.get(pace_key),
                now_us,
                rate,
                capacity,
                floor,
                pacing.recover_per_s,
                tokens,
                ahead,
                round(yield_s * MICROS),
                whole,
            )
            self._states[key] = state
        return grant, paced, now_us, due_in

    def cut_pace(self, pace_key: str, pacing: Pacing) -> float | None:
        """Cut a carrier's pace; see :class:`TokenBuckets`."""
        with self._lock:
            state, did_cut = model.cut_pace(
                self._paces.get(pace_key),
                self._now_us(),
                pacing.recover_per_s,
                pacing.cut,
                pacing.minimum,
                round(pacing.cooldown * MICROS),
            )
            self._paces[pace_key] = state
        return state.factor if did_cut else None

    def pace(self, pace_key: str, pacing: Pacing) -> float:
        """The pace now; see :class:`TokenBuckets`."""
        with self._lock:
            return model.pace_at(self._paces.get(pace_key), self._now_us(), pacing.recover_per_s)

    def level(self, key: str, rate: float, capacity: float) -> float:
        """Tokens in bucket `key` now."""
        model.check_limits(rate, capacity, 0)
        with self._lock:
            return model.level(self._states.get(key), self._now_us(), rate, capacity)

    def _now_us(self) -> int:
        return round(self._clock() * MICROS)
