"""`Lanes`: FIFO per key, at most `per_key` running a key and `total` in all, fair hand-over.

Unit tests open no sockets, so no event loop: the runners are driven by hand (`Jobs.settle`).
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any

import pytest

from workers.callback_lanes import Lanes


class Gate:
    """Awaited by a job until the test opens it."""

    def __init__(self) -> None:
        self.open = False

    def __await__(self) -> Generator[None, None, None]:
        while not self.open:
            yield


class Jobs:
    """Jobs that finish when the test says; records the order they started in."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, Gate] = {}
        self.runners: list[Coroutine[Any, Any, None]] = []

    async def run(self, job: str) -> None:
        self.started.append(job)
        await self.gates.setdefault(job, Gate())

    def spawn(self, runner: Coroutine[Any, Any, None]) -> None:
        self.runners.append(runner)

    def finish(self, *jobs: str) -> None:
        for job in jobs:
            self.gates.setdefault(job, Gate()).open = True

    def settle(self) -> None:
        """Step every runner until none can go further."""
        for _ in range(20):
            for runner in list(self.runners):
                try:
                    runner.send(None)
                except StopIteration:
                    self.runners.remove(runner)


def test_no_more_than_per_key_run_at_once_and_a_key_runs_in_order() -> None:
    jobs = Jobs()
    lanes: Lanes[str] = Lanes(2, 10, jobs.run, jobs.spawn)
    for n in range(5):
        lanes.put("a", f"a{n}")
    jobs.settle()
    assert jobs.started == ["a0", "a1"] and lanes.running() == 2 and lanes.waiting() == 3
    jobs.finish("a1")
    jobs.settle()
    assert jobs.started == ["a0", "a1", "a2"]
    jobs.finish("a0", "a2", "a3", "a4")
    jobs.settle()
    assert jobs.started == ["a0", "a1", "a2", "a3", "a4"]
    assert lanes.running() == 0 and lanes.waiting() == 0 and lanes.peak == 2
    assert not jobs.runners  # every runner ended with its lane


def test_a_slow_key_does_not_hold_back_another() -> None:
    jobs = Jobs()
    lanes: Lanes[str] = Lanes(2, 10, jobs.run, jobs.spawn)
    for n in range(4):
        lanes.put("slow", f"s{n}")
    lanes.put("fast", "f0")
    lanes.put("fast", "f1")
    jobs.settle()
    assert jobs.started == ["s0", "s1", "f0", "f1"]
    jobs.finish("s0", "s1", "s2", "s3", "f0", "f1")
    jobs.settle()
    assert jobs.started[4:] == ["s2", "s3"] and not jobs.runners


def test_the_total_bound_holds_and_a_waiting_key_gets_the_next_free_slot() -> None:
    jobs = Jobs()
    lanes: Lanes[str] = Lanes(3, 3, jobs.run, jobs.spawn)
    for n in range(6):
        lanes.put("busy", f"b{n}")
    lanes.put("other", "o0")
    jobs.settle()
    assert jobs.started == ["b0", "b1", "b2"] and lanes.running() == 3
    jobs.finish("b0")  # its runner hands the slot to the key that waited
    jobs.settle()
    assert jobs.started == ["b0", "b1", "b2", "o0"] and lanes.running() == 3
    jobs.finish("o0")  # "other" is done: the slot goes back to "busy"
    jobs.settle()
    assert jobs.started[-1] == "b3" and lanes.running() == 3
    jobs.finish("b1", "b2", "b3", "b4", "b5")
    jobs.settle()
    assert sorted(jobs.started) == sorted([f"b{n}" for n in range(6)] + ["o0"])
    assert lanes.peak == 3 and lanes.running() == 0


def test_bounds_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="per_key and total"):
        Lanes(0, 4, Jobs().run, Jobs().spawn)
    with pytest.raises(ValueError, match="per_key and total"):
        Lanes(4, 0, Jobs().run, Jobs().spawn)
