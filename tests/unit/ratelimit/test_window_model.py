"""The pure sliding-window model: no window-length interval ever holds more than `limit` hits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit.window_model import MICROS, WindowResult, hit, window_us

T0 = 1_795_000_000 * MICROS


@given(
    limit=st.integers(min_value=1, max_value=10),
    span_us=st.integers(min_value=1, max_value=10 * MICROS),
    gaps=st.lists(st.integers(min_value=0, max_value=3 * MICROS), min_size=1, max_size=80),
)
def test_no_window_ever_holds_more_than_limit_hits(
    limit: int, span_us: int, gaps: list[int]
) -> None:
    log: tuple[int, ...] = ()
    now = T0
    allowed_at: list[int] = []
    for gap in gaps:
        now += gap
        log, result = hit(log, now, limit, span_us)
        if result.allowed:
            allowed_at.append(now)
            assert result.remaining == limit - len(log)
        else:
            assert result.remaining == 0
            # the refusal says exactly when the oldest counted hit leaves
            assert result.retry_after == (log[0] + span_us - now) / MICROS > 0
    for start in allowed_at:
        assert sum(start <= at < start + span_us for at in allowed_at) <= limit


def test_a_hit_exactly_one_window_old_no_longer_counts() -> None:
    log, _ = hit((), T0, 1, MICROS)
    assert hit(log, T0 + MICROS - 1, 1, MICROS)[1].allowed is False
    assert hit(log, T0 + MICROS, 1, MICROS)[1] == WindowResult(True, 0, 0.0)


def test_window_seconds_become_whole_microseconds() -> None:
    assert window_us(3600) == 3600 * MICROS
    assert window_us(1e-9) == 1


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), float("inf")])
def test_window_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        window_us(bad)
