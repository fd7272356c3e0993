"""One sender per carrier lane at a time: a short, renewed tenure with a guard at each hand-over.

A carrier with a bucket of one token (burst 1) refuses two PDUs closer than 1/M as it reads
them. One process can keep its own PDUs apart (it knows when it wrote the last); two cannot:
each sends its slot when its loop wakes, and one late by more than the slack puts its PDU
next to the other's. So a paced lane sends from one process at a time: the holder of the
lane's tenure. It renews the tenure while it has work and gives it back when it has none;
the next holder's first PDU waits `guard` after the hand-over (the last holder's last PDU went
before it gave the tenure back), or `guard` after a tenure that ran out (its holder stopped
renewing and sends nothing past it).

Fails CLOSED: when the store cannot be reached, `hold` says not held (no tenure, no send:
the lane waits, it does not throttle); failures are counted and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import redis

logger = logging.getLogger(__name__)

MICROS = 1_000_000
FAILURE_RETRY_S = 0.05  # seconds before asking again after the store failed


@dataclass(frozen=True)
class Tenure:
    """A `hold` answer, on the store's clock (µs): held from `start_us` (now, or the guard's
    end after a hand-over) to `until_us`; not held, `until_us` is when the other holder's
    tenure ends unless it renews. `now_us`: when the store decided."""

    held: bool
    start_us: int
    until_us: int
    now_us: int


@dataclass
class TenureState:
    """A lane's tenure as the store keeps it (µs on its clock)."""

    holder: str = ""
    until_us: int = 0
    free_at_us: int = 0


def hold_tenure(state: TenureState, now_us: int, holder: str, ttl_us: int, guard_us: int) -> Tenure:
    """`holder` asks for (or renews) the lane's tenure at `now_us`; updates `state`."""
    if state.holder not in ("", holder) and state.until_us > now_us:
        return Tenure(False, state.until_us, state.until_us, now_us)
    if state.holder not in ("", holder):  # ran out: its holder sends nothing past `until`
        state.free_at_us = max(state.free_at_us, state.until_us + guard_us)
    state.holder, state.until_us = holder, now_us + ttl_us
    return Tenure(True, max(now_us, state.free_at_us), state.until_us, now_us)


def release_tenure(state: TenureState, now_us: int, holder: str, guard_us: int) -> bool:
    """`holder` gives the tenure back at `now_us`: the next one starts `guard_us` later.
    False (and nothing changes) when it did not hold it."""
    if state.holder != holder:
        return False
    state.holder, state.until_us, state.free_at_us = "", 0, now_us + guard_us
    return True


class SenderLeases(Protocol):
    """Tenures of carrier lanes, shared by every process."""

    def hold(self, key: str, holder: str, ttl: float, guard: float) -> Tenure | None:
        """Take or renew `key`'s tenure for `ttl` s (`guard` s after a lapsed one); None when
        the store failed (treat as not held)."""
        ...

    def release(self, key: str, holder: str, guard: float) -> None:
        """Give `key`'s tenure back: the next holder starts `guard` s from now."""
        ...


def _us(seconds: float) -> int:
    return max(1, round(seconds * MICROS))


class RedisSenderLeases:
    """Tenures in Redis (`ratelimit/sender_lease.lua`, on Redis's clock). Fails closed."""

    def __init__(self, client: redis.Redis, prefix: str = "sb:tenure:") -> None:
        self._prefix = prefix
        source = resources.files("ratelimit").joinpath("sender_lease.lua").read_text("utf-8")
        self._script = client.register_script(source)
        self._lock = threading.Lock()
        self.failures = 0

    def hold(self, key: str, holder: str, ttl: float, guard: float) -> Tenure | None:
        """Take or renew `key`'s tenure; None when Redis failed."""
        reply = self._run(key, "hold", holder, _us(ttl), _us(guard))
        if reply is None:
            return None
        held, start, until, now = reply
        return Tenure(held == 1, start, until, now)

    def release(self, key: str, holder: str, guard: float) -> None:
        """Give `key`'s tenure back; on Redis failure it runs out at its `until` instead."""
        self._run(key, "release", holder, 1, _us(guard))

    def _run(
        self, key: str, op: str, holder: str, ttl_us: int, guard_us: int
    ) -> tuple[int, int, int, int] | None:
        try:
            reply = self._script(keys=[self._prefix + key], args=[op, holder, ttl_us, guard_us])
        except (redis.RedisError, OSError) as exc:
            with self._lock:
                self.failures += 1
            logger.warning("sender tenure %s of %r unavailable, failing closed: %s", op, key, exc)
            return None
        held, start, until, now = reply
        return int(held), int(start), int(until), int(now)


class MemorySenderLeases:
    """In-process twin of :class:`RedisSenderLeases`, for unit tests; `clock` returns seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lanes: dict[str, TenureState] = {}
        self._lock = threading.Lock()
        self.failures = 0

    def hold(self, key: str, holder: str, ttl: float, guard: float) -> Tenure | None:
        """Take or renew `key`'s tenure."""
        with self._lock:
            state = self._lanes.setdefault(key, TenureState())
            return hold_tenure(state, self._now_us(), holder, _us(ttl), _us(guard))

    def release(self, key: str, holder: str, guard: float) -> None:
        """Give `key`'s tenure back."""
        with self._lock:
            state = self._lanes.setdefault(key, TenureState())
            release_tenure(state, self._now_us(), holder, _us(guard))

    def _now_us(self) -> int:
        return round(self._clock() * MICROS)
