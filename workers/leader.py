"""One sweeper, always: every worker runs an election for a short Redis lock; its holder sweeps.

The lock is `SET switchboard:sweeper <holder> NX PX 6000`, renewed every 2 s by its holder (a
script that extends it only if the value is still its own) and deleted on shutdown. A holder
that dies stops renewing: within the TTL plus a retry period (~7 s) another worker takes the
lock, logs that it took over and from whom, and sweeps at once. Timing decisions are pure
(`workers.election`); this module does the Redis calls and runs the loop on a daemon thread.

Redis down: the sweep fails closed. Nobody can take or confirm the lock, so nobody sweeps;
a holder keeps sweeping only while its lock is surely its own (until the TTL after its last
confirmation), then stops. Every failed call is counted (`redis_errors`); one WARN line says
the outage began and one that Redis answers again. A sweep needs the broker (that same Redis,
in every deployment we ship) to wake send tasks anyway, so nothing is lost but time: the rows
wait in the database until the lock is held again.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from workers.election import (
    Action,
    ElectionPolicy,
    ElectionState,
    after_acquire,
    after_error,
    after_renew,
    after_sweep,
    next_step,
)

log = logging.getLogger(__name__)

SWEEPER_KEY = "switchboard:sweeper"
PREVIOUS_KEY = "switchboard:sweeper:previous"  # who held it last (no TTL), for the takeover log
LAST_SWEEP_KEY = "switchboard:sweeper:last-sweep"

# Take the lock if free; remember and return who held it before ('' if nobody ever did).
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local previous = redis.call('get', KEYS[2]) or ''
  redis.call('set', KEYS[2], ARGV[1])
  return previous
end
return false
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Holder:
    """Who holds (or asks for) the sweeper lock: host, pid, since when; `token` is unique."""

    host: str
    pid: int
    since: str  # ISO 8601, UTC
    token: str = field(default_factory=lambda: secrets.token_hex(6))

    @classmethod
    def here(cls) -> Holder:
        """This process, from now."""
        return cls(socket.gethostname(), os.getpid(), datetime.now(UTC).isoformat())

    def encode(self) -> str:
        """The lock's value."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Holder | None:
        """A holder from a lock value (None for none, or for a value we cannot read)."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["host"]), int(data["pid"]), str(data["since"]), str(data["token"]))
        except (ValueError, KeyError, TypeError):
            return None

    def __str__(self) -> str:
        return f"{self.host} pid {self.pid} since {self.since}"


class RedisSweeperLock:
    """The sweeper lock in Redis (the broker's server); every call may raise RedisError."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self, holder: Holder, ttl: float) -> tuple[bool, Holder | None]:
        """(won, who held it before) — the previous holder only when we won."""
        previous = self._acquire(
            keys=[SWEEPER_KEY, PREVIOUS_KEY], args=[holder.encode(), int(ttl * 1000)]
        )
        if previous is None:
            return False, None
        return True, Holder.decode(previous)

    def renew(self, holder: Holder, ttl: float) -> bool:
        """Extend the lock if it is still `holder`'s."""
        return bool(self._renew(keys=[SWEEPER_KEY], args=[holder.encode(), int(ttl * 1000)]))

    def release(self, holder: Holder) -> bool:
        """Delete the lock if it is still `holder`'s (on shutdown: the next takes over now)."""
        return bool(self._release(keys=[SWEEPER_KEY], args=[holder.encode()]))

    def mark_swept(self, holder: Holder, at: datetime, result: dict[str, int]) -> None:
        """Note the last sweep, for `switchboard status`."""
        value = {"holder": str(holder), "at": at.isoformat(), "result": result}
        self.client.set(LAST_SWEEP_KEY, json.dumps(value))

    def status(self) -> SweeperStatus:
        """Who holds the lock now, for how much longer, and the last sweep."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(SWEEPER_KEY)
        pipe.pttl(SWEEPER_KEY)
        pipe.get(LAST_SWEEP_KEY)
        raw, ttl_ms, last = pipe.execute()
        return SweeperStatus(
            Holder.decode(raw),
            int(ttl_ms) if raw and int(ttl_ms) >= 0 else None,
            json.loads(last) if last else None,
        )


@dataclass(frozen=True)
class SweeperStatus:
    """What `switchboard status` shows of the sweeper."""

    holder: Holder | None
    ttl_ms: int | None
    last_sweep: dict[str, Any] | None

    def describe(self) -> str:
        """Lines for an operator."""
        if self.holder is None:
            lines = ["sweeper: nobody holds the lock (no worker running, or Redis just restarted)"]
        else:
            lines = [f"sweeper: held by {self.holder} (lock expires in {self.ttl_ms} ms)"]
        if self.last_sweep:
            lines.append(
                f"last sweep: {self.last_sweep['at']} by {self.last_sweep['holder']}: "
                f"{self.last_sweep['result']}"
            )
        return "\n".join(lines)


class SweeperElection:
    """Runs the election loop on a daemon thread; while holding the lock, calls `sweep`."""

    def __init__(
        self,
        lock: RedisSweeperLock,
        sweep: Callable[[], dict[str, int]],
        policy: ElectionPolicy,
        *,
        holder: Callable[[], Holder] = Holder.here,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = lock
        self.sweep = sweep
        self.policy = policy
        self.state = ElectionState()
        self.redis_errors = 0
        self.sweeps = 0
        self.sweep_failures = 0
        self.takeovers = 0
        self._new_holder = holder
        self._holder: Holder | None = None
        self._monotonic = monotonic
        self._redis_down = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holding(self) -> bool:
        """True while this worker surely holds the lock."""
        return self.state.may_sweep(self._monotonic())

    def start(self) -> None:
        """Start the loop (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sweeper-election", daemon=True)
            self._thread.start()

    def stop(self, release: bool = True) -> None:
        """Stop the loop; with `release`, give the lock up so another takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if release and self._holder is not None and self.state.holding:
            try:
                self.lock.release(self._holder)
                log.info("sweeper lock released by %s", self._holder)
            except redis.RedisError as exc:
                log.warning("could not release the sweeper lock (it expires by itself): %s", exc)
        self.state = ElectionState()

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            delay = self.step()

    def step(self) -> float:
        """Do what is due now; seconds until the next thing is due."""
        now = self._monotonic()
        action, due = next_step(self.state, now)
        if due > now:
            return due - now
        try:
            if action is Action.ACQUIRE:
                self._acquire(now)
            elif action is Action.RENEW:
                assert self._holder is not None
                still_ours = self.lock.renew(self._holder, self.policy.ttl)
                if not still_ours:
                    log.warning("sweeper lock lost by %s: another worker holds it", self._holder)
                self.state = after_renew(self.state, still_ours, now, self.policy)
            else:
                self._sweep()
            self._redis_answers()
        except redis.RedisError as exc:
            self.redis_errors += 1
            if not self._redis_down:
                log.warning("sweeper election: Redis unreachable, no sweep until it is: %s", exc)
            self._redis_down = True
            self.state = after_error(self.state, now, self.policy)
        return 0.0

    def _acquire(self, now: float) -> None:
        holder = self._new_holder()
        won, previous = self.lock.acquire(holder, self.policy.ttl)
        self.state = after_acquire(self.state, won, now, self.policy)
        if won:
            self._holder = holder
            self.takeovers += 1
            log.warning("sweeper lock taken by %s (last holder: %s)", holder, previous or "none")

    def _sweep(self) -> None:
        assert self._holder is not None
        try:
            result = self.sweep()
            self.sweeps += 1
            self.lock.mark_swept(self._holder, datetime.now(UTC), result)
        except redis.RedisError:
            raise
        except Exception:  # a database hiccup: the next sweep tries again
            self.sweep_failures += 1
            log.exception("sweep failed")
        finally:
            self.state = after_sweep(self.state, self._monotonic(), self.policy)

    def _redis_answers(self) -> None:
        if self._redis_down:
            log.warning(
                "sweeper election: Redis answers again (%d failed calls)", self.redis_errors
            )
            self._redis_down = False
