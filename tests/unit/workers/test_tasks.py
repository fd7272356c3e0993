"""The Celery tasks as plain functions over a WorkerRuntime built on twins (no broker)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from messaging import CallbackEvent
from store import PendingCallback, ReceiptBatchResult, ReceiptRecord, StatusChange
from switchboard.settings import Settings
from workers import tasks
from workers.callback_delivery import CallbackDelivery
from workers.context import WorkerContext
from workers.handoff import Written
from workers.tasks import CALLBACKS_RETRY_TASK, SEND_TASK, WorkerRuntime, receipt_records

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Published:
    """The publisher twin: every task published, in order."""

    tasks: list[tuple[str, list[Any], str]] = field(default_factory=list)

    def send_task(self, name: str, args: Sequence[Any], queue: str) -> object:
        self.tasks.append((name, list(args), queue))
        return None


@dataclass
class Context:
    """The WorkerContext twin: records what the tasks ask of it."""

    notified: list[list[StatusChange]] = field(default_factory=list)
    written: list[list[ReceiptRecord]] = field(default_factory=list)
    sent: list[tuple[list[str], str | None]] = field(default_factory=list)
    closed: bool = False

    def notify(self, changes: Sequence[StatusChange]) -> None:
        self.notified.append(list(changes))

    def write_receipts(self, receipts: list[ReceiptRecord]) -> Written[ReceiptRecord]:
        self.written.append(receipts)
        return Written(parked=1)

    def sender(self) -> Any:
        def send(ids: list[str], message_class: str | None) -> tuple[Any, list[StatusChange]]:
            self.sent.append((ids, message_class))
            return SimpleNamespace(claimed=len(ids), submitted=len(ids)), []

        return SimpleNamespace(send=send)

    def close(self, drain: float = 0.0) -> None:
        self.closed = True


def _runtime(published: Published, made: list[Context]) -> WorkerRuntime:
    def make(*_: Any) -> WorkerContext:
        made.append(Context())
        return cast(WorkerContext, made[-1])

    def deliver(*_: Any) -> CallbackDelivery:
        raise AssertionError("no callbacks delivery in these tests")

    settings = Settings(send_batch_max=2)
    return WorkerRuntime(settings, published, make_context=make, open_delivery=deliver)


def _change(message_id: str, event_id: int | None) -> StatusChange:
    callback = None
    if event_id is not None:
        to = "+447911123456"
        event = CallbackEvent(message_id, "delivered", None, "alpha", 1, None, None, to,
                              T0, T0, T0, T0)  # fmt: skip
        callback = PendingCallback(event_id, "http://127.0.0.1:1/h", False, 1, T0, event)
    return StatusChange(message_id, "delivered", "http://127.0.0.1:1/h", callback=callback)


def test_send_sends_through_the_process_context_made_once() -> None:
    made: list[Context] = []
    runtime = _runtime(Published(), made)
    assert tasks.send(runtime, ["m1", "m2"], "otp") == {"claimed": 2, "submitted": 2}
    tasks.send(runtime, [], "marketing")
    assert len(made) == 1 and made[0].sent == [(["m1", "m2"], "otp"), ([], "marketing")]


def test_after_receipts_notifies_the_changes_and_sends_resends_on_the_otp_queue() -> None:
    published, made = Published(), list[Context]()
    runtime = _runtime(published, made)
    changes = (_change("m1", 7),)
    runtime.after_receipts(ReceiptBatchResult(1, 0, (), changes=changes, resend=("o1", "o2", "o3")))
    assert made[0].notified == [list(changes)]
    # send_batch_max is 2: two send tasks for three resends.
    assert published.tasks == [
        (SEND_TASK, [["o1", "o2"], "otp"], "otp"),
        (SEND_TASK, [["o3"], "otp"], "otp"),
    ]


def test_hand_off_publishes_retry_tasks_by_event_id_for_changes_that_wrote_one() -> None:
    published = Published()
    runtime = _runtime(published, [])
    runtime.hand_off([_change("m1", 7), _change("m2", None), _change("m3", 9)])
    assert published.tasks == [(CALLBACKS_RETRY_TASK, [[[7, 0], [9, 0]]], "callbacks")]
    runtime.hand_off([_change("m2", None)])
    assert len(published.tasks) == 1  # nothing to hand off: nothing published


def test_reconcile_applies_the_typed_receipts_of_an_older_versions_task() -> None:
    made: list[Context] = []
    runtime = _runtime(Published(), made)
    payload = [
        {"carrier": "alpha", "ids": ["a1", "A1"], "state": "delivered"},
        {"carrier": "beta", "ids": ["b1"], "state": "undelivered", "err": "001"},
    ]
    assert tasks.reconcile(runtime, payload) == {"parked": 1}
    assert made[0].written == [
        [
            ReceiptRecord("alpha", ("a1", "A1"), "delivered", ""),
            ReceiptRecord("beta", ("b1",), "undelivered", "001"),
        ]
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"ids": ["a1"], "state": "delivered"}, "receipt 0: carrier"),
        ({"carrier": "alpha", "ids": [], "state": "delivered"}, "receipt 0: ids"),
        ({"carrier": "alpha", "ids": "a1", "state": "delivered"}, "receipt 0: ids"),
        ({"carrier": "alpha", "ids": ["a1"], "state": 3}, "receipt 0: carrier, state"),
    ],
)
def test_a_malformed_receipt_payload_is_refused_naming_the_item(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        receipt_records([item])


def test_a_forked_child_forgets_the_parents_context_and_close_closes_its_own() -> None:
    made: list[Context] = []
    runtime = _runtime(Published(), made)
    parent = runtime.context()
    runtime.forget_after_fork()
    child = runtime.context()
    assert child is not parent and len(made) == 2
    runtime.close()
    assert made[1].closed and not made[0].closed  # the parent's is not ours to close
    assert runtime.context() is not child  # a new one after close
