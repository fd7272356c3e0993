"""Every metric Switchboard exports, and the one-line helpers the call sites use.

Names follow Prometheus conventions: `switchboard_<what>_total` for counters, `_seconds` for
durations. Every metric has labels, so no value exists before the first `.labels()` call: the
multiprocess switch (`metrics.multiproc.enable`) may come after this module is imported, as long
as it comes before the first count. Children are cached (a `.labels()` lookup takes a lock).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

# Request latency: the API answers in ~1 ms; a group commit waits up to a few.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# submit_sm → submit_sm_resp, as the send loop sees it settle.
SUBMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# An OTP accepted by the API → accepted by the carrier (the user's wait before the SMS leaves).
OTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "switchboard_http_requests_total",
    "HTTP requests answered by the API, by route template, method and status",
    ("route", "method", "status"),
    registry=None,
)
HTTP_DURATION = Histogram(
    "switchboard_http_request_duration_seconds",
    "Time from request to response by route template and method",
    ("route", "method"),
    buckets=HTTP_BUCKETS,
    registry=None,
)
MESSAGES_ACCEPTED = Counter(
    "switchboard_messages_accepted_total",
    "Messages committed by the API (202), by traffic class",
    ("class",),
    registry=None,
)
SUBMITS = Counter(
    "switchboard_submits_total",
    "Submit attempts by carrier and result: ok, throttled, or the error code",
    ("carrier", "result"),
    registry=None,
)
SUBMIT_DURATION = Histogram(
    "switchboard_submit_duration_seconds",
    "submit_sm sent → its response settled in the send loop, by carrier",
    ("carrier",),
    buckets=SUBMIT_BUCKETS,
    registry=None,
)
RECEIPTS = Counter(
    "switchboard_receipts_total",
    "Delivery receipts committed, by carrier and receipt state",
    ("carrier", "state"),
    registry=None,
)
CALLBACKS = Counter(
    "switchboard_callbacks_total",
    "Status callback events by result: delivered, retried (a failed POST), gave_up",
    ("result",),
    registry=None,
)
OTP_SENDS = Counter(
    "switchboard_otp_sends_total",
    "OTP verifications started (result=sent) or refused (result=<problem code>)",
    ("result",),
    registry=None,
)
OTP_STARTED = Counter(
    "switchboard_otp_verifications_total",
    "OTP verifications created (conversion: checks{result=approved} / this), by channel",
    ("channel",),
    registry=None,
)
OTP_CHECKS = Counter(
    "switchboard_otp_checks_total",
    "OTP code checks by result: approved, wrong_code, refused (expired, used, too many)",
    ("result",),
    registry=None,
)
INBOUND_REPLIES = Counter(
    "switchboard_inbound_replies_total",
    "Automatic replies to MOs (HELP, STOP/START confirmations, auto-reply) by result: queued,"
    " or throttled (one of its kind went to the subscriber within `[replies] every_minutes`)",
    ("result",),
    registry=None,
)
OTP_LATENCY = Histogram(
    "switchboard_otp_latency_seconds",
    "An OTP message accepted by the API → accepted by a carrier, by carrier",
    ("carrier",),
    buckets=OTP_BUCKETS,
    registry=None,
)

ALL = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    MESSAGES_ACCEPTED,
    SUBMITS,
    SUBMIT_DURATION,
    RECEIPTS,
    CALLBACKS,
    OTP_SENDS,
    OTP_STARTED,
    OTP_CHECKS,
    OTP_LATENCY,
    INBOUND_REPLIES,
)

_children: dict[tuple[int, tuple[str, ...]], Any] = {}
_children_lock = threading.Lock()


def child(metric: Counter | Histogram, *labels: str) -> Any:
    """`metric.labels(*labels)`, cached: the hot path looks a child up without a lock."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        with _children_lock:
            found = _children.setdefault(key, metric.labels(*labels))
    return found


def count_submits(counts: Mapping[tuple[str, str], int]) -> None:
    """Add a batch's submits: (carrier, result) → how many."""
    for (carrier, result), n in counts.items():
        child(SUBMITS, carrier, result).inc(n)


def observe_many(histogram: Any, amounts: Iterable[float]) -> None:
    """`histogram.observe(a)` for each amount, one write per bucket hit instead of two writes per
    amount (a multiprocess write takes a lock). Uses the child's bucket values, which
    prometheus-client keeps per bucket (not cumulative); a unit test checks it against
    `observe`."""
    values = list(amounts)
    if not values:
        return
    bounds = histogram._upper_bounds
    hits = Tally(min(bisect.bisect_left(bounds, a), len(bounds) - 1) for a in values)
    histogram._sum.inc(sum(values))
    for index, n in hits.items():
        histogram._buckets[index].inc(n)


def observe_submit_latency(samples: Iterable[tuple[str, float]]) -> None:
    """(carrier, seconds) of settled submits: one histogram write per carrier and bucket."""
    by_carrier: dict[str, list[float]] = {}
    for carrier, seconds in samples:
        by_carrier.setdefault(carrier, []).append(seconds)
    for carrier, amounts in by_carrier.items():
        observe_many(child(SUBMIT_DURATION, carrier), amounts)


def count_receipts(counts: Mapping[tuple[str, str], int]) -> None:
    """Add a batch's committed receipts: (carrier, state) → how many."""
    for (carrier, state), n in counts.items():
        child(RECEIPTS, carrier, state).inc(n)


def count_accepted(counts: Mapping[str, int]) -> None:
    """Add a commit group's messages: class → how many."""
    for message_class, n in counts.items():
        child(MESSAGES_ACCEPTED, message_class).inc(n)


def count_callbacks(delivered: int, retried: int, gave_up: int) -> None:
    """Add one delivery task's events by result."""
    for result, n in (("delivered", delivered), ("retried", retried), ("gave_up", gave_up)):
        if n:
            child(CALLBACKS, result).inc(n)


def count_replies(queued: int, throttled: int) -> None:
    """Add one MO batch's automatic replies: queued, and suppressed by the throttle."""
    for result, n in (("queued", queued), ("throttled", throttled)):
        if n:
            child(INBOUND_REPLIES, result).inc(n)


def count_otp(metric: Counter, result: str) -> None:
    """One OTP send, verification or check (`OTP_SENDS`, `OTP_STARTED`, `OTP_CHECKS`)."""
    child(metric, result).inc()


def http_observer() -> Callable[[str, str, int, float], None]:
    """A function counting one answered request: (route template, method, status, seconds)."""

    def observe(route: str, method: str, status: int, seconds: float) -> None:
        child(HTTP_REQUESTS, route, method, str(status)).inc()
        child(HTTP_DURATION, route, method).observe(seconds)

    return observe
