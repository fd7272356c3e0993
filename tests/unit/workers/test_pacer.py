"""The pacer's maths on a hand-driven clock: slots, the carrier's minimum gap, late slots."""

from __future__ import annotations

import itertools

import pytest

from workers.pacer import (
    GAP_MARGIN,
    HANDOVER_MARGIN,
    JITTER_BUDGET,
    TENURE_POLL,
    TENURE_RENEW,
    TENURE_TTL,
    ClockOffset,
    LocalTenure,
    Pacer,
    book_ahead,
    bucket_shape,
    decided_at,
    handover_guard,
    priority_hole,
    priority_late,
    priority_slots,
    reserve_floor,
)


def _drain(pacer: Pacer, start: float, until: float, step: float = 0.0001) -> list[float]:
    """Poll `release` every `step` s from `start` to `until`; the times a slot was taken."""
    taken: list[float] = []
    now = start
    while now < until:
        if pacer.release(now):
            pacer.spend(1, now)
            taken.append(now)
        now += step
    return taken


@pytest.mark.parametrize("mps", [50, 200, 500, 1000])
def test_the_bucket_fits_a_strict_window_with_the_jitter_budget_and_uses_97_percent(
    mps: int,
) -> None:
    rate, capacity = bucket_shape(mps)
    assert rate * (1 + JITTER_BUDGET) + capacity <= mps  # worst 1-s window, a full bucket
    assert rate / mps >= 0.975


def test_the_floor_leaves_marketing_a_whole_token() -> None:
    assert reserve_floor(1.0, 0.2) == 0.0
    assert reserve_floor(10.0, 0.2) == 2.0
    assert reserve_floor(2.0, 0.9) == 1.0


def test_a_decision_is_placed_at_the_middle_of_the_round_trip() -> None:
    assert decided_at(10.0, 10.002) == pytest.approx(10.001)


def test_slots_come_one_interval_apart_ending_at_the_last_tokens_due_time() -> None:
    pacer = Pacer()
    # 3 tokens at 100/s, the last due 20 ms after the decision at t = 1.0.
    pacer.add(3, rate=100.0, limit=101.0, capacity=1.0, at=1.0, due_in=0.02)
    taken = _drain(pacer, 1.0, 1.1)
    assert taken == pytest.approx([1.0, 1.01, 1.02], abs=0.0002)
    assert pacer.credit == 0


def test_nothing_is_released_before_its_slot() -> None:
    pacer = Pacer()
    pacer.add(1, rate=200.0, limit=202.0, capacity=2.0, at=5.0, due_in=0.004)
    assert pacer.release(5.0039) == 0
    assert pacer.release(5.004) == 1


def test_a_late_wake_up_spends_the_slots_it_missed_at_once() -> None:
    """A strict 1-s window counts only what the bucket granted; a CPU-starved worker that
    caught up slot by slot lost the time instead."""
    pacer = Pacer()
    pacer.add(3, rate=495.0, limit=500.0, capacity=5.0, at=0.0, due_in=2 / 495)
    assert pacer.release(0.0045) == 3  # the three slots (0, 2.0 and 4.0 ms) have come


def test_slots_older_than_the_budget_are_not_caught_up_but_moved() -> None:
    pacer = Pacer()
    pacer.add(10, rate=1000.0, limit=1010.0, capacity=10.0, at=0.0, due_in=0.009)
    # Woken at 9 ms, every slot (0..9 ms) is due; only those of the last 5 ms
    # (JITTER_BUDGET) and the one now go at once...
    assert pacer.release(0.009) == 6 == round(JITTER_BUDGET * 1000) + 1
    pacer.spend(6, 0.009)
    # ...the other four follow on the moved schedule, one interval apart.
    assert pacer.due_at() == pytest.approx(0.010)
    assert pacer.release(0.0099) == 0


