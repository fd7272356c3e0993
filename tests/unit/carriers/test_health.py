"""Health score and circuit transitions; time moves with freezegun, never by waiting."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from carriers.health import (
    Circuit,
    CircuitPolicy,
    CircuitState,
    HealthCounts,
    counts_as_failure,
    score,
)
from messaging.errors import (
    CarrierSystemError,
    PermanentCarrierError,
    ResponseTimeout,
    Throttled,
    Unbound,
)

POLICY = CircuitPolicy(failure_threshold=3, open_for=30.0, half_open_probes=2)
COUNT = st.integers(min_value=0, max_value=10**6)


@given(COUNT, COUNT, COUNT, COUNT, COUNT, st.booleans())
def test_score_is_always_between_0_and_1(
    ok: int, error: int, throttled: int, delivered: int, undelivered: int, bound: bool
) -> None:
    value = score(HealthCounts(ok, error, throttled, delivered, undelivered, bound))

    assert 0.0 <= value <= 1.0


def test_untried_carrier_scores_1_and_an_unbound_one_0() -> None:
    assert score(HealthCounts()) == 1.0
    assert score(HealthCounts(submit_ok=100, bound=False)) == 0.0


def test_errors_hurt_more_than_throttles_and_undelivered_receipts_hurt() -> None:
    healthy = score(HealthCounts(submit_ok=90, receipts_delivered=90))

    assert score(HealthCounts(submit_ok=90, submit_error=10)) < score(
        HealthCounts(submit_ok=90, throttled=10)
    )
    assert score(HealthCounts(submit_ok=90, receipts_delivered=45, receipts_undelivered=45)) < (
        healthy
    )


def test_only_carrier_side_failures_trip_the_circuit() -> None:
    assert counts_as_failure(CarrierSystemError(0x08))
    assert counts_as_failure(ResponseTimeout())
    assert counts_as_failure(Unbound())
    assert not counts_as_failure(Throttled(0x58))
    assert not counts_as_failure(PermanentCarrierError(0x0B))


def test_circuit_opens_after_threshold_failures_in_a_row() -> None:
    circuit = Circuit()
    for _ in range(2):
        circuit = circuit.failure(0.0, POLICY)
    assert circuit.state is CircuitState.CLOSED

    circuit = circuit.failure(0.0, POLICY)

    assert circuit.state is CircuitState.OPEN
    assert circuit.admit(0.0, POLICY)[0] is False


def test_a_success_resets_the_failure_run() -> None:
    circuit = Circuit().failure(0.0, POLICY).failure(0.0, POLICY).success(0.0, POLICY)

    assert circuit.failure(0.0, POLICY).state is CircuitState.CLOSED


def test_open_circuit_turns_half_open_after_open_for_and_closes_on_probe_success() -> None:
    with freeze_time("2026-11-23 12:00:00") as frozen:
        circuit = Circuit()
        for _ in range(3):
            circuit = circuit.failure(time.time(), POLICY)
        frozen.tick(29)
        assert circuit.at(time.time(), POLICY).state is CircuitState.OPEN

        frozen.tick(1)
        allowed_1, circuit = circuit.admit(time.time(), POLICY)
        allowed_2, circuit = circuit.admit(time.time(), POLICY)
        allowed_3, circuit = circuit.admit(time.time(), POLICY)
        assert (allowed_1, allowed_2, allowed_3) == (True, True, False)
        assert circuit.state is CircuitState.HALF_OPEN

        circuit = circuit.success(time.time(), POLICY)
        assert circuit.state is CircuitState.HALF_OPEN  # needs both probes
        circuit = circuit.success(time.time(), POLICY)
        assert circuit.state is CircuitState.CLOSED
        assert circuit.admit(time.time(), POLICY)[0]


def test_a_failed_probe_reopens_for_another_full_period() -> None:
    with freeze_time("2026-11-23 12:00:00") as frozen:
        circuit = Circuit(CircuitState.OPEN, opened_at=time.time())
        frozen.tick(30)
        _, circuit = circuit.admit(time.time(), POLICY)

        circuit = circuit.failure(time.time(), POLICY)
        assert circuit.state is CircuitState.OPEN
        frozen.tick(29)
        assert circuit.at(time.time(), POLICY).state is CircuitState.OPEN
        frozen.tick(1)
        assert circuit.at(time.time(), POLICY).state is CircuitState.HALF_OPEN


def test_failures_while_open_do_not_extend_the_open_period() -> None:
    circuit = Circuit(CircuitState.OPEN, opened_at=0.0).failure(10.0, POLICY)

    assert circuit.at(30.0, POLICY).state is CircuitState.HALF_OPEN


def test_slow_submits_and_late_receipts_lower_the_score_past_their_good_means() -> None:
    base = HealthCounts(submit_ok=100, receipts_delivered=100)
    assert score(replace(base, submit_latency=0.4, receipt_delay=50.0)) == score(base)
    assert score(replace(base, submit_latency=1.0)) == pytest.approx(score(base) / 2)
    assert score(replace(base, receipt_delay=600.0)) == pytest.approx(score(base) / 10)
