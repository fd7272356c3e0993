"""The sliding-window counter decided in process (pure model and the local counts)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit import SharedWindows
from ratelimit.shared_windows import decide, estimate
from tests.fakes import FakeClock


def test_limit_hits_fit_in_a_second_then_the_next_waits_for_room() -> None:
    clock = FakeClock(1_000.0)
    windows = SharedWindows(clock)
    assert all(windows.hit("k", 10).allowed for _ in range(10))
    refused = windows.hit("k", 10)
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    clock.advance(1.5)  # half of the full slot still counts: 5 + 5 fit, not 6
    assert sum(windows.hit("k", 10).allowed for _ in range(6)) == 5
    clock.advance(2.0)
    assert windows.hit("k", 10).remaining == 9


def test_refused_hits_are_not_counted_and_keys_are_independent() -> None:
    windows = SharedWindows(FakeClock(5_000.0))
    assert windows.hit("a", 1).allowed
    for _ in range(5):
        assert not windows.hit("a", 1).allowed
    assert windows.hit("b", 1).allowed
    assert windows.take_unsynced()["a"][1] == 1  # the refused five were never counted


def test_a_cost_larger_than_the_limit_never_fits() -> None:
    decision = SharedWindows(FakeClock()).hit("batch", 10, cost=11)
    assert not decision.allowed and decision.retry_after == pytest.approx(1.0)


@given(
    previous=st.integers(0, 1_000),
    current=st.integers(0, 1_000),
    elapsed=st.floats(0, 0.999),
    limit=st.integers(1, 1_000),
    cost=st.integers(1, 50),
)
def test_a_refusal_says_when_the_hit_fits(
    previous: int, current: int, elapsed: float, limit: int, cost: int
) -> None:
    decision = decide(previous, current, elapsed, limit, cost)
    assert decision.allowed == (estimate(previous, current, elapsed) + cost <= limit)
    if decision.allowed or current + cost > limit:
        return
    later = elapsed + decision.retry_after
    if later < 1.0:  # within the slot: the previous slot's weight has fallen enough by then
        assert estimate(previous, current, later) + cost <= limit + 1e-6
