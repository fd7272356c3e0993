"""The sweeper election's timing, on an injected monotonic clock."""

from __future__ import annotations

import pytest

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

POLICY = ElectionPolicy(ttl=6, renew_every=2, retry_every=1, sweep_every=2)


def test_a_newcomer_asks_for_the_lock_at_once() -> None:
    assert next_step(ElectionState(), 100.0) == (Action.ACQUIRE, 0.0)


def test_a_worker_that_lost_the_race_asks_again_a_second_later() -> None:
    state = after_acquire(ElectionState(), False, 100.0, POLICY)
    assert not state.may_sweep(100.0)
    assert next_step(state, 100.0) == (Action.ACQUIRE, 101.0)


def test_the_winner_sweeps_at_once_then_renews_and_sweeps_on_schedule() -> None:
    state = after_acquire(ElectionState(), True, 100.0, POLICY)
    assert next_step(state, 100.0) == (Action.SWEEP, 100.0)
    state = after_sweep(state, 100.5, POLICY)
    assert next_step(state, 100.5) == (Action.RENEW, 102.0)
    state = after_renew(state, True, 102.0, POLICY)
    assert state.sure_until == 108.0
    assert next_step(state, 102.0) == (Action.SWEEP, 102.5)


def test_a_holder_told_the_lock_is_someone_elses_stops_sweeping_at_once() -> None:
    state = after_acquire(ElectionState(), True, 100.0, POLICY)
    state = after_renew(state, False, 102.0, POLICY)
    assert not state.may_sweep(102.0)
    assert next_step(state, 102.0) == (Action.ACQUIRE, 103.0)


def test_redis_down_a_holder_keeps_sweeping_only_while_the_lock_is_surely_its_own() -> None:
    """The lock was confirmed at 100 with a 6-s TTL: Redis may expire it from 106 on, and
    another worker may hold it after that, so the holder stops sweeping there."""
    state = after_acquire(ElectionState(), True, 100.0, POLICY)
    state = after_error(state, 102.0, POLICY)
    assert state.may_sweep(105.9)
    assert next_step(state, 102.0) == (Action.SWEEP, 100.0)
    for at in (103.0, 104.0, 105.0):
        state = after_error(state, at, POLICY)
    assert state.next_renew_at == 106.0  # retried each second, never past the sure end
    assert not state.may_sweep(106.0)
    state = after_error(state, 106.0, POLICY)
    assert not state.holding and next_step(state, 106.0) == (Action.ACQUIRE, 107.0)


def test_redis_down_a_worker_without_the_lock_keeps_asking() -> None:
    state = after_error(ElectionState(), 100.0, POLICY)
    assert next_step(state, 100.0) == (Action.ACQUIRE, 101.0)


@pytest.mark.parametrize(
    ("ttl", "renew", "retry", "sweep"), [(0, 1, 1, 1), (6, 4, 1, 1), (6, 2, 0, 1), (6, 2, 1, -1)]
)
def test_policies_that_could_let_the_lock_lapse_are_refused(
    ttl: float, renew: float, retry: float, sweep: float
) -> None:
    with pytest.raises(ValueError, match="must"):
        ElectionPolicy(ttl, renew, retry, sweep)
