"""The send path's metrics, counted per batch from what the sender already holds.

`count_attempts` runs on the batch's recorder thread with each group of finished messages (one
counter write per carrier and result, not per message); `observe_settled` runs in the send loop
with the submits that just settled (one histogram write per submit: latency has no batch form).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from messaging import MessageClass
from metrics import OTP_LATENCY, count_submits, observe_submit_latency
from metrics.definitions import child
from store import AttemptResult, ClaimedMessage

_OTP = MessageClass.OTP.value


class _Attempted(Protocol):
    """A finished message of a batch: the message and its attempts (workers.sending._Job)."""

    @property
    def message(self) -> ClaimedMessage: ...
    @property
    def attempts(self) -> Sequence[AttemptResult]: ...


class _Candidate(Protocol):
    @property
    def carrier(self) -> str: ...


class _Settling(_Attempted, Protocol):
    @property
    def candidate(self) -> _Candidate | None: ...


def submit_result(attempt: AttemptResult) -> str:
    """The `result` label of one attempt: ok, throttled, or its error code."""
    if attempt.accepted:
        return "ok"
    code = attempt.error_code or "error"
    return "throttled" if code.startswith("throttled") else code


def count_attempts(done: Sequence[_Attempted]) -> None:
    """Count the submits of finished messages by carrier and result (every attempt once)."""
    counts: Counter[tuple[str, str]] = Counter(
        (a.carrier, submit_result(a)) for job in done for a in job.attempts
    )
    if counts:
        count_submits(counts)


def created_at(message_id: str) -> float:
    """Unix time a message was accepted, from its id (48-bit milliseconds first, store.ids)."""
    return int(message_id[:12], 16) / 1000


def observe_settled(
    settled: Sequence[tuple[_Settling, Sequence[concurrent.futures.Future[str]], float]],
    now: float,
) -> None:
    """Submit latency of submits that just settled (`now` on the sender's monotonic clock), and
    for accepted OTPs the time from the API's accept to the carrier's."""
    if not settled:
        return
    samples: list[tuple[str, float]] = []
    wall = time.time()
    for job, futures, sent_at in settled:
        candidate = job.candidate
        if candidate is None:
            continue
        samples.append((candidate.carrier, max(0.0, now - sent_at)))
        if job.message.message_class == _OTP and all(
            f.done() and f.exception() is None for f in futures
        ):
            child(OTP_LATENCY, candidate.carrier).observe(
                max(0.0, wall - created_at(job.message.id))
            )
    observe_submit_latency(samples)
