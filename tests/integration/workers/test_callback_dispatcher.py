"""The aiohttp dispatcher against a real receiver on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from messaging import CallbackEvent
from store import PendingCallback
from tests.callback_receiver import CallbackReceiver
from workers import verify
from workers.callback_dispatcher import AiohttpDispatcher
from workers.callbacks import render_event

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = "s3cret"  # noqa: S105 - a test key


def _pending(n: int, url: str, batch: bool = False) -> PendingCallback:
    event = CallbackEvent(f"m{n}", "sent", None, "alpha", 1, None, None, "+447911123456", T0, T0,
                          None, T0)  # fmt: skip
    return PendingCallback(n, url, batch, 1, T0, event)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def dispatcher() -> Iterator[AiohttpDispatcher]:
    real = AiohttpDispatcher(SECRET, timeout=2.0, per_host=4, total=8, batch_wait=0.1)
    yield real
    real.close()


def test_every_event_is_posted_signed_over_kept_alive_connections(
    receiver: CallbackReceiver, dispatcher: AiohttpDispatcher
) -> None:
    events = [_pending(n, receiver.url()) for n in range(40)]
    report = dispatcher.deliver(events, deadline=10)
    assert sorted(report.delivered) == list(range(40)) and report.failed == ()
    assert sorted(r.json()["id"] for r in receiver.received) == sorted(f"m{n}" for n in range(40))
    for r in receiver.received:
        assert verify(SECRET, int(r.timestamp), r.body, r.signature)
    bodies = {r.body for r in receiver.received}
    assert all(render_event(e.event) in bodies for e in events)
    assert dispatcher.stats.posts == 40


def test_no_more_than_per_host_posts_are_in_flight_to_one_host(
    dispatcher: AiohttpDispatcher,
) -> None:
    slow = CallbackReceiver(delay=0.1).start()
    try:
        report = dispatcher.deliver([_pending(n, slow.url()) for n in range(20)], deadline=10)
    finally:
        slow.stop()
    assert len(report.delivered) == 20
    assert slow.max_in_flight == 4  # per_host


def test_a_slow_host_does_not_hold_back_another(dispatcher: AiohttpDispatcher) -> None:
    slow, fast = CallbackReceiver(delay=1.0).start(), CallbackReceiver().start()
    try:
        slow_events = [_pending(n, slow.url()) for n in range(16)]
        behind = threading.Thread(target=dispatcher.deliver, args=(slow_events, 10))
        behind.start()
        time.sleep(0.05)  # the slow host's POSTs are queued first
        started = time.monotonic()
        report = dispatcher.deliver([_pending(100 + n, fast.url()) for n in range(8)], deadline=10)
        took = time.monotonic() - started
        behind.join()
    finally:
        slow.stop()
        fast.stop()
    assert len(report.delivered) == 8
    assert took < 0.9, took  # not behind a 1-s answer of the slow host


def test_batched_events_go_up_to_max_per_post_and_concurrent_calls_share_a_window(
    receiver: CallbackReceiver,
) -> None:
    dispatcher = AiohttpDispatcher(SECRET, batch_max=100, batch_wait=0.3)
    try:
        url = receiver.url("/batch")
        first = [_pending(n, url, batch=True) for n in range(130)]
        second = [_pending(200 + n, url, batch=True) for n in range(20)]
        results: list[tuple[int, ...]] = []
        other = threading.Thread(
            target=lambda: results.append(dispatcher.deliver(second, 10).delivered)
        )
        other.start()
        results.append(dispatcher.deliver(first, 10).delivered)
        other.join()
    finally:
        dispatcher.close()
    assert sorted(n for r in results for n in r) == [*range(130), *range(200, 220)]
    sizes = sorted(len(r.json()["events"]) for r in receiver.received)
    assert sizes == [50, 100]  # 100 at once, the other 50 together within the window


def test_refused_errors_and_timeouts_are_reported_failed(dispatcher: AiohttpDispatcher) -> None:
    down = CallbackReceiver().start()
    down.down()
    erroring = CallbackReceiver(status=500).start()
    hanging = CallbackReceiver(delay=2.5).start()
    try:
        events = [
            _pending(1, down.url()),
            _pending(2, erroring.url()),
            _pending(3, hanging.url()),
        ]
        report = dispatcher.deliver(events, deadline=10)  # the POST timeout is 2 s
    finally:
        for server in (down, erroring, hanging):
            server.stop()
    assert report.delivered == () and sorted(report.failed) == [1, 2, 3]
