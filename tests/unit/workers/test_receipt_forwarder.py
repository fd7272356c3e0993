"""ReceiptForwarder: receipts linger into one batch; each is acked only after its batch is out."""

from __future__ import annotations

import threading
import time
from typing import Any

from workers import ReceiptForwarder


class Publisher:
    """Records published batches; can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail = False
        self.published = threading.Event()

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.batches.append(batch)
        self.published.set()


def _eventually(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def test_receipts_arriving_within_the_linger_go_out_as_one_batch_then_are_acked() -> None:
    publish, acked = Publisher(), []
    forwarder = ReceiptForwarder(publish, flush_seconds=0.3)
    try:
        for i in range(5):
            forwarder.add({"n": i}, lambda i=i: acked.append(i))
            time.sleep(0.01)
        assert publish.batches == [] and acked == []  # still lingering: nothing acked yet
        assert publish.published.wait(5)
        assert _eventually(lambda: len(acked) == 5)
        assert publish.batches == [[{"n": i} for i in range(5)]]
        assert acked == [0, 1, 2, 3, 4]
    finally:
        forwarder.close()


def test_a_full_batch_goes_out_without_waiting_for_the_linger() -> None:
    publish, acked = Publisher(), []
    forwarder = ReceiptForwarder(publish, flush_seconds=30.0, max_batch=3)
    try:
        for i in range(3):
            forwarder.add({"n": i}, lambda i=i: acked.append(i))
        assert publish.published.wait(5)  # far sooner than the 30-s linger
        assert _eventually(lambda: acked == [0, 1, 2])
    finally:
        forwarder.close()


def test_a_failed_hand_off_acks_nothing_so_the_carrier_resends() -> None:
    publish, acked = Publisher(), []
    publish.fail = True
    forwarder = ReceiptForwarder(publish, flush_seconds=0.01)
    forwarder.add({"n": 1}, lambda: acked.append(1))
    assert _eventually(lambda: forwarder.failures == 1)
    forwarder.close()
    assert acked == [] and forwarder.published == 0


def test_close_hands_off_what_is_pending_at_once() -> None:
    publish, acked = Publisher(), []
    forwarder = ReceiptForwarder(publish, flush_seconds=30.0)
    forwarder.add({"n": 1}, lambda: acked.append(1))
    started = time.monotonic()
    forwarder.close()
    assert time.monotonic() - started < 5 and publish.batches == [[{"n": 1}]] and acked == [1]
