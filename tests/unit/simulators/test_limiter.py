"""MPS limiter and peak-rate accounting, driven by a hand-held clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulators.limiter import PeakRate, RateLimiter, SlidingWindow, TokenBucket
from tests.fakes import FakeClock


def test_bucket_starts_full_and_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.1  # one token earned
    assert [bucket.try_take() for _ in range(2)] == [True, False]
    clock.now += 10  # refill caps at capacity
    assert sum(bucket.try_take() for _ in range(10)) == 5


def test_bucket_reconfigure_caps_tokens_already_earned() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, capacity=100, clock=clock)
    bucket.reconfigure(rate=2, capacity=2)
    assert sum(bucket.try_take() for _ in range(10)) == 2
    clock.now += 1
    assert sum(bucket.try_take() for _ in range(10)) == 2


def test_sliding_window_admits_again_exactly_one_span_later() -> None:
    window = SlidingWindow(limit=3)
    assert [window.try_add(t) for t in (0.0, 0.1, 0.2, 0.3)] == [True, True, True, False]
    assert window.try_add(0.99) is False
    assert window.try_add(1.0) is True


def test_bucket_alone_would_allow_a_double_second_but_the_limiter_does_not() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=50, capacity=50, clock=clock)
    first = sum(limiter.try_acquire() for _ in range(200))  # the full bucket, all at once
    clock.now += 0.9  # the bucket has 45 new tokens, but 50 were accepted 0.9 s ago
    second = sum(limiter.try_acquire() for _ in range(200))
    assert (first, second) == (50, 0)
    clock.now += 0.1
    assert sum(limiter.try_acquire() for _ in range(200)) == 50


@given(st.lists(st.floats(0, 0.05), min_size=1, max_size=400), st.integers(1, 40))
def test_no_one_second_window_ever_exceeds_the_rate(gaps: list[float], rate: int) -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(rate=rate, capacity=rate, clock=clock)
    accepted: list[float] = []
    for gap in gaps:
        clock.now += gap
        if limiter.try_acquire():
            accepted.append(clock.now)
    for i, start in enumerate(accepted):
        in_window = sum(1 for t in accepted[i:] if t - start < 1.0)
        assert in_window <= rate


def test_reconfigured_limiter_applies_the_new_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=100, capacity=100, clock=clock)
    limiter.reconfigure(rate=10, capacity=10)
    assert sum(limiter.try_acquire() for _ in range(100)) == 10


def test_peak_rate_is_the_busiest_whole_second() -> None:
    peak = PeakRate()
    for t in [1.0, 1.5, 1.9, 2.0, 3.1, 3.2, 3.3, 3.4, 5.0]:
        peak.add(t)
    assert peak.peak == 4


def test_reserve_grants_the_burst_now_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, capacity=3, clock=clock)
    slots = [round(limiter.reserve() - clock.now, 6) for _ in range(6)]
    assert slots == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]


@given(
    rate=st.integers(1, 50),
    capacity=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 0.2), min_size=1, max_size=300),
)
def test_reserved_slots_never_put_more_than_rate_in_any_second(
    rate: int, capacity: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=rate, capacity=capacity, clock=clock)
    slots = []
    for gap in gaps:
        clock.now += gap
        slot = limiter.reserve()
        assert slot >= clock.now
        slots.append(slot)
    assert slots == sorted(slots)
    for i, start in enumerate(slots):  # any window [start, start + 1) holds <= rate slots
        assert sum(1 for s in slots[i:] if s < start + 1.0 - 1e-9) <= rate
