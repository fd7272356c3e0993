"""When the sweeper election does what: pure timing, on a monotonic clock passed in.

Every worker runs an election loop (`workers.leader`). A worker not holding the lock tries to
take it every `retry_every` seconds; the holder renews it every `renew_every` seconds (well
inside `ttl`) and sweeps every `sweep_every` seconds. A holder that cannot confirm its lock
(Redis unreachable, or the renewal says another holds it) stops sweeping at once when told it
lost it, and at the latest `ttl` after the last time it was sure: by then the lock may have
expired in Redis and someone else may hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Action(StrEnum):
    """What the election loop does next."""

    ACQUIRE = "acquire"
    RENEW = "renew"
    SWEEP = "sweep"


@dataclass(frozen=True)
class ElectionPolicy:
    """Lock TTL and the periods of the loop, in seconds."""

    ttl: float = 6.0
    renew_every: float = 2.0
    retry_every: float = 1.0
    sweep_every: float = 2.0

    def __post_init__(self) -> None:
        if min(self.ttl, self.renew_every, self.retry_every, self.sweep_every) <= 0:
            raise ValueError("every period and the ttl must be > 0")
        if self.renew_every * 2 > self.ttl:
            raise ValueError("renew_every must leave at least two renewals inside the ttl")


@dataclass(frozen=True)
class ElectionState:
    """Where one worker's election stands (times on its monotonic clock)."""

    holding: bool = False
    sure_until: float = 0.0  # the lock is surely ours until then (last confirmation + ttl)
    next_renew_at: float = 0.0
    next_acquire_at: float = 0.0
    next_sweep_at: float = 0.0

    def may_sweep(self, now: float) -> bool:
        """True while this worker surely holds the lock."""
        return self.holding and now < self.sure_until


def next_step(state: ElectionState, now: float) -> tuple[Action, float]:
    """The next action and when (on the clock of `now`) it is due."""
    if not state.may_sweep(now):
        return Action.ACQUIRE, state.next_acquire_at
    if state.next_sweep_at < state.next_renew_at:
        return Action.SWEEP, state.next_sweep_at
    return Action.RENEW, state.next_renew_at


def after_acquire(
    state: ElectionState, won: bool, asked_at: float, policy: ElectionPolicy
) -> ElectionState:
    """The lock was asked for at `asked_at` (before the request: the conservative end)."""
    if not won:
        return ElectionState(next_acquire_at=asked_at + policy.retry_every)
    return ElectionState(
        holding=True,
        sure_until=asked_at + policy.ttl,
        next_renew_at=asked_at + policy.renew_every,
        next_sweep_at=asked_at,  # sweep at once: the last holder may have died a while ago
    )


def after_renew(
    state: ElectionState, still_ours: bool, asked_at: float, policy: ElectionPolicy
) -> ElectionState:
    """A renewal asked at `asked_at` answered: the lock is still ours, or it is lost."""
    if not still_ours:
        return ElectionState(next_acquire_at=asked_at + policy.retry_every)
    return replace(
        state, sure_until=asked_at + policy.ttl, next_renew_at=asked_at + policy.renew_every
    )


def after_error(state: ElectionState, at: float, policy: ElectionPolicy) -> ElectionState:
    """Redis did not answer: keep what is sure (until `sure_until`), try again soon."""
    retry = at + policy.retry_every
    if state.may_sweep(at):
        return replace(state, next_renew_at=min(retry, state.sure_until))
    return ElectionState(next_acquire_at=retry)


def after_sweep(state: ElectionState, at: float, policy: ElectionPolicy) -> ElectionState:
    """A sweep ended (well or not) at `at`."""
    return replace(state, next_sweep_at=at + policy.sweep_every)