def test_while_the_pace_is_cut_a_catch_up_keeps_clear_of_the_carriers_interval() -> None:
    """A carrier that throttled may be one that refuses two PDUs closer than 1/M (burst 1)."""
    pacer = Pacer()
    pacer.add(3, rate=247.5, limit=250.0, capacity=5.0, at=0.0, due_in=2 / 247.5, cut=True)
    taken = _drain(pacer, 0.003, 0.05, step=0.00001)  # 3 ms late: within its late limit
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert len(taken) == 3
    assert min(gaps) >= (1 / 250 + 1 / 247.5) / 2 - 1e-9


def test_a_slot_later_than_the_budget_moves_the_schedule() -> None:
    pacer = Pacer()
    pacer.add(2, rate=100.0, limit=400.0, capacity=1.0, at=0.0, due_in=0.01)
    late = JITTER_BUDGET + 0.003  # the first slot (t = 0) taken this late
    assert pacer.release(late) == 1
    pacer.spend(1, late)
    # The second slot (due at 0.01) is now due one interval after `late - JITTER_BUDGET`.
    assert pacer.next_at == pytest.approx(late - JITTER_BUDGET + 0.01)


def test_credit_left_long_after_its_slots_is_dropped_not_burst() -> None:
    pacer = Pacer()
    pacer.add(2, rate=200.0, limit=200.0, capacity=2.0, at=0.0, due_in=0.005)
    assert pacer.release(1.0) == 0  # a stall of a second: those tokens' time has gone
    assert pacer.credit == 0


def test_a_multipart_message_holds_the_next_slot_back_by_its_parts() -> None:
    pacer = Pacer()
    pacer.add(4, rate=100.0, limit=100.0, capacity=1.0, at=0.0, due_in=0.03)
    assert pacer.release(0.0) == 1
    pacer.spend(3, 0.0)  # three parts at once: their slots 0, 10 and 20 ms are taken
    assert pacer.due_at() == pytest.approx(0.03)


def test_a_cut_pace_widens_the_gap_to_the_carriers_slower_limit() -> None:
    pacer = Pacer()
    # AIMD cut the pace to half: the bucket refills at half rate and so does the limit.
    pacer.add(2, rate=50.0, limit=50.5, capacity=1.0, at=0.0, due_in=0.0, cut=True)
    assert 1 / 50.5 < pacer.min_gap < 1 / 50
    pacer.spend(1, 0.0)
    assert pacer.due_at() >= 1 / 50.5


@pytest.mark.parametrize("mps", [50, 200, 1000])
def test_a_lane_always_has_the_horizon_to_ask_before_its_bucket_overflows(mps: int) -> None:
    rate, capacity = bucket_shape(mps)
    floor = reserve_floor(capacity, 0.2)
    ahead = book_ahead(rate, capacity, floor, 0.005)
    grantable_at = floor - ahead + 1  # the level at which one token is granted
    assert (capacity - grantable_at) / rate >= 0.005 - 1e-9
    assert ahead <= rate * 0.005 + 1  # an OTP waits at most the horizon plus one token


def test_the_store_clock_offset_keeps_the_shortest_round_trips_sample() -> None:
    clock = ClockOffset()
    # The store's clock runs 100 s ahead of ours; it decided 0.1 ms into each ask.
    assert clock.observe(1.0, 1.0002, 101.0001) == pytest.approx(1.0001)
    # A loaded ask (5 ms; decided 4.9 ms in) does not move the estimate...
    assert clock.observe(2.0, 2.005, 102.0049) == pytest.approx(2.0049 - 0.0000, abs=1e-9)
    assert clock.offset == pytest.approx(100.0)
    # ...a later one with as short a round trip does (skew is measured, not assumed).
    clock.observe(3.0, 3.0002, 103.0003)
    assert clock.offset == pytest.approx(100.0002)


