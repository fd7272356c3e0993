"""Celery app and tasks: send (route, token, submit, fail over), reconcile receipts, sweep,
callbacks."""

from workers.bind_report import BindReporter, FailOpenWrites, read_binds
from workers.callbacks import CALLBACKS_QUEUE, render_batch, render_event, sign, verify
from workers.celery_app import CLASS_QUEUES, RECEIPTS_QUEUE, make_celery
from workers.config import WorkerSettings
from workers.leader import RedisSweeperLock, SweeperStatus
from workers.pacer import bucket_shape
from workers.receipts import ReceiptForwarder
from workers.sending import Sender, SendStats, bucket_key, pace_key
from workers.state_log import STATE_LOGGER, log_status_changes
from workers.sweeper_process import sweeper_status as read_sweeper_status
from workers.tasks import (
    CALLBACKS_RETRY_TASK,
    CALLBACKS_TASK,
    RECONCILE_TASK,
    SEND_TASK,
    SWEEP_TASK,
    CeleryOutbox,
)

__all__ = [
    "CALLBACKS_QUEUE",
    "CALLBACKS_RETRY_TASK",
    "CALLBACKS_TASK",
    "CLASS_QUEUES",
    "RECEIPTS_QUEUE",
    "RECONCILE_TASK",
    "SEND_TASK",
    "STATE_LOGGER",
    "SWEEP_TASK",
    "BindReporter",
    "CeleryOutbox",
    "FailOpenWrites",
    "ReceiptForwarder",
    "RedisSweeperLock",
    "SendStats",
    "Sender",
    "SweeperStatus",
    "WorkerSettings",
    "bucket_key",
    "bucket_shape",
    "log_status_changes",
    "make_celery",
    "pace_key",
    "read_binds",
    "read_sweeper_status",
    "render_batch",
    "render_event",
    "sign",
    "verify",
]
