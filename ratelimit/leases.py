"""Bind leases: at most N concurrent SMPP binds per carrier across the cluster.

Carriers cap the binds (sessions) an ESME may hold open; going over gets binds refused
(ESME_RBINDFAIL / ESME_RALYBND, SMPP 3.4 §5.1.3) or, worse, older sessions dropped. A worker
process acquires a lease before it binds, renews it well inside its TTL while the session
lives, and releases it after unbind. A crashed holder's lease simply expires.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import redis

logger = logging.getLogger(__name__)

MICROS = 1_000_000


@dataclass(frozen=True)
class Lease:
    """The right to hold one bind to `carrier` while renewed; `lease_id` is unique."""

    carrier: str
    lease_id: str


class BindLeases(Protocol):
    """Counted, expiring bind slots per carrier, shared by every process."""

    def acquire(
        self, carrier: str, limit: int, ttl_seconds: float, holder: str = ""
    ) -> Lease | None:
        """A lease on one of `limit` bind slots of `carrier` for `ttl_seconds`, or None if full.

        `holder` (e.g. "host:pid") is put in front of the lease id, for operators reading Redis.

        Raises:
            ValueError: `limit` < 1 or `ttl_seconds` not positive.
        """
        ...

    def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        """Extend `lease` to `ttl_seconds` from now; False means it is lost — unbind now."""
        ...

    def release(self, lease: Lease) -> None:
        """Give the slot back (after unbind). Releasing a lost lease does nothing."""
        ...

    def held(self, carrier: str) -> int | None:
        """Live leases on `carrier` now; None when that cannot be known (store down)."""
        ...


def _check(limit: int, ttl_seconds: float) -> int:
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    if not (math.isfinite(ttl_seconds) and ttl_seconds > 0):
        raise ValueError(f"ttl_seconds must be a positive finite number, got {ttl_seconds!r}")
    return max(1, round(ttl_seconds * MICROS))


def _new_id(holder: str) -> str:
    return f"{holder}:{uuid.uuid4().hex}" if holder else uuid.uuid4().hex


class RedisBindLeases:
    """Bind leases in Redis: a sorted set per carrier, lease id → expiry on Redis's clock.

    Fails CLOSED: when Redis cannot be reached `acquire` returns None (do not bind), `renew`
    returns False (treat the lease as lost and unbind), `held` returns None; each failure is
    counted in `failures` and logged. `release` failures are counted and logged too; the lease
    then ends at its TTL.
    """

    def __init__(self, client: redis.Redis, prefix: str = "sb:bind:") -> None:
        self._client = client
        self._prefix = prefix
        source = resources.files("ratelimit").joinpath("bind_lease.lua").read_text("utf-8")
        self._script = client.register_script(source)
        self._lock = threading.Lock()
        self.failures = 0

    def acquire(
        self, carrier: str, limit: int, ttl_seconds: float, holder: str = ""
    ) -> Lease | None:
        """A lease on one of `limit` bind slots of `carrier`, or None if full or Redis failed."""
        ttl_us = _check(limit, ttl_seconds)
        lease = Lease(carrier, _new_id(holder))
        reply = self._run(carrier, "acquire", lease.lease_id, limit, ttl_us)
        return lease if reply == 1 else None

    def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        """Extend `lease`; False when it expired, was never held, or Redis failed."""
        ttl_us = _check(1, ttl_seconds)
        return self._run(lease.carrier, "renew", lease.lease_id, 1, ttl_us) == 1

    def release(self, lease: Lease) -> None:
        """Give the slot back; on Redis failure the lease ends at its TTL instead."""
        try:
            self._client.zrem(self._prefix + lease.carrier, lease.lease_id)
        except (redis.RedisError, OSError) as exc:
            self._failed(lease.carrier, "release", exc)

    def held(self, carrier: str) -> int | None:
        """Live leases on `carrier`; None when Redis failed."""
        return self._run(carrier, "count", "", 1, 1)

    def _run(self, carrier: str, op: str, lease_id: str, limit: int, ttl_us: int) -> int | None:
        try:
            reply = self._script(keys=[self._prefix + carrier], args=[op, lease_id, limit, ttl_us])
        except (redis.RedisError, OSError) as exc:
            self._failed(carrier, op, exc)
            return None
        return int(reply)

    def _failed(self, carrier: str, op: str, exc: Exception) -> None:
        with self._lock:
            self.failures += 1
        logger.warning("bind lease %s for %r unavailable, failing closed: %s", op, carrier, exc)


class MemoryBindLeases:
    """In-process twin of :class:`RedisBindLeases`, for unit tests. Never fails.

    `clock` returns seconds (a fake, or `time.monotonic`).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._leases: dict[str, dict[str, int]] = {}  # carrier → lease id → expiry µs
        self._lock = threading.Lock()
        self.failures = 0

    def acquire(
        self, carrier: str, limit: int, ttl_seconds: float, holder: str = ""
    ) -> Lease | None:
        """A lease on one of `limit` bind slots of `carrier`, or None if full."""
        ttl_us = _check(limit, ttl_seconds)
        with self._lock:
            now_us, live = self._live(carrier)
            if len(live) >= limit:
                return None
            lease = Lease(carrier, _new_id(holder))
            live[lease.lease_id] = now_us + ttl_us
            return lease

    def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        """Extend `lease`; False when it expired or was never held."""
        ttl_us = _check(1, ttl_seconds)
        with self._lock:
            now_us, live = self._live(lease.carrier)
            if lease.lease_id not in live:
                return False
            live[lease.lease_id] = now_us + ttl_us
            return True

    def release(self, lease: Lease) -> None:
        """Give the slot back."""
        with self._lock:
            self._leases.get(lease.carrier, {}).pop(lease.lease_id, None)

    def held(self, carrier: str) -> int | None:
        """Live leases on `carrier`."""
        with self._lock:
            return len(self._live(carrier)[1])

    def _live(self, carrier: str) -> tuple[int, dict[str, int]]:
        now_us = round(self._clock() * MICROS)
        live = {
            lease_id: expiry
            for lease_id, expiry in self._leases.get(carrier, {}).items()
            if expiry > now_us
        }
        self._leases[carrier] = live
        return now_us, live
