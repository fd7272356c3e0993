"""Carrier health views from rolling buckets: score, and a circuit that opens and half-opens."""

from __future__ import annotations

from carriers import CircuitState, HealthPolicy, MemoryHealthStore


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
