"""Callback batches per URL: up to 100 events or 100 ms from the first."""

from __future__ import annotations

import pytest

from workers.callback_batches import BatchWindow

A, B = "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"


def test_a_batch_closes_when_it_holds_max_events() -> None:
    window: BatchWindow[int] = BatchWindow(max_events=100, max_wait=0.1)
    closed = [window.add(A, n, now=0.0) for n in range(250)]
    full = [batch for batch in closed if batch is not None]
    assert [len(b) for b in full] == [100, 100]
    assert full[0] == list(range(100)) and full[1] == list(range(100, 200))
    assert window.take_due(0.05) == []
    assert window.take_due(0.1) == [(A, list(range(200, 250)))]


def test_a_batch_waits_max_wait_from_its_first_event_and_urls_batch_apart() -> None:
    window: BatchWindow[str] = BatchWindow(max_events=100, max_wait=0.1)
    assert window.add(A, "a1", now=1.00) is None
    assert window.add(B, "b1", now=1.04) is None
    assert window.add(A, "a2", now=1.08) is None
    assert window.next_due() == pytest.approx(1.10)
    assert window.take_due(1.099) == []
    assert window.take_due(1.10) == [(A, ["a1", "a2"])]
    assert window.next_due() == pytest.approx(1.14)
    assert window.add(A, "a3", now=1.12) is None  # a new batch of its own
    assert window.take_due(1.2) == [(B, ["b1"])]
    assert window.take_all() == [(A, ["a3"])]
    assert window.next_due() is None


def test_a_window_refuses_an_empty_batch_size() -> None:
    with pytest.raises(ValueError, match="max_events"):
        BatchWindow(max_events=0)
