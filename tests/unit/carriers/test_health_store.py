"""Carrier health views from rolling buckets: score, and a circuit that opens and half-opens."""

from __future__ import annotations

import time

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from carriers import CircuitState, HealthPolicy, MemoryHealthStore


def _frozen() -> float:
    return time.time()  # looked up at each call, so freezegun's clock is the one read


def test_quiet_carrier_is_healthy() -> None:
    store = MemoryHealthStore(clock=lambda: 1000.0)
    view = store.views(["alpha"])["alpha"]
    assert (view.score, view.circuit) == (1.0, CircuitState.CLOSED)


def test_failures_without_success_open_the_circuit_then_it_half_opens() -> None:
    now = [1000.0]
    store = MemoryHealthStore(
        HealthPolicy(failure_threshold=5, open_for=10.0), clock=lambda: now[0]
    )
    store.add("alpha", error=5, failure=5)
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.OPEN
    now[0] += 10.0
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.HALF_OPEN
    now[0] += 10.0  # the failures have left the 15-s circuit window
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.CLOSED


def test_a_success_keeps_the_circuit_closed_and_errors_lower_the_score() -> None:
    store = MemoryHealthStore(clock=lambda: 1000.0)
    store.add("alpha", ok=1, error=9, failure=9)
    view = store.views(["alpha"])["alpha"]
    assert view.circuit is CircuitState.CLOSED
    assert view.score < 0.3


def test_throttles_do_not_open_the_circuit() -> None:
    store = MemoryHealthStore(clock=lambda: 1000.0)
    store.add("alpha", throttled=50)
    view = store.views(["alpha"])["alpha"]
    assert view.circuit is CircuitState.CLOSED and view.score < 1.0


def test_a_half_open_circuit_lets_a_few_probes_through_per_window_and_a_success_closes_it() -> None:
    with freeze_time("2026-12-01 12:00:00") as freezer:
        assert isinstance(freezer, FrozenDateTimeFactory)  # not ticking: moved by hand
        _probes_per_window(freezer)


def _probes_per_window(freezer: FrozenDateTimeFactory) -> None:
    store = MemoryHealthStore(
        HealthPolicy(failure_threshold=5, open_for=10.0, half_open_probes=2), clock=_frozen
    )
    store.add("alpha", error=5, failure=5)
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.OPEN
    freezer.tick(10)
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.HALF_OPEN
    assert [store.take_probe("alpha") for _ in range(3)] == [True, True, False]
    freezer.tick(10)  # a new window: probes again (the failures are still the newest news)
    assert store.take_probe("alpha")
    store.add("alpha", ok=1)  # a probe accepted
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.CLOSED


def test_a_failed_probe_opens_the_circuit_again() -> None:
    with freeze_time("2026-12-01 12:00:00") as freezer:
        store = MemoryHealthStore(HealthPolicy(failure_threshold=5, open_for=10.0), clock=_frozen)
        store.add("alpha", error=5, failure=5)
        freezer.tick(10)
        _probe_fails(store)


def _probe_fails(store: MemoryHealthStore) -> None:
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.HALF_OPEN
    assert store.take_probe("alpha")
    store.add("alpha", error=1, failure=1)
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.OPEN


def test_the_view_has_the_mean_submit_latency_receipt_delay_and_delivered_share() -> None:
    store = MemoryHealthStore(clock=lambda: 1000.0)
    store.add("alpha", ok=4, submit_ms=400, timed=4, delivered=3, undelivered=1)
    store.add("alpha", receipt_ms=240_000, delayed=2)  # 2 minutes each: past the good mean
    view = store.views(["alpha"])["alpha"]
    assert (view.submit_latency, view.receipt_delay, view.delivered_share) == (0.1, 120.0, 0.75)
    assert view.score == pytest.approx((4 / 5) * 0.5)  # delivery (3+1)/(4+1), delay 60/120
    assert view.describe() == (
        "score 0.40, circuit closed; submit latency 100 ms, receipt delay 120000 ms, delivered 75%"
    )
    assert (
        MemoryHealthStore()
        .views(["quiet"])["quiet"]
        .describe()
        .endswith("submit latency -, receipt delay -, delivered -")
    )


def test_submits_answered_too_slowly_open_the_circuit_and_keep_a_probe_from_closing_it() -> None:
    with freeze_time("2026-12-01 12:00:00") as freezer:
        store = MemoryHealthStore(HealthPolicy(failure_threshold=5, open_for=10.0), clock=_frozen)
        store.add("alpha", ok=5, slow=5, submit_ms=5 * 4000, timed=5)  # accepted, 4 s each
        assert store.views(["alpha"])["alpha"].circuit is CircuitState.OPEN
        freezer.tick(10)
        assert store.views(["alpha"])["alpha"].circuit is CircuitState.HALF_OPEN
        assert store.take_probe("alpha")
        store.add("alpha", ok=1, slow=1)  # the probe too was slow: open again
        assert store.views(["alpha"])["alpha"].circuit is CircuitState.OPEN
        freezer.tick(10)
        assert store.take_probe("alpha")
        store.add("alpha", ok=1)  # answered in time: closed
        assert store.views(["alpha"])["alpha"].circuit is CircuitState.CLOSED
