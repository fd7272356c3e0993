"""Prometheus metrics of every Switchboard process: one module of definitions all layers may
import, multiprocess storage (prefork workers, API processes sharing a port) and exposition.

Imports nothing of ours (a layer of its own, beside `messaging`). Hooks at the call sites are
one line each and count per batch where batches exist: a counter in multiprocess mode is a
locked write into a memory-mapped file (~1-2 µs), so the hot path pays per batch, not per message.
"""

from metrics.definitions import (
    CALLBACKS,
    HTTP_DURATION,
    HTTP_REQUESTS,
    INBOUND_REPLIES,
    MESSAGES_ACCEPTED,
    OTP_CHECKS,
    OTP_LATENCY,
    OTP_SENDS,
    OTP_STARTED,
    RECEIPTS,
    SUBMIT_DURATION,
    SUBMITS,
    count_accepted,
    count_callbacks,
    count_otp,
    count_receipts,
    count_replies,
    count_submits,
    http_observer,
    observe_submit_latency,
)
from metrics.exposition import CONTENT_TYPE, render, samples, serve
from metrics.multiproc import (
    current_dir,
    enable,
    is_enabled,
    mark_dead,
    process_dir,
    prune_dead,
)

__all__ = [
    "CALLBACKS",
    "CONTENT_TYPE",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "INBOUND_REPLIES",
    "MESSAGES_ACCEPTED",
    "OTP_CHECKS",
    "OTP_LATENCY",
    "OTP_SENDS",
    "OTP_STARTED",
    "RECEIPTS",
    "SUBMITS",
    "SUBMIT_DURATION",
    "count_accepted",
    "count_callbacks",
    "count_otp",
    "count_receipts",
    "count_replies",
    "count_submits",
    "current_dir",
    "enable",
    "http_observer",
    "is_enabled",
    "mark_dead",
    "observe_submit_latency",
    "process_dir",
    "prune_dead",
    "render",
    "samples",
    "serve",
]
