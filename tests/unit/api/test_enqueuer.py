"""CoalescingOutbox: many commits per publish, OTP at once, nothing left behind at close."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from api.enqueuer import CoalescingOutbox

LONG = 30.0  # a linger no test waits for: anything published before it was not lingering


class Recording:
    """The inner outbox: records each publish; fails the first `fail` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.published: list[tuple[str, list[str]]] = []
        self.fail = fail
        self.event = threading.Event()
        self.lock = threading.Lock()

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        with self.lock:
            if self.fail > 0:
                self.fail -= 1
                self.event.set()
                raise ConnectionError("broker down")
            self.published.append((message_class, list(ids)))
            self.event.set()


def test_commits_made_within_the_linger_go_out_as_one_task() -> None:
    inner = Recording()
    outbox = CoalescingOutbox(inner, linger=0.3)
    for n in range(5):
        outbox.enqueue("transactional", [f"t{n}a", f"t{n}b"])
    assert inner.event.wait(5)
    outbox.close()
    assert inner.published == [("transactional", [f"t{n}{x}" for n in range(5) for x in "ab"])]
    assert outbox.publishes == 1


def test_otp_is_published_at_once_and_before_a_lingering_class() -> None:
    inner = Recording()
    outbox = CoalescingOutbox(inner, linger=LONG)
    outbox.enqueue("marketing", ["m1"])
    outbox.enqueue("otp", ["o1"])
    assert inner.event.wait(5)  # long before the linger ends
    with inner.lock:
        assert inner.published == [("otp", ["o1"])]
    outbox.close()
    assert inner.published == [("otp", ["o1"]), ("marketing", ["m1"])]


def test_a_full_task_goes_without_waiting_and_is_cut_at_max_ids() -> None:
    inner = Recording()
    outbox = CoalescingOutbox(inner, linger=LONG, max_ids=3)
    outbox.enqueue("marketing", ["a", "b", "c", "d"])
    assert inner.event.wait(5)
    outbox.close()
    assert inner.published == [("marketing", ["a", "b", "c"]), ("marketing", ["d"])]


def test_close_publishes_what_waits_and_refuses_more() -> None:
    inner = Recording()
    outbox = CoalescingOutbox(inner, linger=LONG)
    outbox.enqueue("transactional", ["t1"])
    assert outbox.waiting() == 1
    outbox.close()
    assert inner.published == [("transactional", ["t1"])]
    assert outbox.waiting() == 0
    with pytest.raises(RuntimeError, match="closed"):
        outbox.enqueue("transactional", ["t2"])


def test_a_failed_publish_is_counted_and_the_next_ones_go_out() -> None:
    inner = Recording(fail=1)
    outbox = CoalescingOutbox(inner, linger=0)
    outbox.enqueue("otp", ["lost"])  # the sweeper re-enqueues its row
    assert inner.event.wait(5)
    inner.event.clear()
    outbox.enqueue("otp", ["o2"])
    assert inner.event.wait(5)
    outbox.close()
    assert outbox.failures == 1
    assert inner.published == [("otp", ["o2"])]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="linger"):
        CoalescingOutbox(Recording(), linger=-1)
    with pytest.raises(ValueError, match="max_ids"):
        CoalescingOutbox(Recording(), max_ids=0)
