"""Release pacing: the slice budget, each campaign's max rate, max-min fair share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from campaigns import CarrierCapacity, advance_mark, fair_share, rate_allowance, slice_budget

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_budget_tops_the_marketing_backlog_up_to_the_carriers_lookahead() -> None:
    carriers = {"a": CarrierCapacity(400), "b": CarrierCapacity(100)}
    assert slice_budget(carriers, backlog=0, lookahead=2.0) == 1000
    assert slice_budget(carriers, backlog=700, lookahead=2.0) == 300
    assert slice_budget(carriers, backlog=5000, lookahead=2.0) == 0


def test_a_campaign_releases_its_rate_times_the_time_since_its_last_slice_capped() -> None:
    assert rate_allowance(None, None, NOW, 2.0) is None
    assert rate_allowance(50.0, None, NOW, 2.0) == 100
    assert rate_allowance(50.0, NOW - timedelta(seconds=3), NOW, 2.0) == 150
    assert rate_allowance(50.0, NOW - timedelta(hours=1), NOW, 2.0) == 200  # no stored burst


@given(
    st.sampled_from([0.5, 2.5, 7.3, 49.9, 150.0, 1234.5]),
    st.lists(st.floats(0.8, 1.6), min_size=60, max_size=120),
)
def test_released_over_many_slices_holds_the_max_rate_whatever_the_slice_lengths(
    max_rate: float, slices: list[float]
) -> None:
    # Given sweeps 0.8-1.6 s apart (the sweep interval is 1 s; a busy sweeper runs late)
    now, mark, released = NOW, None, 0
    for seconds in slices:
        now += timedelta(seconds=seconds)
        allowance = rate_allowance(max_rate, mark, now, 1.0)
        assert allowance is not None
        released += allowance
        mark = advance_mark(max_rate, mark, allowance, now, 1.0)
    # Then what was released is the rate times the time, to within one slice's worth
    elapsed = (now - NOW).total_seconds()
    assert abs(released - max_rate * elapsed) <= max_rate * 1.0 + 1


def test_a_slice_that_released_less_than_allowed_leaves_the_rest_to_the_next() -> None:
    first = rate_allowance(50.0, None, NOW, 1.0)
    assert first == 50
    mark = advance_mark(50.0, None, 20, NOW, 1.0)  # the marketing queue took only 20
    later = NOW + timedelta(seconds=1)
    assert rate_allowance(50.0, mark, later, 1.0) == 80  # 30 left over + this second's 50
    assert advance_mark(None, mark, 20, later, 1.0) == later  # no max rate: no pace kept
    # an idle stretch stores up no more than two slices
    assert rate_allowance(50.0, mark, later + timedelta(minutes=5), 1.0) == 100


def test_a_small_campaign_gets_all_it_asks_and_the_big_one_the_rest() -> None:
    assert fair_share(300, {"big": 1000, "small": 40}) == {"big": 260, "small": 40}
    assert fair_share(300, {"a": 1000, "b": 1000, "c": 1000}) == {"a": 100, "b": 100, "c": 100}
    assert fair_share(2, {"a": 5, "b": 5, "c": 5}) == {"a": 1, "b": 1, "c": 0}
    assert fair_share(0, {"a": 5}) == {"a": 0}


@given(st.integers(0, 10_000), st.dictionaries(st.text(max_size=3), st.integers(0, 5_000)))
def test_fair_share_never_exceeds_the_budget_or_a_demand_and_leaves_nothing_wanted_idle(
    budget: int, demands: dict[str, int]
) -> None:
    share = fair_share(budget, demands)
    assert sum(share.values()) == min(budget, sum(demands.values()))
    assert all(0 <= share[k] <= demands[k] for k in demands)
    # max-min: whoever got less than it asked got at least as much as anyone else, minus one
    starved = [share[k] for k in demands if share[k] < demands[k]]
    if starved:
        assert min(starved) >= max(share.values()) - 1


def test_the_lookahead_covers_two_slices_when_the_sweep_is_slower() -> None:
    carriers = {"a": CarrierCapacity(100), "b": CarrierCapacity(100)}
    assert slice_budget(carriers, backlog=0, lookahead=4.0, slice_seconds=1.0) == 800
    assert slice_budget(carriers, backlog=0, lookahead=4.0, slice_seconds=5.0) == 2000


@given(
    st.lists(st.floats(0.5, 2.0), min_size=30, max_size=80),
    st.floats(0.3, 1.0),
)
def test_each_slice_refills_what_was_sent_and_the_queue_never_runs_dry_or_floods(
    gaps: list[float], share_sent: float
) -> None:
    """Given 2 x 100 MPS carriers that take `share_sent` of their MPS, and sweeps up to a slice
    late (1 s slices, 0.5-2 s apart): after the first, every slice releases what was sent
    since the last one; the queue never empties and never holds more than the lookahead."""
    carriers = {"a": CarrierCapacity(100), "b": CarrierCapacity(100)}
    target = 200 * 4.0
    backlog = sent = 0
    for n, gap in enumerate(gaps):
        budget = slice_budget(carriers, backlog, 4.0, 1.0)
        if n:
            assert budget == sent  # what the previous slice's queue gave the carriers
        backlog += budget
        assert backlog <= target
        sent = min(backlog, int(200 * share_sent * gap))  # the carriers drain until the next
        backlog -= sent
        assert backlog > 0  # never dry: every carrier had work until the next slice
