"""`make_celery(settings)`: the one place every Celery option is set, and the tasks registered.

JSON only, acks_late, reject on worker loss, one queue per traffic class (OTP never waits
behind marketing), a `receipts` queue, a `callbacks` queue. The task logic is in
`workers.tasks` (module-level functions over a `WorkerRuntime`); this module only registers it.
The outbox sweep runs in whichever worker holds the sweeper lock (`workers.leader`), not on a
Celery beat pinned to one worker.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from messaging import MessageClass
from metrics.heap import settle_heap
from workers import tasks
from workers.config import WorkerSettings
from workers.sweeper_process import attach_sweeper
from workers.tasks import (
    CALLBACKS_RETRY_TASK,
    CALLBACKS_TASK,
    RECONCILE_TASK,
    SEND_TASK,
    SWEEP_TASK,
    WorkerRuntime,
)

log = logging.getLogger(__name__)

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
    runtime = WorkerRuntime(settings, app)

    @app.task(name=SEND_TASK)  # type: ignore[untyped-decorator]
    def send(ids: list[str], message_class: str | None = None) -> dict[str, int]:
        return tasks.send(runtime, ids, message_class)

    # Those receipts are already acknowledged to the carrier: a database hiccup must not drop
    # them.
    @app.task(  # type: ignore[untyped-decorator]
        name=RECONCILE_TASK,
        autoretry_for=(Exception,),
        dont_autoretry_for=(ValueError,),  # a malformed payload never applies
        retry_backoff=0.5,
        retry_backoff_max=30,
        max_retries=50,
    )
    def reconcile(receipts: list[dict[str, Any]]) -> dict[str, int]:
        return tasks.reconcile(runtime, receipts)

    @app.task(name=CALLBACKS_TASK)  # type: ignore[untyped-decorator]
    def deliver_callbacks(message_ids: list[str]) -> dict[str, int]:
        return tasks.deliver_callbacks(runtime, message_ids)

    @app.task(name=CALLBACKS_RETRY_TASK)  # type: ignore[untyped-decorator]
    def redeliver_callbacks(refs: list[list[int]]) -> dict[str, int]:
        return tasks.redeliver_callbacks(runtime, refs)

    @app.task(name=SWEEP_TASK)  # type: ignore[untyped-decorator]
    def sweep() -> dict[str, int]:
        return tasks.sweep(runtime)

    if sweeper:
        attach_sweeper(
            app,
            settings,
            runtime.outbox,
            runtime.after_sweep,
            runtime.resend_policy,
            runtime.publish_released,
        )

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _fresh_after_fork(**_: Any) -> None:
        runtime.forget_after_fork()  # sockets and connections never cross a fork
        settle_heap(settings.gc_young_threshold)  # what the pool made since the parent's freeze
        if warm_sessions:
            threading.Thread(
                target=_warm, args=(runtime,), name="warm-sessions", daemon=True
            ).start()

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _close(**_: Any) -> None:
        runtime.close(drain=settings.response_timeout)  # what is in flight answered, then unbound

    return app


def _warm(runtime: WorkerRuntime) -> None:
    """Connect to the database, compile the claims and bind every carrier now, so the first
    OTP waits for none of them."""
    ctx = runtime.context()
    try:
        ctx.store.warm_up(datetime.now(UTC))  # connects, and compiles the claims
    except Exception as exc:
        log.warning("could not reach the database at start: %s", exc)
    ctx.snapshot()  # starts the health refresher
    pool = ctx.pool()
    for name in pool.endpoints:
        try:
            pool.session(name)
        except Exception as exc:  # a carrier down at start: the send path handles it later
            log.warning("could not bind %s at start: %s", name, exc)
