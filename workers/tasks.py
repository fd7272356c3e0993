"""The Celery tasks as module-level functions over a `WorkerRuntime`, and the runtime itself.

`workers.celery_app.make_celery` only registers these (one line each): the logic lives here,
where a unit test calls it with a runtime built on twins — no broker, no worker, no fork.

A `WorkerRuntime` is what one worker process's tasks share: its `WorkerContext` (store, routes,
buckets, carrier sessions, receipt forwarder, callback pump) and its `CallbackDelivery` (the
callbacks worker's engine and dispatcher), both made lazily after Celery forks, since sockets
never cross a fork. The runtime publishes through a `Publisher` (the Celery app's `send_task`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from messaging import MessageClass
from store import ReceiptBatchResult, ReceiptRecord, StatusChange
from store.otp_repository import OtpStore
from workers import callback_delivery
from workers.callback_delivery import CallbackDelivery
from workers.callbacks import CALLBACKS_QUEUE
from workers.config import WorkerSettings
from workers.context import (
    AfterReceipts,
    Enqueue,
    HandOff,
    WorkerContext,
    otp_resend_policy,
    utcnow,
)
from workers.state_log import log_status_changes
from workers.stream import StreamPublisher
from workers.sweeping import sweep_once

SEND_TASK = "switchboard.send"
RECONCILE_TASK = "switchboard.reconcile"
SWEEP_TASK = "switchboard.sweep"
CALLBACKS_TASK = "switchboard.callbacks"  # new events of these message ids (older versions)
CALLBACKS_RETRY_TASK = "switchboard.callbacks.retry"  # (event id, attempts) to deliver


class Publisher(Protocol):
    """Publishes a task by name (`celery.Celery.send_task` fits)."""

    def send_task(self, name: str, args: Sequence[Any], queue: str) -> object:
        """Publish task `name` with `args` on `queue`."""
        ...


class CeleryOutbox:
    """Enqueues send tasks for committed message ids, in batches, on the queue of their class."""

    def __init__(self, app: Publisher, batch_max: int) -> None:
        self.app = app
        self.batch_max = batch_max

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Publish one send task per `batch_max` ids."""
        for start in range(0, len(ids), self.batch_max):
            batch = list(ids[start : start + self.batch_max])
            self.app.send_task(SEND_TASK, args=[batch, message_class], queue=message_class)

    def enqueue_wakeup(self, message_class: str) -> None:
        """A send task with no ids: it claims the oldest due messages of its class."""
        self.app.send_task(SEND_TASK, args=[[], message_class], queue=message_class)


ContextFactory = Callable[[WorkerSettings, AfterReceipts, HandOff, HandOff, Enqueue], WorkerContext]
DeliveryFactory = Callable[[WorkerSettings, Callable[[], datetime]], CallbackDelivery]