def test_an_old_estimate_gives_way_to_a_slightly_longer_fresh_round_trip() -> None:
    clock = ClockOffset()
    clock.observe(0.0, 0.0001, 50.00005)
    clock.observe(10.0, 10.0005, 60.0003)  # 10 s later: aged by 10 ms > 0.4 ms longer
    assert clock.offset == pytest.approx(60.0003 - 10.00025)


def test_a_lanes_sole_sender_catches_up_one_slot_at_a_time_just_over_1_over_m_apart() -> None:
    """Alone on the lane (its tenure), a late wake-up never puts two PDUs closer than the
    carrier's 1/M, even at full pace: a burst-1 carrier would refuse the second."""
    pacer = Pacer()
    pacer.add(3, rate=247.5, limit=250.0, capacity=5.0, at=0.0, due_in=2 / 247.5, one_sender=True)
    taken = _drain(pacer, 0.003, 0.05, step=0.00001)  # 3 ms late: within its late limit
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert len(taken) == 3
    assert min(gaps) >= 1 / 250 + GAP_MARGIN - 1e-9
    assert max(gaps) < 1 / 250 + GAP_MARGIN + 0.0001  # caught up: faster than the 1/r slots


def test_a_local_tenure_is_used_renewed_and_waited_for() -> None:
    tenure = LocalTenure()
    assert tenure.wait(0.0) is None  # never held: ask
    tenure.held(asked_at=1.0, start=1.006, until_in=TENURE_TTL)
    assert tenure.wait(1.001) == pytest.approx(0.005)  # the hand-over's guard
    assert tenure.wait(1.01) == 0.0
    # Counted from the ask (the earliest the store can have decided), renewed well before.
    assert tenure.wait(1.0 + TENURE_TTL - TENURE_RENEW + 0.001) is None
    tenure.refused(2.0, TENURE_POLL)
    assert tenure.wait(2.001) == pytest.approx(TENURE_POLL - 0.001)
    assert tenure.wait(2.0 + TENURE_POLL) is None


def test_the_hand_over_guard_is_one_over_m_and_a_margin() -> None:
    assert handover_guard(200.0) == pytest.approx(0.005 + HANDOVER_MARGIN)


@pytest.mark.parametrize(("mps", "hole"), [(50, 1), (200, 1), (1000, 2)])
def test_a_priority_slot_has_a_hole_of_at_least_the_guard_on_each_side(mps: int, hole: int) -> None:
    rate, _ = bucket_shape(mps)
    assert priority_hole(rate) == hole
    # Either neighbour may be late by the late limit and still leave the carrier its 1/M.
    assert (hole + 1) / rate - priority_late(hole, rate) >= 1 / mps


def test_priority_slots_sit_a_hole_after_the_last_grant_and_a_hole_before_the_next() -> None:
    """Two parts and a hole of one at 100 tokens/s: four tokens, the last due at 1.04 s (the
    previous grant's at 1.00 s, the next one's at 1.05 s)."""
    slots = priority_slots(due=1.04, parts=2, hole=1, rate=100.0)
    assert slots == pytest.approx([1.02, 1.03])
    assert slots[0] - 1.00 == pytest.approx(0.02) and 1.05 - slots[-1] == pytest.approx(0.02)


def test_a_sole_senders_slot_later_than_its_late_limit_is_dropped_not_sent() -> None:
    """Sent that late, it could land within 1/M of an OTP placed a hole after it: the credit
    goes (the lane asks the bucket again, which has refilled meanwhile)."""
    pacer = Pacer()
    pacer.add(1, rate=197.0, limit=200.0, capacity=2.0, at=0.0, due_in=0.0, one_sender=True)
    assert pacer.release(priority_late(1, 197.0) - 0.0001) == 1
    pacer = Pacer()
    pacer.add(1, rate=197.0, limit=200.0, capacity=2.0, at=0.0, due_in=0.0, one_sender=True)
    assert pacer.release(priority_late(1, 197.0) + 0.0001) == 0 and pacer.credit == 0
