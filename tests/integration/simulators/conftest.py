"""Simulators started in a background thread, stopped after the test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulators import CarrierSim, Scenario, Simulator, SimulatorThread

StartSim = Callable[..., Simulator]


def carrier(name: str = "alpha", **fields: Any) -> CarrierSim:
    """A carrier on an ephemeral port, credentials `name` / `<name>pw`."""
    defaults: dict[str, Any] = {
        "system_id": name,
        "password": f"{name}pw",
        "receipt_delay_ms": 0,
    }
    return CarrierSim(name=name, **(defaults | fields))


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimulatorThread]]:
    """`start_sim(carrier(...), ..., control_port=0)` → a running SimulatorThread."""
    running: list[SimulatorThread] = []

    def start(*carriers: CarrierSim, **scenario: Any) -> SimulatorThread:
        thread = SimulatorThread(Scenario(carriers=list(carriers), **scenario))
        thread.start()
        running.append(thread)
        return thread

    yield start
    for thread in running:
        thread.stop()


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `check` until it holds (the simulator works on its own thread)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