class WorkerRuntime:
    """The per-process state every task of one Celery app works with."""

    def __init__(
        self,
        settings: WorkerSettings,
        publisher: Publisher,
        make_context: ContextFactory = WorkerContext,
        open_delivery: DeliveryFactory = callback_delivery.open_delivery,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.outbox = CeleryOutbox(publisher, settings.send_batch_max)
        self.resend_policy = otp_resend_policy(settings)
        self.stream = StreamPublisher(settings.redis_url)  # /v1/stream, best effort
        self._make_context = make_context
        self._open_delivery = open_delivery
        self._context: WorkerContext | None = None
        self._delivery: CallbackDelivery | None = None
        self._lock = threading.Lock()  # the warm-up thread and the first task may race

    def context(self) -> WorkerContext:
        """This process's WorkerContext, made on first use."""
        with self._lock:
            if self._context is None:
                self._context = self._make_context(
                    self.settings,
                    self.after_receipts,
                    self.hand_off,
                    self.stream.publish,
                    self.outbox.enqueue,
                )
            return self._context

    def delivery(self) -> CallbackDelivery:
        """This process's callback delivery (callbacks worker), made on first use."""
        with self._lock:
            if self._delivery is None:
                self._delivery = self._open_delivery(self.settings, utcnow)
            return self._delivery

    def after_receipts(self, result: ReceiptBatchResult) -> None:
        """After a receipt batch's commit: its callbacks, and OTPs going to their next carrier."""
        self.context().notify(result.changes)
        if result.resend:
            self.outbox.enqueue(MessageClass.OTP.value, list(result.resend))

    def after_sweep(self, changes: Sequence[StatusChange]) -> None:
        """After a sweep's commit: its changes to the status stream, their callback events to
        the callbacks queue (the sweeper runs in the worker's parent process: no pump there);
        logged when state-change lines are on (a context logs its own)."""
        if self.settings.log_state_changes:
            log_status_changes(changes)
        self.stream.publish(changes)
        self.hand_off(changes)

    def hand_off(self, changes: Sequence[StatusChange]) -> None:
        """The callback events of committed `changes` to the callbacks queue, by event id: the
        sweeper's way (it runs in the worker's parent process, which holds no context), and what
        a pump could not take."""
        refs = [[c.callback.event_id, 0] for c in changes if c.callback is not None]
        for start in range(0, len(refs), callback_delivery.HANDOFF_BATCH):
            self.publish_released(refs[start : start + callback_delivery.HANDOFF_BATCH])

    def publish_released(self, refs: list[list[int]]) -> None:
        """A retry task for these (event id, attempts)."""
        self.publisher.send_task(CALLBACKS_RETRY_TASK, args=[refs], queue=CALLBACKS_QUEUE)

    def forget_after_fork(self) -> None:
        """In a freshly forked child: drop what the parent made (its sockets are not ours)."""
        with self._lock:
            self._context = None
            self._delivery = None

    def close(self, drain: float = 0.0) -> None:
        """Wait up to `drain` s for submits in flight, flush, unbind and close what this
        process made (`WorkerContext.close`)."""
        with self._lock:
            context, self._context = self._context, None
            delivery, self._delivery = self._delivery, None
        if context is not None:
            context.close(drain=drain)
        if delivery is not None:
            callback_delivery.close_delivery(delivery)


def send(
    runtime: WorkerRuntime, ids: list[str], message_class: str | None = None
) -> dict[str, int]:
    """Send a batch of queued messages, topped up from the backlog of their class (the sender
    hands each group's callback events on as it commits)."""
    stats, _ = runtime.context().sender().send(ids, message_class)
    return vars(stats)


def receipt_records(payload: Sequence[Mapping[str, Any]]) -> list[ReceiptRecord]:
    """The receipts of a reconcile task (`{"carrier", "ids", "state", "err"?}` each), typed.

    Raises:
        ValueError: an item lacks a field or has one of the wrong type (the task retries, then
            gives up: it can never apply).
    """
    records: list[ReceiptRecord] = []
    for n, item in enumerate(payload):
        carrier, ids, state = item.get("carrier"), item.get("ids"), item.get("state")
        err = item.get("err") or ""
        if not isinstance(carrier, str) or not isinstance(state, str) or not isinstance(err, str):
            raise ValueError(f"receipt {n}: carrier, state and err must be strings")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"receipt {n}: ids must be a non-empty list of strings")
        records.append(ReceiptRecord(carrier, tuple(ids), state, err))
    return records


def reconcile(runtime: WorkerRuntime, receipts: list[dict[str, Any]]) -> dict[str, int]:
    """Apply receipts handed over as a task by an older version; unmatched ones are parked.

    Receipts are written by the worker whose bind received them (no task); this only drains
    what older versions queued."""
    return {"parked": runtime.context().write_receipts(receipt_records(receipts)).parked}


def deliver_callbacks(runtime: WorkerRuntime, message_ids: list[str]) -> dict[str, int]:
    """POST the new callback events of these messages (tasks of older versions)."""
    return vars(callback_delivery.deliver_new(runtime.delivery(), message_ids))


def redeliver_callbacks(runtime: WorkerRuntime, refs: list[list[int]]) -> dict[str, int]:
    """POST callback events by (event id, attempts): retries the sweep released, and events a
    writer handed off instead of POSTing them itself."""
    return vars(callback_delivery.deliver_released(runtime.delivery(), refs))


def sweep(runtime: WorkerRuntime) -> dict[str, int]:
    """Outbox sweep (`workers.sweeping.sweep_once`); the elected sweeper runs it too."""
    context = runtime.context()
    return sweep_once(
        context.store,
        OtpStore(context.engine),
        runtime.outbox,
        runtime.after_sweep,
        context.settings,
        runtime.resend_policy,
        utcnow(),
        publish_callbacks=runtime.publish_released,
        routes=context.routes.current,
        learn=context.record_segment_evidence,
    )
