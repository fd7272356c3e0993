"""The send path of one batch: route, take MPS tokens, submit windowed, fail over, record.

Each message walks its ordered candidate list. A transient carrier error (throttled, system
error, timeout, unbound) moves it to the next candidate; a permanent one fails it; when every
candidate failed it goes back to `queued` with a `next_attempt_at` (retry kept in the database,
released by the sweeper) until its validity ends.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from carriers import (
    HealthStore,
    SubmitPart,
    build_parts,
    counts_as_failure,
    normalize_message_id,
    reference_for,
)
from inbound import RecipientOptedOut
from messaging import (
    CarrierError,
    LeasePolicy,
    MessageClass,
    PermanentCarrierError,
    Segmentation,
    Status,
    Throttled,
    TransientCarrierError,
    segment,
)
from ratelimit import TokenBuckets
from routing import Candidate, RouteRequest, RoutingTable, Snapshot, route
from store import (
    AttemptResult,
    ClaimedMessage,
    MessageStore,
    SendLease,
    SendOutcome,
    StatusChange,
)
from workers.lease_keeper import LeaseKeeper, lease_owner

log = logging.getLogger(__name__)

# Carriers count MPS over any 1-s window. A token bucket lets `rate + capacity` through in one
# second, and the time between taking a token and the PDU reaching the carrier varies (window
# waits, scheduling), so we keep a small burst and pace a little under the limit.
BUCKET_BURST_SHARE = 0.02  # capacity: 2% of a second's tokens (at least one PDU)
MPS_HEADROOM = 0.95  # pace at 95% of what is left: absorbs ~50 ms of delivery jitter
# A marketing lane its bucket left short asks again only once half a bucket has refilled
# (~10 ms), not on every submit_sm_resp that wakes the loop: that was a Redis round trip per
# message or two. Half, so the bucket never overflows between two processes' asks.
BULK_REFILL_SHARE = 0.5


class Submitter(Protocol):
    """What the sender needs of a carrier session."""

    def submit(self, part: SubmitPart) -> concurrent.futures.Future[str]:
        """Send one submit_sm; the future gives the carrier message id."""
        ...


def bucket_key(carrier: str) -> str:
    """Redis key of a carrier's MPS bucket, shared by every worker process."""
    return f"carrier:{carrier}"


def bulk_bucket_key(carrier: str) -> str:
    """Redis key of the marketing share of a carrier's MPS."""
    return f"carrier:{carrier}:bulk"


def bucket_shape(mps: float) -> tuple[float, float]:
    """(rate, capacity) of our bucket for a carrier limit of `mps` over any 1-s window."""
    capacity = max(1.0, mps * BUCKET_BURST_SHARE)
    return max(0.5, (mps - capacity) * MPS_HEADROOM), capacity


@dataclass
class _Job:
    message: ClaimedMessage
    segmentation: Segmentation
    candidates: list[Candidate]
    index: int = 0
    attempts: list[AttemptResult] = field(default_factory=list)
    outcome: SendOutcome | None = None

    @property
    def candidate(self) -> Candidate | None:
        return self.candidates[self.index] if self.index < len(self.candidates) else None


_InFlight = tuple[_Job, list[concurrent.futures.Future[str]], float]  # job, parts, sent at
RECORD_EVERY = 100  # finished messages per store write…
RECORD_INTERVAL = 0.05  # …or this often, so receipts rarely race ahead of their attempt rows


