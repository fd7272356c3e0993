"""Refreshing: reads do no work; a background thread keeps the value fresh."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from workers.refreshing import Refreshing


def _eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_reads_reuse_the_value_until_the_background_refresh_replaces_it() -> None:
    source = {"value": 1, "calls": 0}

    def compute() -> int:
        source["calls"] += 1
        return source["value"]

    cached = Refreshing(compute, interval=0.02, name="test")
    try:
        assert [cached.get() for _ in range(100)] == [1] * 100
        assert source["calls"] <= 2  # the first read, maybe one refresh: not one per read
        source["value"] = 2
        assert _eventually(lambda: cached.get() == 2)
    finally:
        cached.close()


@dataclass
class _Source:
    value: str
    fail: bool = False


def test_a_failing_refresh_keeps_the_last_value() -> None:
    state = _Source("healthy")

    def compute() -> str:
        if state.fail:
            raise ConnectionError("redis down")
        return state.value

    cached = Refreshing(compute, interval=0.01, name="test")
    try:
        assert cached.get() == "healthy"
        state.fail, state.value = True, "never seen"
        before = cached.refreshes
        time.sleep(0.1)
        assert cached.get() == "healthy" and cached.refreshes == before
    finally:
        cached.close()


def test_close_stops_the_refresh_thread() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    cached = Refreshing(compute, interval=0.01, name="test")
    cached.get()
    cached.close()
    settled = len(calls)
    time.sleep(0.05)
    assert len(calls) == settled
