"""The callback pump: events its process committed, POSTed and settled without a task."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

import pytest

from messaging import CallbackEvent, CallbackRetry
from store import PendingCallback
from workers.callback_dispatcher import CallbackDispatcher, DeliveryReport, MemoryDispatcher
from workers.callback_pump import CallbackPump

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOOK = "http://127.0.0.1:1/hook"
DOWN = "http://127.0.0.1:1/down"
RETRY = CallbackRetry(first=timedelta(seconds=2), cap=timedelta(seconds=60))


def _event(n: int, url: str = HOOK, created: datetime = T0) -> PendingCallback:
    event = CallbackEvent(f"m{n}", "sent", None, "alpha", 1, None, None, "+447911123456", T0, T0,
                          None, T0)  # fmt: skip
    return PendingCallback(n, url, False, 1, created, event)


@dataclass
class Settled:
    """The outbox twin: what the pump settled, call by call."""

    calls: list[tuple[list[int], list[tuple[int, datetime]]]] = field(default_factory=list)
    fail: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def settle_fresh(self, delivered: Sequence[int], retry: Sequence[tuple[int, datetime]]) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.calls.append((list(delivered), list(retry)))
        self.done.set()

    def delivered(self) -> list[int]:
        return sorted(i for d, _ in self.calls for i in d)

    def retried(self) -> list[tuple[int, datetime]]:
        return sorted(r for _, rs in self.calls for r in rs)


def _wait(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


class PumpOptions(TypedDict, total=False):
    """The keyword options of `CallbackPump` these tests set."""

    max_pending: int
    batch_max: int
    grace: timedelta
    margin: timedelta


def _pump(
    settled: Settled, dispatcher: CallbackDispatcher, **options: Unpack[PumpOptions]
) -> CallbackPump:
    return CallbackPump(settled, dispatcher, lambda: T0, RETRY, **options)


def test_offered_events_are_posted_then_the_delivered_deleted_and_the_failed_scheduled() -> None:
    settled, dispatcher = Settled(), MemoryDispatcher(failing={DOWN})
    pump = _pump(settled, dispatcher)
    try:
        assert pump.offer([_event(1), _event(2), _event(3, DOWN)]) == []
        assert _wait(lambda: len(settled.delivered()) + len(settled.retried()) == 3)
    finally:
        pump.close()
    assert settled.delivered() == [1, 2]
    # The first try failed: retried after the first backoff, counted as one attempt.
    assert settled.retried() == [(3, T0 + timedelta(seconds=2))]
    assert len(dispatcher.posted) == 2
    assert pump.stats.delivered == 2 and pump.stats.retried == 1


def test_events_too_close_to_the_sweeps_grace_are_left_to_the_sweep() -> None:
    settled, dispatcher = Settled(), MemoryDispatcher()
    pump = _pump(settled, dispatcher, grace=timedelta(seconds=30), margin=timedelta(seconds=5))
    try:
        # Written 24.5 s ago: 0.5 s left before the last moment a POST may start (25 s).
        pump.offer([_event(1, created=T0 - timedelta(seconds=24.5)), _event(2)])
        assert _wait(lambda: settled.delivered() == [2])
    finally:
        pump.close()
    assert pump.stats.late == 1
    assert [url for url, _ in dispatcher.posted] == [HOOK]  # only event 2 was POSTed
    assert settled.retried() == []  # the late row is untouched: still 0 attempts


def test_what_does_not_fit_is_handed_back_and_what_fits_is_delivered() -> None:
    gate = threading.Event()

    class Held(MemoryDispatcher):
        def submit(
            self, events: Sequence[PendingCallback], deadline: float
        ) -> Future[DeliveryReport]:
            gate.wait(5)
            return super().submit(events, deadline)

    settled = Settled()
    pump = _pump(settled, Held(), max_pending=3, batch_max=1)
    try:
        pump.offer([_event(1)])
        assert _wait(lambda: pump.pending() == 0)  # event 1 is with the (held) dispatcher
        back = pump.offer([_event(n) for n in range(2, 7)])
        assert [e.event_id for e in back] == [5, 6]  # 3 fit behind the held call
        assert pump.stats.handed_back == 2
        gate.set()
        assert _wait(lambda: settled.delivered() == [1, 2, 3, 4])
    finally:
        gate.set()
        pump.close()


def test_close_delivers_what_was_taken_and_then_hands_everything_back() -> None:
    settled = Settled()
    pump = _pump(settled, MemoryDispatcher())
    pump.offer([_event(n) for n in range(50)])
    pump.close()
    assert settled.delivered() == list(range(50))
    assert [e.event_id for e in pump.offer([_event(99)])] == [99]


def test_a_failed_settle_is_counted_and_the_pump_goes_on() -> None:
    settled = Settled(fail=True)
    pump = _pump(settled, MemoryDispatcher())
    try:
        pump.offer([_event(1)])
        assert _wait(lambda: pump.stats.settle_errors == 1)
        settled.fail = False
        pump.offer([_event(2)])
        assert _wait(lambda: settled.delivered() == [2])
    finally:
        pump.close()
    assert pump.stats.delivered == 1


def test_a_margin_not_shorter_than_the_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        _pump(Settled(), MemoryDispatcher(), grace=timedelta(seconds=5), margin=timedelta(5))
