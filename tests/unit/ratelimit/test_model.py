"""The pure token-bucket model: properties over random request sequences."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit.model import MICROS, BucketState, level, take

T0 = 1_795_000_000 * MICROS  # a Redis-like epoch in microseconds

rates = st.floats(min_value=0.5, max_value=5000, allow_nan=False, allow_infinity=False)
capacities = st.integers(min_value=1, max_value=500).map(float)
requests = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2 * MICROS),  # µs since the previous request
        st.integers(min_value=1, max_value=600),  # tokens wanted
        st.booleans(),  # partial
    ),
    min_size=1,
    max_size=60,
)


@given(rate=rates, capacity=capacities, seq=requests)
def test_never_grants_more_than_capacity_plus_refill(
    rate: float, capacity: float, seq: list[tuple[int, int, bool]]
) -> None:
    state: BucketState | None = None
    now = T0
    total = 0
    for gap, wanted, partial in seq:
        now += gap
        state, grant, left = take(state, now, rate, capacity, wanted, partial)
        total += grant.granted
        assert 0 <= left <= capacity
    elapsed = (now - T0 - seq[0][0]) / MICROS
    assert total <= capacity + rate * elapsed + 1e-6


@given(rate=rates, capacity=capacities, seq=requests)
def test_each_grant_follows_the_all_or_nothing_or_partial_rule(
    rate: float, capacity: float, seq: list[tuple[int, int, bool]]
) -> None:
    state: BucketState | None = None
    now = T0
    for gap, wanted, partial in seq:
        now += gap
        before = level(state, now, rate, capacity)
        state, grant, left = take(state, now, rate, capacity, wanted, partial)
        if partial:
            assert grant.granted == min(wanted, math.floor(before))
        else:
            assert grant.granted == (wanted if before >= wanted else 0)
        assert left == pytest.approx(before - grant.granted)
        assert (grant.retry_after == 0.0) == (grant.granted == wanted)


@given(
    rate=rates,
    capacity=capacities,
    drained=st.floats(min_value=0, max_value=1),
    wanted=st.integers(min_value=1, max_value=600),
    partial=st.booleans(),
)
def test_retry_after_is_when_the_request_would_be_granted(
    rate: float, capacity: float, drained: float, wanted: int, partial: bool
) -> None:
    state = BucketState(capacity * drained, T0)
    _, grant, _ = take(state, T0, rate, capacity, wanted, partial)
    if grant.granted == wanted or math.isinf(grant.retry_after):
        return
    # The rest (capped at a full bucket for partial) is there once retry_after has passed ...
    rest = min(wanted - grant.granted, int(capacity)) if partial else wanted
    after = take(state, T0, rate, capacity, grant.granted, partial)[0] if grant.granted else state
    later = T0 + math.ceil(grant.retry_after * MICROS) + 1
    assert take(after, later, rate, capacity, rest, False)[1].granted == rest
    # ... and not noticeably before.
    sooner = T0 + math.floor(grant.retry_after * 0.99 * MICROS) - 1
    if sooner > T0 and grant.retry_after * rate > 0.02:
        assert take(after, sooner, rate, capacity, rest, False)[1].granted == 0


def test_all_or_nothing_request_bigger_than_capacity_never_fits() -> None:
    _, grant, left = take(None, T0, 10.0, 5.0, 6, False)
    assert grant.granted == 0
    assert math.isinf(grant.retry_after)
    assert left == 5.0


def test_partial_request_bigger_than_capacity_takes_what_is_there() -> None:
    state, grant, _ = take(None, T0, 10.0, 5.0, 8, True)
    assert grant.granted == 5
    assert grant.retry_after == pytest.approx(0.3)  # the other 3 tokens at 10/s
    assert state == BucketState(0.0, T0)


def test_partial_retry_after_waits_for_at_most_a_full_bucket() -> None:
    _, grant, _ = take(None, T0, 10.0, 5.0, 12, True)
    assert grant.granted == 5
    assert grant.retry_after == pytest.approx(0.5)  # 7 more cannot fit; a full 5 can


def test_unknown_bucket_is_full() -> None:
    assert level(None, T0, 3.0, 7.0) == 7.0


def test_reading_the_level_changes_nothing() -> None:
    state = BucketState(1.5, T0)
    assert take(state, T0 + MICROS, 1.0, 5.0, 0, False) == (
        state,
        take(state, T0, 1.0, 5.0, 0, False)[1],
        2.5,
    )


def test_clock_stepping_back_neither_refills_nor_drains() -> None:
    state = BucketState(2.0, T0)
    assert level(state, T0 - 5 * MICROS, 10.0, 50.0) == 2.0


def test_refill_is_rate_times_elapsed_capped_at_capacity() -> None:
    state = BucketState(0.0, T0)
    assert level(state, T0 + MICROS // 4, 8.0, 100.0) == pytest.approx(2.0)
    assert level(state, T0 + 60 * MICROS, 8.0, 100.0) == 100.0


def test_pace_grows_back_additively_to_one() -> None:
    from ratelimit.model import PaceState, pace_at

    state = PaceState(0.5, 0)
    assert pace_at(None, 10, 0.1) == 1.0
    assert pace_at(state, 2_000_000, 0.1) == pytest.approx(0.7)
    assert pace_at(state, 60_000_000, 0.1) == 1.0
    assert pace_at(state, -5, 0.1) == 0.5  # a clock stepping back recovers nothing


def test_one_cut_per_cooldown_and_never_below_the_minimum() -> None:
    from ratelimit.model import cut_pace

    state, did = cut_pace(None, 0, 0.1, 0.5, 0.2, 250_000)
    assert did and state.factor == 0.5
    again, did = cut_pace(state, 100_000, 0.1, 0.5, 0.2, 250_000)
    assert not did and again == state
    later, did = cut_pace(state, 300_000, 0.1, 0.5, 0.2, 250_000)
    assert did and later.factor == pytest.approx(max(0.2, (0.5 + 0.03) * 0.5))


def test_lane_takes_above_its_floor_at_the_paced_rate() -> None:
    from ratelimit.model import BucketState, PaceState, take_lane

    state, grant, rate, _ = take_lane(None, PaceState(0.5, 0), 0, 100.0, 10.0, 2.0, 0.1, 20)
    assert (grant.granted, rate) == (8, 50.0)
    assert grant.retry_after == pytest.approx((10 - 2 + 2 - 2) / 50)  # wait for 8 above the floor
    _, otp, _, _ = take_lane(state, None, 0, 100.0, 10.0, 0.0, 0.1, 5)
    assert otp.granted == 2  # priority traffic takes the floor
    assert take_lane(BucketState(0.0, 0), None, 0, 100.0, 10.0, 2.0, 0.1, 1)[1].granted == 0