@dataclass
class SendStats:
    """What one batch did, for logs and tests."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    failovers: int = 0
    token_waits: int = 0


class Sender:
    """Sends batches of message ids; every collaborator is injected (real or twin)."""

    def __init__(
        self,
        store: MessageStore,
        routes: Callable[[], RoutingTable],
        buckets: TokenBuckets,
        sessions: Callable[[str], Submitter],
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        *,
        response_timeout: float = 10.0,
        token_wait_max: float = 0.5,
        retry_backoff: float = 5.0,
        snapshot: Callable[[], Snapshot] = Snapshot.empty,
        batch_max: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
        health: HealthStore | None = None,
        account_names: dict[str, str] | None = None,
        leases: LeasePolicy | None = None,
    ) -> None:
        self.store = store
        self.routes = routes
        self.buckets = buckets
        self.sessions = sessions
        self.clock = clock
        self.sleep = sleep
        self.response_timeout = response_timeout
        self.token_wait_max = token_wait_max
        self.retry_backoff = retry_backoff
        self.snapshot = snapshot
        self.batch_max = batch_max
        self.monotonic = monotonic
        self.health = health
        self.leases = leases or LeasePolicy()
        self._tally: dict[str, Counter[str]] = defaultdict(Counter)
        self._bulk_ready_at: dict[str, float] = {}  # carrier → when its bulk lane may ask again
        # Account id → name (names never change): share one dict across batches of a process.
        self._account_names = account_names if account_names is not None else {}

    def send(
        self, ids: list[str], fill_class: str | None = None
    ) -> tuple[SendStats, list[StatusChange]]:
        """Claim (topped up from the `fill_class` backlog), route, submit, record one batch."""
        stats = SendStats()
        now = self.clock()
        lease = SendLease(lease_owner(), self.leases.until(now))
        claimed = self.store.claim(ids, now, fill_class, self.batch_max, lease)
        stats.claimed = len(claimed)
        if not claimed:
            return stats, []
        held = [m.id for m in claimed]
        with LeaseKeeper(self.store.renew_leases, lease.owner, held, self.leases, self.clock):
            table = self.routes()
            snapshot = self.snapshot()
            unknown = {m.account_id for m in claimed} - self._account_names.keys()
            self._account_names.update(self.store.account_names(unknown))
            opted_out = self._opted_out(claimed)
            jobs = [self._plan(m, table, snapshot, m.id in opted_out) for m in claimed]

            def record(
                done: list[_Job], stats: SendStats, tally: Mapping[str, Counter[str]]
            ) -> list[StatusChange]:
                return self._record(done, stats, tally, lease.owner)

            with _Recorder(record, stats) as recorder:
                recorder.add([j for j in jobs if j.outcome is not None], self._take_tally())
                self._pipeline([j for j in jobs if j.outcome is None], table, stats, recorder)
                return stats, recorder.changes()

    def _pipeline(
        self, pending: list[_Job], table: RoutingTable, stats: SendStats, recorder: _Recorder
    ) -> None:
        """Tokens are taken and parts submitted while earlier parts are still awaiting their
        submit_sm_resp; finished messages go to the recorder thread in groups, so writing them
        never pauses the token takes (a bucket holds only ~20 ms of tokens)."""
        in_flight: list[_InFlight] = []
        finished: list[_Job] = []
        recorded_at = self.monotonic()
        while pending or in_flight:
            recorder.raise_failure()
            submitted, pending, wait = self._dispatch(pending, table)
            in_flight += submitted
            settled, in_flight = self._collect(in_flight)
            for job, futures, _ in settled:
                self._settle(job, futures, stats)
                (finished if job.outcome is not None else pending).append(job)
            now = self.monotonic()
            if finished and (
                len(finished) >= RECORD_EVERY
                or now - recorded_at >= RECORD_INTERVAL
                or not (pending or in_flight)
            ):
                recorder.add(finished, self._take_tally())
                finished, recorded_at = [], now
            if submitted or settled:
                continue
            if in_flight:  # nothing moved: wait for the next response (or for tokens)
                futures = [f for _, fs, _ in in_flight for f in fs]
                timeout = min(wait, RECORD_INTERVAL) if pending else RECORD_INTERVAL
                concurrent.futures.wait(futures, timeout, concurrent.futures.FIRST_COMPLETED)
            elif pending:
                stats.token_waits += 1
                self.sleep(max(wait, 0.002))
        recorder.add(finished, self._take_tally())

    def _take_tally(self) -> dict[str, Counter[str]]:
        """The health counts settled so far (handed to the recorder with their messages)."""
        tally, self._tally = self._tally, defaultdict(Counter)
        return tally

    def _collect(self, in_flight: list[_InFlight]) -> tuple[list[_InFlight], list[_InFlight]]:
        """Split in-flight submits into settled ones (or overdue: the session failed to time
        them out) and those still waiting."""
        overdue = self.monotonic() - self.response_timeout - 1
        settled: list[_InFlight] = []
        waiting: list[_InFlight] = []
        for entry in in_flight:
            _, futures, sent_at = entry
            done = sent_at < overdue or all(f.done() for f in futures)
            (settled if done else waiting).append(entry)
        return settled, waiting

    def _record(
        self,
        done: list[_Job],
        stats: SendStats,
        tally: Mapping[str, Counter[str]],
        owner: str,
    ) -> list[StatusChange]:
        if self.health is not None:
            for carrier, counts in tally.items():
                self.health.add(carrier, **counts)
        outcomes = [j.outcome for j in done if j.outcome is not None]
        if not outcomes:
            return []
        for o in outcomes:
            if o.status == Status.SENT.value:
                stats.sent += 1
            elif o.status == Status.QUEUED.value:
                stats.retry_later += 1
            else:
                stats.failed += 1
        return self.store.record_outcomes(outcomes, self.clock(), lease_owner=owner)

    def _opted_out(self, claimed: list[ClaimedMessage]) -> set[str]:
        """Ids of claimed marketing messages whose recipient opted out since they were queued."""
        marketing = [m for m in claimed if m.message_class == MessageClass.MARKETING.value]
        if not marketing:
            return set()
        found = self.store.opted_out([(m.account_id, m.to) for m in marketing])
        return {m.id for m in marketing if (m.account_id, m.to) in found}

    def _plan(
        self,
        message: ClaimedMessage,
        table: RoutingTable,
        snapshot: Snapshot,
        opted_out: bool = False,
    ) -> _Job:
        seg = segment(message.body)
        if opted_out:  # checked again at send time: a STOP may come after the message was queued
            outcome = SendOutcome(message.id, (), Status.REJECTED.value, RecipientOptedOut.code)
            return _Job(message, seg, [], outcome=outcome)
        request = RouteRequest(
            message_id=message.id,
            to=message.to,
            message_class=MessageClass(message.message_class),
            segments=seg.segments,
            encoding=seg.encoding,
            sender=message.sender,
            account=self._account_names.get(message.account_id),
        )
        candidates = route(request, table, snapshot)
        if message.tried_carriers:  # a resend (e.g. an undelivered OTP): untried carriers first
            tried = set(message.tried_carriers)
            candidates = [c for c in candidates if c.carrier not in tried] + [
                c for c in candidates if c.carrier in tried
            ]
        job = _Job(message, seg, candidates)
        if not job.candidates:
            if table.blocked_prefix(request.account, message.to) is not None:
                job.outcome = SendOutcome(message.id, (), Status.REJECTED.value, "account_blocked")
            else:
                job.outcome = SendOutcome(message.id, (), Status.FAILED.value, "no_route")
        return job

    def _dispatch(
        self, jobs: list[_Job], table: RoutingTable
    ) -> tuple[list[_InFlight], list[_Job], float]:
        """Take tokens and submit what they allow; return (submitted, still pending, wait)."""
        lanes: dict[tuple[str, bool], list[_Job]] = defaultdict(list)
        for job in jobs:
            candidate = job.candidate
            assert candidate is not None
            bulk = job.message.message_class == MessageClass.MARKETING.value
            lanes[(candidate.carrier, bulk)].append(job)
        submitted: list[_InFlight] = []
        waiting: list[_Job] = []
        shortest_wait = self.token_wait_max
        for (carrier, bulk), group in sorted(lanes.items(), key=lambda lane: lane[0][1]):
            spec = table.carriers[carrier]  # priority lane (bulk=False) sorts first
            now = self.monotonic()
            if bulk and now < self._bulk_ready_at.get(carrier, now):
                waiting += group  # its bucket was short a moment ago: let it refill first
                shortest_wait = min(shortest_wait, self._bulk_ready_at[carrier] - now)
                continue
            wanted = sum(j.segmentation.segments for j in group)
            share = spec.otp_reserved_share if bulk else 0.0
            budget, rate = self.take_tokens(carrier, float(spec.mps), share, wanted)
            if bulk and budget < wanted:
                _, capacity = bucket_shape(spec.mps * (1 - share))
                self._bulk_ready_at[carrier] = now + capacity * BULK_REFILL_SHARE / rate
            backlog = 0
            for job in group:
                needed = job.segmentation.segments
                if needed <= budget:
                    budget -= needed
                    submitted.append((job, self._submit(job), self.monotonic()))
                    continue
                backlog += needed
                if backlog / rate > self.token_wait_max and job.index + 1 < len(job.candidates):
                    job.index += 1  # this carrier is saturated for a while: spill to the next one
                else:
                    shortest_wait = min(shortest_wait, needed / rate)
                waiting.append(job)
        return submitted, waiting, shortest_wait

    def take_tokens(
        self, carrier: str, mps: float, reserved_share: float, wanted: int
    ) -> tuple[int, float]:
        """Take up to `wanted` PDU tokens; returns (granted, pacing rate of the lane).

        Every PDU takes from the carrier's bucket (the carrier's limit, cluster-wide). Marketing
        also takes from a bulk bucket at `(1 - reserved_share)` of the limit first, so OTP and
        transactional traffic always find that share free (ARCHITECTURE.md invariant 3).
        """
        rate, capacity = bucket_shape(mps)
        if reserved_share > 0:  # both buckets in one decision, one Redis call
            bulk_rate, bulk_capacity = bucket_shape(mps * (1 - reserved_share))
            both = [
                (bulk_bucket_key(carrier), bulk_rate, bulk_capacity),
                (bucket_key(carrier), rate, capacity),
            ]
            return self.buckets.take_chain(both, wanted).granted, bulk_rate
        grant = self.buckets.take(bucket_key(carrier), rate, capacity, wanted, partial=True)
        return grant.granted, rate

    def _submit(self, job: _Job) -> list[concurrent.futures.Future[str]]:
        candidate = job.candidate
        assert candidate is not None
        parts = build_parts(
            job.message.sender, job.message.to, job.segmentation, reference_for(job.message.id)
        )
        futures: list[concurrent.futures.Future[str]] = []
        try:
            session = self.sessions(candidate.carrier)
            futures.extend(session.submit(part) for part in parts)
        except CarrierError as exc:
            failed: concurrent.futures.Future[str] = concurrent.futures.Future()
            failed.set_exception(exc)
            futures.append(failed)
        return futures

    def _settle(
        self, job: _Job, futures: list[concurrent.futures.Future[str]], stats: SendStats
    ) -> None:
        candidate = job.candidate
        assert candidate is not None
        ids: list[str] = []
        error: BaseException | None = None
        for future in futures:
            try:
                ids.append(normalize_message_id(future.result(timeout=0)))
            except concurrent.futures.TimeoutError as exc:
                error = error or exc
            except Exception as exc:
                error = error or exc
        tally = self._tally[candidate.carrier]
        if error is None:
            tally["ok"] += 1
            job.attempts.append(self._attempt(job, candidate, True, None, tuple(ids)))
            job.outcome = SendOutcome(job.message.id, tuple(job.attempts), Status.SENT.value)
            return
        code = _error_code(error)
        tally["throttled" if isinstance(error, Throttled) else "error"] += 1
        if isinstance(error, CarrierError | concurrent.futures.TimeoutError) and (
            not isinstance(error, CarrierError) or counts_as_failure(error)
        ):
            tally["failure"] += 1  # the carrier itself is failing: feeds its circuit
        job.attempts.append(self._attempt(job, candidate, False, code, ()))
        if isinstance(error, PermanentCarrierError):
            job.outcome = SendOutcome(
                job.message.id, tuple(job.attempts), Status.FAILED.value, code
            )
            return
        if not isinstance(error, TransientCarrierError | concurrent.futures.TimeoutError):
            log.error("unexpected error submitting %s: %r", job.message.id, error)
        stats.failovers += 1
        self._advance(job, code)

    def _advance(self, job: _Job, code: str | None) -> None:
        job.index += 1
        if job.candidate is not None:
            return
        now = self.clock()
        tries = job.message.attempt_count + len(job.attempts)
        retry_at = now + timedelta(seconds=min(self.retry_backoff * 2 ** max(tries - 1, 0), 600))
        if retry_at >= job.message.valid_until:
            job.outcome = SendOutcome(
                job.message.id, tuple(job.attempts), Status.FAILED.value, code or "no_capacity"
            )
        else:
            job.outcome = SendOutcome(
                job.message.id,
                tuple(job.attempts),
                Status.QUEUED.value,
                code or "no_capacity",
                retry_at,
            )

    @staticmethod
    def _attempt(
        job: _Job, candidate: Candidate, accepted: bool, code: str | None, ids: tuple[str, ...]
    ) -> AttemptResult:
        return AttemptResult(
            # The first try of a message taken back from a dead batch: that batch may have
            # submitted it too (at-least-once to the carrier, counted once in the books).
            resubmitted_after_crash=job.message.recovered and not job.attempts,
            carrier=candidate.carrier,
            route=candidate.route,
            cost=Decimal(candidate.cost),
            currency=candidate.currency,
            accepted=accepted,
            error_code=code,
            carrier_message_ids=ids,
        )


class _Recorder:
    """Writes finished messages on one background thread, in the order they were added."""

    def __init__(
        self,
        record: Callable[[list[_Job], SendStats, Mapping[str, Counter[str]]], list[StatusChange]],
        stats: SendStats,
    ) -> None:
        self._record = record
        self._stats = stats
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="record")
        self._writes: list[concurrent.futures.Future[list[StatusChange]]] = []

    def add(self, done: list[_Job], tally: Mapping[str, Counter[str]]) -> None:
        """Queue one group for writing (a copy: the caller reuses its list)."""
        if done or tally:
            self._writes.append(self._executor.submit(self._record, list(done), self._stats, tally))

    def raise_failure(self) -> None:
        """Stop the batch at the first failed write (the task fails; the sweeper takes over)."""
        for write in self._writes:
            if write.done() and write.exception() is not None:
                write.result()

    def changes(self) -> list[StatusChange]:
        """Wait for every write; their status changes, in order."""
        return [change for write in self._writes for change in write.result()]

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *_: object) -> None:
        self._executor.shutdown(wait=True)  # never leave a write running behind the task


_CODES: Mapping[str, str] = {
    "Throttled": "throttled",
    "CarrierSystemError": "carrier_system_error",
    "ResponseTimeout": "response_timeout",
    "Unbound": "unbound",
    "TimeoutError": "response_timeout",
}


def _error_code(error: BaseException) -> str:
    name = type(error).__name__
    if isinstance(error, CarrierError) and error.status is not None:
        return f"{_CODES.get(name, 'carrier_error')}:0x{error.status:02X}"
    return _CODES.get(name, "internal_error")
