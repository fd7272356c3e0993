"""ReceiptForwarder: receipts batch into one write; each is acked only after its batch committed.

A write that fails is retried (same batch first, nothing acked meanwhile) until it succeeds; one
that cannot succeed in time lets the receipts go and drops their carriers' binds, so the carrier
re-delivers them instead of holding them behind a full window.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

import pytest

from store import ReceiptRecord
from workers import ReceiptForwarder
from workers.handoff import Written
from workers.receipts import HandOffBackoff
from workers.uncommitted import UncommittedIds

pytestmark = pytest.mark.unit


def _receipt(n: int, carrier: str = "alpha") -> ReceiptRecord:
    return ReceiptRecord(carrier, (f"id{n}",), "delivered")


class Database:
    """Records written batches; fails while told to; parks what it is told to."""

    def __init__(self) -> None:
        self.batches: list[list[ReceiptRecord]] = []
        self.failing = False
        self.calls = 0
        self.park = 0
        self.written = threading.Event()

    def __call__(self, batch: list[ReceiptRecord]) -> int:
        self.calls += 1
        if self.failing:
            raise ConnectionError("database down")
        self.batches.append(batch)
        self.written.set()
        return self.park


def _eventually(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def test_receipts_arriving_within_the_linger_are_written_as_one_batch_then_acked() -> None:
    database = Database()
    acked: list[int] = []
    forwarder = ReceiptForwarder(database, flush_seconds=0.3)
    try:
        for i in range(5):
            forwarder.add(_receipt(i), functools.partial(acked.append, i))
        assert database.batches == [] and acked == []  # still lingering: nothing acked yet
        assert database.written.wait(5)
        assert _eventually(lambda: len(acked) == 5)
        assert database.batches == [[_receipt(i) for i in range(5)]]
        assert acked == [0, 1, 2, 3, 4] and forwarder.written == 5
    finally:
        forwarder.close()


def test_a_full_batch_is_written_without_waiting_for_the_linger() -> None:
    database = Database()
    acked: list[int] = []
    forwarder = ReceiptForwarder(database, flush_seconds=30.0, max_batch=3)
    try:
        for i in range(3):
            forwarder.add(_receipt(i), functools.partial(acked.append, i))
        assert database.written.wait(5)  # far sooner than the 30-s linger
        assert _eventually(lambda: acked == [0, 1, 2])
    finally:
        forwarder.close()


def test_a_failed_write_is_retried_and_acked_in_order_once_the_database_is_back() -> None:
    database = Database()
    acked: list[int] = []
    database.failing = True
    forwarder = ReceiptForwarder(
        database, flush_seconds=0.01, backoff=HandOffBackoff(first=0.01, cap=0.02)
    )
    try:
        forwarder.add(_receipt(1), lambda: acked.append(1))
        assert _eventually(lambda: database.calls >= 3)
        forwarder.add(_receipt(2), lambda: acked.append(2))
        assert acked == [] and forwarder.pending == 1  # nothing acked while it cannot be written
        database.failing = False
        assert _eventually(lambda: acked == [1, 2])
        assert database.batches[0] == [_receipt(1)]  # the older batch first
        assert forwarder.failures >= 3 and forwarder.let_go == 0
    finally:
        forwarder.close()


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    database = Database()
    database.failing = True
    forwarder = ReceiptForwarder(
        database, flush_seconds=0.01, backoff=HandOffBackoff(first=0.005, cap=0.005)
    )
    try:
        with caplog.at_level(logging.WARNING, logger="workers.receipts"):
            forwarder.add(_receipt(1), lambda: None)
            assert _eventually(lambda: database.calls >= 10)
            database.failing = False
            assert _eventually(lambda: forwarder.written == 1)
        lines = [r.getMessage() for r in caplog.records]
        assert sum("cannot write to the database" in line for line in lines) == 1
        assert sum("recovered" in line for line in lines) == 1
    finally:
        forwarder.close()


def test_receipts_that_cannot_be_written_in_time_are_let_go_and_their_binds_dropped() -> None:
    database = Database()
    acked: list[int] = []
    dropped: list[set[str]] = []
    database.failing = True
    forwarder = ReceiptForwarder(
        database,
        flush_seconds=0.01,
        backoff=HandOffBackoff(first=0.01, cap=0.01),
        stall_after=0.2,
        drop_binds=dropped.append,
    )
    try:
        forwarder.add(_receipt(1, "alpha"), lambda: acked.append(1))
        assert _eventually(lambda: dropped == [{"alpha"}])
        assert acked == [] and forwarder.let_go == 1 and forwarder.pending == 0
        database.failing = False  # receipts after the drop come from the new bind: written
        forwarder.add(_receipt(2, "alpha"), lambda: acked.append(2))
        assert _eventually(lambda: acked == [2])
    finally:
        forwarder.close()


def test_too_many_waiting_receipts_drop_the_bind_rather_than_grow_without_bound() -> None:
    database = Database()
    dropped: list[set[str]] = []
    database.failing = True
    forwarder = ReceiptForwarder(
        database,
        flush_seconds=0.01,
        max_batch=2,
        backoff=HandOffBackoff(first=0.01, cap=0.01),
        stall_after=60.0,
        max_pending=5,
        drop_binds=dropped.append,
    )
    try:
        for i in range(10):
            forwarder.add(_receipt(i, "beta"), lambda: None)
        assert _eventually(lambda: dropped and dropped[0] == {"beta"})
        assert _eventually(lambda: forwarder.pending == 0) and forwarder.let_go >= 6
    finally:
        forwarder.close()


def test_parked_receipts_are_applied_again_until_none_remain() -> None:
    database, remaining = Database(), [2, 1, 0]
    database.park = 1
    calls: list[float] = []

    def retry_parked() -> int:
        calls.append(time.monotonic())
        return remaining[len(calls) - 1]

    forwarder = ReceiptForwarder(database, flush_seconds=0.01, retry_parked=retry_parked)
    try:
        started = time.monotonic()
        forwarder.add(_receipt(1), lambda: None)
        assert _eventually(lambda: len(calls) == 3)
        assert calls[0] - started >= 0.2  # a raced receipt waits for its attempt row a little
        time.sleep(0.6)
        assert len(calls) == 3  # none left: no more passes
    finally:
        forwarder.close()


def test_close_writes_what_is_pending_at_once() -> None:
    database = Database()
    acked: list[int] = []
    forwarder = ReceiptForwarder(database, flush_seconds=30.0)
    forwarder.add(_receipt(1), lambda: acked.append(1))
    started = time.monotonic()
    forwarder.close()
    assert time.monotonic() - started < 5 and database.batches == [[_receipt(1)]] and acked == [1]


def test_close_during_an_outage_returns_and_acks_nothing() -> None:
    database = Database()
    acked: list[int] = []
    database.failing = True
    forwarder = ReceiptForwarder(database, flush_seconds=0.01, backoff=HandOffBackoff(1.0, 1.0))
    forwarder.add(_receipt(1), lambda: acked.append(1))
    assert _eventually(lambda: database.calls >= 1)
    started = time.monotonic()
    forwarder.close()
    assert time.monotonic() - started < 2 and acked == []


def test_backoff_doubles_from_first_up_to_the_cap() -> None:
    backoff = HandOffBackoff(first=0.1, cap=0.5)
    assert [backoff.after(n) for n in range(6)] == [0.0, 0.1, 0.2, 0.4, 0.5, 0.5]


def test_a_receipt_whose_attempt_is_unwritten_waits_unacked_until_the_commit_nudges() -> None:
    database = Database()
    acked: list[int] = []
    uncommitted = UncommittedIds()
    uncommitted.add("alpha", "id1")  # its submit_sm_resp came; its attempt row is not written
    forwarder = ReceiptForwarder(
        database,
        flush_seconds=0.01,
        hold=lambda r: uncommitted.holds(r.carrier, r.carrier_message_ids),
        hold_max=30.0,
    )
    uncommitted.listen(forwarder.nudge)
    try:
        forwarder.add(_receipt(0), functools.partial(acked.append, 0))
        forwarder.add(_receipt(1), functools.partial(acked.append, 1))  # held
        assert _eventually(lambda: acked == [0])
        time.sleep(0.1)  # several lingers: the held one is neither written nor acked
        assert database.batches == [[_receipt(0)]] and acked == [0]
        assert forwarder.held == 1 and forwarder.pending == 1
        uncommitted.committed([("alpha", "id1")])  # the send loop wrote it
        assert _eventually(lambda: acked == [0, 1])
        assert database.batches == [[_receipt(0)], [_receipt(1)]] and forwarder.held == 0
    finally:
        forwarder.close()


def test_a_held_receipt_goes_after_hold_max_and_at_close() -> None:
    database = Database()
    acked: list[int] = []
    forwarder = ReceiptForwarder(database, flush_seconds=0.01, hold=lambda r: True, hold_max=0.2)
    try:
        started = time.monotonic()
        forwarder.add(_receipt(0), functools.partial(acked.append, 0))
        assert _eventually(lambda: acked == [0])  # written anyway (it will be parked)
        assert time.monotonic() - started >= 0.2
    finally:
        forwarder.close()
    closing = ReceiptForwarder(database, flush_seconds=30.0, hold=lambda r: True, hold_max=30.0)
    closing.add(_receipt(1), functools.partial(acked.append, 1))
    closing.close()
    assert acked == [0, 1]


def test_held_receipts_of_a_carrier_let_go_are_released_with_its_bind() -> None:
    database = Database()
    database.failing = True
    dropped: list[set[str]] = []
    forwarder = ReceiptForwarder(
        database,
        flush_seconds=0.01,
        stall_after=0.2,
        backoff=HandOffBackoff(0.01, 0.02),
        drop_binds=dropped.append,
        hold=lambda r: r.carrier_message_ids == ("id9",),
        hold_max=30.0,
    )
    try:
        forwarder.add(_receipt(9), lambda: None)  # held
        forwarder.add(_receipt(0), lambda: None)  # cannot be written
        assert _eventually(lambda: dropped == [{"alpha"}])
        assert forwarder.pending == 0 and forwarder.let_go == 2
    finally:
        forwarder.close()


class Racing(Database):
    """Leaves each receipt it has seen fewer than `rounds` times for later (its attempt is
    still being written), as `write_receipts` does with young unmatched receipts."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.seen: dict[ReceiptRecord, int] = {}

    def __call__(self, batch: list[ReceiptRecord]) -> Written[ReceiptRecord]:  # type: ignore[override]
        super().__call__(batch)
        for r in batch:
            self.seen[r] = self.seen.get(r, 0) + 1
        return Written(again=tuple(r for r in batch if self.seen[r] < self.rounds))


def test_a_receipt_the_hand_off_leaves_for_later_is_unacked_until_it_is_taken() -> None:
    database = Racing(rounds=3)
    acked: list[int] = []
    forwarder = ReceiptForwarder(database, flush_seconds=0.01)
    try:
        forwarder.add(_receipt(0), functools.partial(acked.append, 0))
        assert _eventually(lambda: acked == [0])
        assert database.seen[_receipt(0)] == 3  # handed off three times, acked once
        assert forwarder.written == 1 and forwarder.pending == 0
    finally:
        forwarder.close()


def test_at_close_a_receipt_left_for_later_stays_unacked_for_the_carrier_to_resend() -> None:
    database = Racing(rounds=99)
    acked: list[int] = []
    forwarder = ReceiptForwarder(database, flush_seconds=30.0)
    forwarder.add(_receipt(0), functools.partial(acked.append, 0))
    forwarder.close()
    assert database.seen[_receipt(0)] == 1 and acked == []
