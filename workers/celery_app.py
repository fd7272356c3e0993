"""`make_celery(settings)`: the one place every Celery option is set, and the tasks.

JSON only, acks_late, reject on worker loss, one queue per traffic class (OTP never waits
behind marketing), a `receipts` queue, a `callbacks` queue (task logic in
`workers.callback_delivery`). The outbox sweep runs in whichever worker holds the sweeper lock
(`workers.leader`), not on a Celery beat pinned to one worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from messaging import MessageClass
from store import ReceiptBatchResult, ReceiptRecord, StatusChange
from store.otp_repository import OtpStore
from workers import callback_delivery
from workers.callback_delivery import CallbackDelivery
from workers.callbacks import CALLBACKS_QUEUE
from workers.config import WorkerSettings
from workers.context import WorkerContext, otp_resend_policy, utcnow
from workers.sweeper_process import attach_sweeper
from workers.sweeping import sweep_once

log = logging.getLogger(__name__)

SEND_TASK = "switchboard.send"
RECONCILE_TASK = "switchboard.reconcile"
SWEEP_TASK = "switchboard.sweep"
CALLBACKS_TASK = "switchboard.callbacks"  # new events of these message ids
CALLBACKS_RETRY_TASK = "switchboard.callbacks.retry"  # (event id, attempts) the sweep released
RECEIPTS_QUEUE = "receipts"
CLASS_QUEUES = tuple(c.value for c in MessageClass)


def make_celery(
    settings: WorkerSettings, warm_sessions: bool = False, sweeper: bool = False
) -> Celery:
    """The Celery app: broker, options and tasks, all from `settings`.

    With `warm_sessions`, each worker process binds its carrier sessions as soon as it starts,
    so the first OTP it sends does not wait for a bind. With `sweeper`, a worker run from
    this app takes part in the sweeper election (`workers.sweeper_process`).
    """
    app = Celery("switchboard", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=RECEIPTS_QUEUE,
        broker_connection_retry_on_startup=True,
        # A task a dead worker held comes back after this long. Every task is idempotent (claim
        # takes only `queued` rows; receipts apply once), so a slow task run twice is harmless.
        broker_transport_options={"visibility_timeout": 120},
        worker_hijack_root_logger=False,
    )
    state: dict[str, WorkerContext] = {}
    callback_state: dict[str, CallbackDelivery] = {}
    state_lock = threading.Lock()  # the warm-up thread and the first task may race

    def after_receipts(result: ReceiptBatchResult) -> None:
        notify(result.changes)
        if result.resend:
            outbox.enqueue(MessageClass.OTP.value, list(result.resend))

    def context() -> WorkerContext:
        with state_lock:
            if "ctx" not in state:
                state["ctx"] = WorkerContext(settings, after_receipts)
            return state["ctx"]

    outbox = CeleryOutbox(app, settings.send_batch_max)
    resend_policy = otp_resend_policy(settings)

    def callbacks() -> CallbackDelivery:
        with state_lock:
            if "delivery" not in callback_state:
                callback_state["delivery"] = callback_delivery.open_delivery(settings, utcnow)
            return callback_state["delivery"]

    def notify(changes: Sequence[StatusChange]) -> None:
        """After the commit: hand the callback events of `changes` to the callbacks queue."""
        for ids in callback_delivery.handoff_batches(changes):
            app.send_task(CALLBACKS_TASK, args=[ids], queue=CALLBACKS_QUEUE)

    def publish_released(refs: list[list[int]]) -> None:
        app.send_task(CALLBACKS_RETRY_TASK, args=[refs], queue=CALLBACKS_QUEUE)

    @app.task(name=SEND_TASK)  # type: ignore[untyped-decorator]
    def send(ids: list[str], message_class: str | None = None) -> dict[str, int]:
        """Send a batch of queued messages, topped up from the backlog of their class."""
        stats, changes = context().sender().send(ids, message_class)
        notify(changes)
        return vars(stats)

    # Receipts are written to the database by the worker whose bind received them (no task);
    # this task only drains reconcile tasks published by an older version. Those receipts are
    # already acknowledged to the carrier: a database hiccup must not drop them.
    @app.task(  # type: ignore[untyped-decorator]
        name=RECONCILE_TASK,
        autoretry_for=(Exception,),
        retry_backoff=0.5,
        retry_backoff_max=30,
        max_retries=50,
    )
    def reconcile(receipts: list[dict[str, Any]]) -> dict[str, int]:
        """Apply receipts handed over as a task (older versions); unmatched ones are parked."""
        records = [
            ReceiptRecord(r["carrier"], tuple(r["ids"]), r["state"], r.get("err") or "")
            for r in receipts
        ]
        return {"parked": context().write_receipts(records)}

    @app.task(name=CALLBACKS_TASK)  # type: ignore[untyped-decorator]
    def deliver_callbacks(message_ids: list[str]) -> dict[str, int]:
        """POST the new callback events of these messages (failures wait in the database)."""
        return vars(callback_delivery.deliver_new(callbacks(), message_ids))

    @app.task(name=CALLBACKS_RETRY_TASK)  # type: ignore[untyped-decorator]
    def redeliver_callbacks(refs: list[list[int]]) -> dict[str, int]:
        """POST callback events the sweep released (retries due, expired leases)."""
        return vars(callback_delivery.deliver_released(callbacks(), refs))

    @app.task(name=SWEEP_TASK)  # type: ignore[untyped-decorator]
    def sweep() -> dict[str, int]:
        """Outbox sweep (`workers.sweeping.sweep_once`); the elected sweeper runs it too."""
        ctx = context()
        return sweep_once(
            ctx.store,
            OtpStore(ctx.engine),
            outbox,
            notify,
            ctx.settings,
            resend_policy,
            utcnow(),
            publish_callbacks=publish_released,
            routes=ctx.routes.current,
        )

    if sweeper:
        attach_sweeper(app, settings, outbox, notify, resend_policy, publish_released)

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _fresh_after_fork(**_: Any) -> None:
        state.clear()  # sockets and connections never cross a fork
        callback_state.clear()
        if warm_sessions:
            threading.Thread(target=_warm, name="warm-sessions", daemon=True).start()

    def _warm() -> None:
        ctx = context()
        try:  # the first claim should not wait for a database connection either
            with ctx.engine.connect():
                pass
        except Exception as exc:
            log.warning("could not reach the database at start: %s", exc)
        ctx.snapshot()  # starts the health refresher
        pool = ctx.pool()
        for name in pool.endpoints:
            try:
                pool.session(name)
            except Exception as exc:  # a carrier down at start: the send path handles it later
                log.warning("could not bind %s at start: %s", name, exc)

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _close(**_: Any) -> None:
        ctx = state.pop("ctx", None)
        if ctx is not None:  # drained: what is in flight is answered, then unbound
            ctx.close(drain=ctx.settings.response_timeout)
        delivery = callback_state.pop("delivery", None)
        if delivery is not None:
            callback_delivery.close_delivery(delivery)

    return app


class CeleryOutbox:
    """Enqueues send tasks for committed message ids, in batches, on the queue of their class."""

    def __init__(self, app: Celery, batch_max: int) -> None:
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
