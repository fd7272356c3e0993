"""The send path of one batch: route, take MPS tokens, submit windowed, fail over, record.

Each message walks its ordered candidate list. A transient carrier error (throttled, system
error, timeout, unbound) moves it to the next candidate; a permanent one fails it; when every
candidate failed it goes back to `queued` with a `next_attempt_at` (retry kept in the database,
released by the sweeper) until its validity ends.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from carriers import (
    SLOW_SUBMIT,
    HealthStore,
    SlotMissed,
    SubmitPart,
    build_parts,
    counts_as_failure,
    normalize_message_id,
    reference_for,
    status_name,
)
from inbound import RecipientOptedOut
from messaging import (
    Action,
    CarrierError,
    CarrierSystemError,
    CircuitOpen,
    LeasePolicy,
    MessageClass,
    PermanentCarrierError,
    RetryPolicy,
    Segmentation,
    Status,
    Throttled,
    TransientCarrierError,
    next_action,
    segment,
)
from ratelimit import FAILURE_RETRY_AFTER, Grant, Pacing, SenderLeases, TokenBuckets
from routing import (
    Candidate,
    CarrierPacing,
    Circuit,
    RouteRequest,
    RoutingTable,
    Snapshot,
    route,
    take_now,
)
from store import (
    AttemptResult,
    ClaimedMessage,
    MessageStore,
    SendLease,
    SendOutcome,
    StatusChange,
)
from workers.instruments import count_attempts, observe_settled
from workers.lease_keeper import LeaseKeeper, lease_owner
from workers.pacer import (
    GAP_MARGIN,
    PROCESS_STORE_CLOCK,
    TENURE_POLL,
    TENURE_TTL,
    ClockOffset,
    LocalTenure,
    Pacer,
    book_ahead,
    bucket_shape,
    handover_guard,
    priority_hole,
    priority_late,
    priority_slots,
    reserve_floor,
)
from workers.process_redis import PerProcess
from workers.uncommitted import UncommittedIds

log = logging.getLogger(__name__)

# A throttled message is tried again on the same carrier (its pace cut) this many times in a
# batch before it moves on to its next candidate.
THROTTLE_RETRIES = 3
# A marketing lane books tokens up to this long before they refill (and sends each no earlier
# than it is due): a bucket of one or two tokens then never sits full between two asks. It is
# also the most an OTP waits behind marketing's bookings.
BOOK_AHEAD = 0.005
# For this long after an OTP/transactional lane found the bucket short, marketing books nothing
# ahead and takes only from a full bucket: the waiting OTP gets the next refills.
YIELD_TO_PRIORITY = 0.05
# A marketing lane asks for half of what its bucket holds above the floor, and when short asks
# again only once that much has refilled (`retry_after`), not on every submit_sm_resp that
# wakes the loop: that was a Redis round trip per message or two.
BULK_REFILL_SHARE = 0.5
# A careful lane (one slot at a time: its carrier's tenure, or a cut pace) due this soon waits
# for its slot in place rather than in the next pass of the pipeline loop, which made every
# slot late for good (no catch-up under 1/M; docs/performance.md, pacing2).
PRECISE_WAIT = 0.003
# A careful lane hands its PDU to the session this long before its slot; the session waits the
# rest after encoding it, right before the write (`SmppSession.submit(not_before=…)`): waking
# at the slot itself put the encoding, and the sleep's overshoot, into every gap (the mode of
# the gaps was 1/M + 100-200 µs at M = 200, against the 76 µs of slack).
WRITE_LEAD = 0.0005


# A refused priority lane asks again this long after the bucket holds its parts: the refill's
# float arithmetic must not refuse it again by 1e-7 s.
REFILL_MARGIN = 0.00005


# When a marketing lane takes its carrier's tenure (one sender at a time): "cut", while the
# carrier's pace is cut (it throttled: it may count gaps); "always", for every carrier — which
# meets burst 1 from the first PDU but caps every lane at one process (strict carriers at
# M >= 200 and OTP behind a backlog lost by it: docs/performance.md, pacing2). For carriers
# whose routes-file `pacing` is "auto"; "burst1" is always, "window" never.
OneSender = Literal["always", "cut"]


class Submitter(Protocol):
    """What the sender needs of a carrier session."""

    @property
    def written_at(self) -> float:
        """Monotonic time the last write on the wire ended (inf: no wire to write on)."""
        ...

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> concurrent.futures.Future[str]:
        """Send one submit_sm, its write not before monotonic `not_before` if given, and not
        at all past `not_after` (raises SlotMissed); the future gives the carrier message id."""
        ...


def bucket_key(carrier: str) -> str:
    """Redis key of a carrier's MPS bucket, shared by every worker process."""
    return f"carrier:{carrier}"


def pace_key(carrier: str) -> str:
    """Redis key of a carrier's adaptive pace (AIMD), shared by every worker process."""
    return f"carrier:{carrier}:pace"


@dataclass
class _Job:
    message: ClaimedMessage
    segmentation: Segmentation
    candidates: list[Candidate]
    index: int = 0
    attempts: list[AttemptResult] = field(default_factory=list)
    throttled: int = 0  # throttles on the current candidate
    probe_for: str | None = None  # the half-open carrier this message holds a probe of
    outcome: SendOutcome | None = None
    # The parts of the try on the current candidate submitted so far (a paced lane sends
    # each at a slot of its own), their futures, and when the last went (its latency and
    # its timeout count from there).
    futures: list[concurrent.futures.Future[str]] = field(default_factory=list)
    sent_at: float = 0.0
    parts: list[SubmitPart] | None = None  # built once, at its first submit
    spill: bool = False  # its route spills: it goes to the first untried candidate with tokens

    @property
    def parts_left(self) -> int:
        """Parts of the try on the current candidate not submitted yet."""
        return self.segmentation.segments - len(self.futures)

    @property
    def candidate(self) -> Candidate | None:
        return self.candidates[self.index] if self.index < len(self.candidates) else None


def _spills(job: _Job) -> bool:
    """Whether the job may go to a later candidate with tokens now: its route spills, no part
    of it went out on the current one (those stay), and it is not being tried again on a
    carrier that throttled it (that waits for the carrier's cut pace)."""
    return job.spill and not job.futures and not job.throttled


def _usable(job: _Job) -> list[Candidate]:
    """The candidates that may take the job now: every untried one when it spills, else the
    current one."""
    if _spills(job):
        return job.candidates[job.index :]
    return job.candidates[job.index : job.index + 1]


def _move_to(job: _Job, position: int) -> None:
    """Make candidate `position` the one tried now, the untried others after it in their
    order: a failure there fails over to them (the cheaper one it spilled from included)."""
    start = job.index
    if position == start:
        return
    candidates = job.candidates
    job.candidates = [
        *candidates[:start],
        candidates[position],
        *candidates[start:position],
        *candidates[position + 1 :],
    ]
    job.throttled = 0


# Seconds of a lane's tokens one priority take on a one-sender lane places (its pass sleeps
# between their slots): a 200-MPS carrier places 19 PDUs a take, 90% of its slots with the holes.
PRIORITY_TAKE = 0.1


def _most_priority_parts(rate: float) -> int:
    """PDUs one priority take on a one-sender lane may place at `rate` tokens/s."""
    return max(1, math.floor(rate * PRIORITY_TAKE))


def _most_tokens(mps: float) -> int:
    """The most tokens one take of a carrier's bucket can bring: what it holds, plus what a
    marketing lane books ahead (so a pass never wants more)."""
    rate, capacity = bucket_shape(mps)
    return int(capacity + rate * BOOK_AHEAD) + 1


class _SubmitParts(Protocol):
    """`Sender._submit`: a job's next `count` parts, written not before / not after."""

    def __call__(
        self,
        job: _Job,
        count: int,
        not_before: float | None = None,
        not_after: float | None = None,
    ) -> float: ...


@dataclass
class _LaneBudget:
    """What one carrier lane may send in one pass of the pipeline."""

    carrier: str
    budget: int  # due slots (marketing) or tokens taken (priority lane)
    rate: float  # the lane's rate, for how long its backlog waits
    wait: float  # seconds until its next slot or ask
    pacer: Pacer | None  # the marketing lane's; None for the priority lane
    level: float | None = None  # the bucket's level after a short priority take

    def refill_wait(self, parts: int) -> float:
        """Seconds until a waiting message of `parts` may ask again: a refused priority
        lane when the bucket holds them (`REFILL_MARGIN` after), else a token's time a part."""
        if self.level is None:
            return parts / self.rate
        return max(0.0, parts - self.level) / self.rate + REFILL_MARGIN

    def can_take(self, needed: int) -> bool:
        """Whether a message with `needed` parts left may go now (a paced lane sends a part
        per slot: one due slot is enough to start)."""
        if self.pacer is None:
            return needed <= self.budget
        return self.budget > 0 and self.pacer.credit > 0

    def spend(self, job: _Job, submit: _SubmitParts) -> None:
        """Submit what the budget covers of `job` on this lane."""
        pacer = self.pacer
        if pacer is None:
            self.budget -= job.parts_left
            submit(job, job.parts_left)
            return
        # Each part at a slot of its own, like any PDU: sent back to back, a burst-1
        # carrier refused the second.
        while self.budget > 0 and pacer.credit > 0 and job.parts_left:
            self.budget -= 1
            slot = pacer.due_at() if pacer.careful else None  # written at it, not before
            parts_left = job.parts_left
            sent_at = submit(job, 1, slot, pacer.next_at + pacer.late_limit)
            if job.parts_left == parts_left:  # later than its hole allows: a new take
                pacer.credit = 0
                break
            pacer.spend(1, sent_at)  # the next gap counts from the write


class _PassLanes:
    """The lanes one pass of the pipeline has asked about, each fetched on first use."""

    def __init__(
        self,
        fetch: Callable[[str, bool, int], _LaneBudget],
        most: Callable[[str], int],
        ordered: list[_Job],
    ) -> None:
        self._fetch = fetch  # (carrier, bulk, tokens wanted) -> its budget
        self._most = most  # carrier -> the most tokens one take of its bucket can bring
        self._ordered = ordered
        self._lanes: dict[tuple[str, bool], _LaneBudget] = {}

    def get(self, carrier: str, bulk: bool, position: int) -> _LaneBudget:
        """The lane's budget; the first ask wants the parts of the jobs from `position` on
        that may use it (counted up to what one take can bring: a pass is per token slot)."""
        lane = self._lanes.get((carrier, bulk))
        if lane is None:
            most = self._most(carrier)
            wanted = 0
            for j in self._ordered[position:]:
                if _bulk(j) is bulk and any(c.carrier == carrier for c in _usable(j)):
                    wanted += j.parts_left
                    if wanted >= most:
                        break
            lane = self._lanes[(carrier, bulk)] = self._fetch(carrier, bulk, max(1, wanted))
        return lane

    def can_take(self, bulk: bool, position: int, needed: int, carrier: str) -> bool:
        """Whether `carrier`'s lane can take a message of `needed` parts now."""
        return self.get(carrier, bulk, position).can_take(needed)

    def dry(self, carriers: Iterable[str], bulk: bool) -> bool:
        """Whether every one of these lanes was asked this pass and has nothing left."""
        lanes = self._lanes
        for carrier in carriers:
            lane = lanes.get((carrier, bulk))
            if lane is None or lane.budget > 0:
                return False
        return True

    def waits(self) -> list[float]:
        """Each fetched lane's seconds until its next slot or ask."""
        return [lane.wait for lane in self._lanes.values()]


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
    throttled: int = 0


_MARKETING = MessageClass.MARKETING.value  # an enum's .value is a descriptor call: read it once


def _bulk(job: _Job) -> bool:
    """A marketing message: paced, on the lane that yields to OTP and transactional."""
    return job.message.message_class == _MARKETING


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
        pacing: Pacing | None = None,
        after_write: Callable[[list[StatusChange]], None] | None = None,
        uncommitted: UncommittedIds | None = None,
        senders: SenderLeases | None = None,
        one_sender: OneSender = "cut",
    ) -> None:
        """`after_write` gets the status changes of every committed group of outcomes, on the
        writing thread, as soon as they are committed (callbacks go out while the batch runs);
        what it raises is logged, never undoes the write. `uncommitted` learns each carrier
        message id as its submit_sm_resp arrives and forgets it once its message is written
        (the receipt forwarder holds receipts for those ids until then). With `senders`, a
        carrier's marketing lane sends from one process at a time (see `_hold_tenure`):
        while the carrier's pace is cut (it throttled lately: it may count gaps, as a burst-1
        carrier does) with `one_sender="cut"`, always with `"always"`."""
        self.store = store
        self.routes = routes
        self.buckets = buckets
        self.sessions = sessions
        self.clock = clock
        self.sleep = sleep
        self.response_timeout = response_timeout
        self.token_wait_max = token_wait_max
        self.retry_backoff = retry_backoff
        self._retry_policy = RetryPolicy(retry_backoff, max(600.0, retry_backoff))
        self.snapshot = snapshot
        self.batch_max = batch_max
        self.monotonic = monotonic
        self.health = health
        self.leases = leases or LeasePolicy()
        self.pacing = pacing or Pacing()
        self.after_write = after_write
        self.uncommitted = uncommitted
        self._pacers: dict[str, Pacer] = defaultdict(Pacer)  # marketing lane per carrier
        # The bucket store's clock, for the pacers' slots: one estimate per process when on its
        # monotonic clock (a Sender lives one batch; an OTP batch's only sample was its one
        # take, whose round trip on a loaded host put its slot ms off: a throttle at 100 MPS).
        self._store_clock = PROCESS_STORE_CLOCK if monotonic is time.monotonic else ClockOffset()
        self.senders = senders
        self.one_sender = one_sender
        self._cut: dict[str, bool] = {}  # carrier → its pace was cut at the last take
        self._holder = uuid.uuid4().hex  # this Sender's tenures (one per batch)
        self._tenures: dict[str, LocalTenure] = defaultdict(LocalTenure)  # by carrier
        self._limits: dict[str, float] = {}  # carrier → its MPS at its pace, last seen
        self._tally: dict[str, Counter[str]] = defaultdict(Counter)
        self._bulk_ready_at: dict[str, float] = {}  # carrier → when its bulk lane may ask again
        self._half_open: set[str] = set()  # carriers whose circuit is half-open this batch
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
            self._half_open = {
                name for name, h in snapshot.states.items() if h.circuit is Circuit.HALF_OPEN
            }
            unknown = {m.account_id for m in claimed} - self._account_names.keys()
            self._account_names.update(self.store.account_names(unknown))
            opted_out = self._opted_out(claimed)
            jobs = [self._plan(m, table, snapshot, m.id in opted_out) for m in claimed]

            def record(
                done: list[_Job], stats: SendStats, tally: Mapping[str, Counter[str]]
            ) -> list[StatusChange]:
                changes = self._record(done, stats, tally, lease.owner)
                if self.after_write is not None and changes:
                    try:
                        self.after_write(changes)
                    except Exception:  # committed: the sweep hands out what was not
                        log.exception("after write: could not hand off %d changes", len(changes))
                return changes

            with _Recorder(record, stats) as recorder:
                recorder.add([j for j in jobs if j.outcome is not None], self._take_tally())
                try:
                    self._pipeline([j for j in jobs if j.outcome is None], table, stats, recorder)
                finally:
                    self._release_tenures(set())
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
            settled_at = self.monotonic()
            observe_settled(settled, settled_at)  # metrics: submit and OTP latency
            for job, futures, sent_at in settled:
                self._settle(job, futures, stats, settled_at - sent_at)
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
                self.sleep(max(wait, 0.0005))
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
        count_attempts(done)  # metrics: submits by carrier and result, per group
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
        try:
            return self.store.record_outcomes(outcomes, self.clock(), lease_owner=owner)
        finally:  # written, or never will be by this task: receipts need not wait for them
            if self.uncommitted is not None:
                self.uncommitted.committed(
                    (a.carrier, i)
                    for o in outcomes
                    for a in o.attempts
                    for i in a.carrier_message_ids
                )

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
        if candidates:
            chosen = table.route_named(candidates[0].route)
            job.spill = chosen is not None and chosen.spills(request.message_class)
        if not job.candidates:
            if table.blocked_prefix(request.account, message.to) is not None:
                job.outcome = SendOutcome(message.id, (), Status.REJECTED.value, "account_blocked")
            else:
                job.outcome = SendOutcome(message.id, (), Status.FAILED.value, "no_route")
        return job

    def _dispatch(
        self, jobs: list[_Job], table: RoutingTable
    ) -> tuple[list[_InFlight], list[_Job], float]:
        """Take tokens and submit what they allow; return (submitted, still pending, wait).

        Each message goes to the first of its untried candidates whose lane has its tokens
        now when its route spills (`routing.take_now`), else waits for its current one; a
        lane's tokens are taken from its bucket the first time this pass asks about it.
        OTP/transactional messages go first, so they take tokens before marketing."""
        ordered = sorted(jobs, key=_bulk)  # the priority lane (bulk=False) first; stable
        submitted: list[_InFlight] = []
        waiting: list[_Job] = []
        backlog: Counter[tuple[str, bool]] = Counter()
        shortest_wait = self.token_wait_max
        # OTP/transactional that wait for a carrier whose marketing lane has one sender (burst
        # 1): the next slot of its one schedule, with a hole around it (`_priority_paced`).
        paced: dict[str, list[_Job]] = defaultdict(list)
        for job in ordered:
            if _bulk(job):
                break  # sorted: the rest is marketing
            usable = _usable(job)
            if usable and not _spills(job):
                spec = table.carriers[usable[0].carrier]
                if self._tenured(usable[0].carrier, spec.pacing):
                    paced[usable[0].carrier].append(job)
        for carrier, group in paced.items():
            sent, left, wait = self._priority_paced(
                carrier, float(table.carriers[carrier].mps), group
            )
            submitted += sent
            waiting += left
            shortest_wait = min(shortest_wait, wait)
        if paced:
            taken = {id(j) for group in paced.values() for j in group}
            ordered = [j for j in ordered if id(j) not in taken]
        lanes = _PassLanes(
            functools.partial(self._lane_budget, table),
            lambda carrier: _most_tokens(float(table.carriers[carrier].mps)),
            ordered,
        )
        for position, job in enumerate(ordered):
            bulk = _bulk(job)
            spill = _spills(job)
            names = [c.carrier for c in _usable(job)]
            picked: int | None = None
            if not lanes.dry(names, bulk):  # most of a backlog: every lane spent this pass
                has_token = functools.partial(lanes.can_take, bulk, position, job.parts_left)
                picked = take_now(names, spill, has_token)
            if picked is not None:
                if picked:
                    _move_to(job, job.index + picked)  # spilled: the chosen carrier is tried now
                lanes.get(names[picked], bulk, position).spend(job, self._submit)
                if not job.parts_left:
                    submitted.append((job, job.futures, job.sent_at))
                    continue
            lane = lanes.get(names[picked or 0], bulk, position)
            if spill:
                shortest_wait = min(shortest_wait, job.parts_left / lane.rate)
                waiting.append(job)
                continue
            backlog[(lane.carrier, bulk)] += job.parts_left
            if not self._moved_off_saturated(job, backlog[(lane.carrier, bulk)], lane.rate):
                shortest_wait = min(shortest_wait, lane.refill_wait(job.parts_left))
            waiting.append(job)
        shortest_wait = min([shortest_wait, *lanes.waits()])
        if self._tenures:  # give back the lanes this batch has nothing more for
            self._release_tenures({c.carrier for j in waiting if _bulk(j) for c in _usable(j)})
        return submitted, waiting, shortest_wait

    def _lane_budget(
        self, table: RoutingTable, carrier: str, bulk: bool, wanted: int
    ) -> _LaneBudget:
        """What `carrier`'s lane may send in this pass: the marketing lane's due slots, or the
        tokens the priority lane took (at most `wanted`)."""
        spec = table.carriers[carrier]
        if bulk:
            budget, rate, wait = self._bulk_budget(
                carrier,
                float(spec.mps),
                spec.otp_reserved_share,
                wanted,
                self.monotonic(),
                spec.pacing,
            )
            return _LaneBudget(carrier, budget, rate, wait, self._pacers[carrier])
        grant, rate = self._take(carrier, float(spec.mps), 0.0, wanted)
        paced_mps, capacity = bucket_shape(float(spec.mps))
        self._cut[carrier] = rate < paced_mps  # a paced burst 1?
        # Short, a message asks again when the bucket holds its parts (the level follows from
        # `retry_after`: the rest, at most a full bucket, less the level, at `rate`), not a
        # token's time later: at M = 50 an OTP refused at a level of -1.2 asked again at -0.2
        # and 0.8, each refusal extending marketing's yield while the bucket sat full.
        level = None
        if 0 < grant.retry_after < math.inf:
            level = min(wanted - grant.granted, capacity) - grant.retry_after * rate
        return _LaneBudget(carrier, grant.granted, rate, self.token_wait_max, None, level)

    def _tenured(self, carrier: str, pacing: CarrierPacing) -> bool:
        """Whether `carrier`'s marketing lane sends from one process at a time now: its
        routes-file `pacing` ("burst1": always; "window": never), else `one_sender`."""
        if self.senders is None or pacing is CarrierPacing.WINDOW:
            return False
        if pacing is CarrierPacing.BURST1 or self.one_sender == "always":
            return True
        return self._cut.get(carrier, False)

    def _hold_tenure(self, carrier: str, mps: float, now: float) -> float:
        """Seconds until this Sender may send on `carrier`'s marketing lane (0: now).

        One process at a time holds a lane (`ratelimit.SenderLeases`, renewed while it has
        work, given back when it has none): two processes each sending its slot when its
        loop wakes put PDUs closer than 1/M whenever one is late, which a burst-1 carrier
        refuses. Fails closed: no tenure (store down), no send — the lane waits.
        """
        if self.senders is None:
            return 0.0
        local = self._tenures[carrier]
        wait = local.wait(now)
        if wait is not None:
            return wait
        guard = handover_guard(self._limits.get(carrier, mps))
        tenure = self.senders.hold(carrier, self._holder, TENURE_TTL, guard)
        answered = self.monotonic()
        if tenure is None:
            local.refused(answered, FAILURE_RETRY_AFTER)
            return FAILURE_RETRY_AFTER
        decided = self._store_clock.observe(now, answered, tenure.now_us / 1e6)
        if not tenure.held:
            local.refused(answered, TENURE_POLL)
            return TENURE_POLL
        start = decided + (tenure.start_us - tenure.now_us) / 1e6
        local.held(now, start, (tenure.until_us - tenure.now_us) / 1e6)
        local.guard = guard
        return max(0.0, start - answered)

    def _release_tenures(self, busy: set[str]) -> None:
        """Give back every lane tenure held but for the carriers in `busy`."""
        if self.senders is None:
            return
        for carrier in [c for c, t in self._tenures.items() if c not in busy]:
            tenure = self._tenures.pop(carrier)
            if tenure.until > float("-inf"):
                self.senders.release(carrier, self._holder, tenure.guard)

    def _bulk_budget(
        self,
        carrier: str,
        mps: float,
        share: float,
        wanted: int,
        now: float,
        pacing: CarrierPacing = CarrierPacing.AUTO,
    ) -> tuple[int, float, float]:
        """The marketing lane's slots that have come: (slots due, lane rate, seconds until the
        next slot or ask).

        Asks for at most half of what the bucket holds above its floor, once its credit is
        spent, and after a short grant exactly when the bucket will hold that much (the grant's
        `retry_after`): polling on a fixed cadence let a bucket of one or two tokens sit full
        and overflow (85% of M at M = 50 and 200); asking for it all kept tokens in credit,
        sent late."""
        pacer = self._pacers[carrier]
        rate, capacity = bucket_shape(mps)
        floor = reserve_floor(capacity, share)
        ahead = book_ahead(rate, capacity, floor, BOOK_AHEAD)
        target = min(wanted, max(1, int((capacity - floor + ahead) * BULK_REFILL_SHARE)))
        ready_at = self._bulk_ready_at.get(carrier, now)
        tenured = self._tenured(carrier, pacing)
        if tenured:
            held_in = self._hold_tenure(carrier, mps, now)
            if held_in > 0:
                return 0, rate, held_in
        elif carrier in self._tenures:  # its pace grew back: two senders again
            self._release_tenures({c for c in self._tenures if c != carrier})
        if pacer.credit == 0 and now >= ready_at:
            asked = target
            decided = self.buckets.take_lane_timed(
                bucket_key(carrier),
                pace_key(carrier),
                rate,
                capacity,
                floor,
                self.pacing,
                asked,
                ahead,
                YIELD_TO_PRIORITY,
            )
            answered = self.monotonic()
            if decided is None:  # the store failed: no token, no submit (fails closed)
                grant, paced, at, due_in = Grant(0, FAILURE_RETRY_AFTER), rate, answered, 0.0
            else:
                grant, paced, decided_us, due_in = decided
                at = self._store_clock.observe(now, answered, decided_us / 1e6)
            limit = paced * mps / rate  # the carrier's MPS at its pace
            self._limits[carrier] = limit
            self._cut[carrier] = paced < rate
            pacer.add(grant.granted, paced, limit, capacity, at, due_in, paced < rate, tenured)
            if grant.granted < asked:
                ready_at = at + grant.retry_after
                self._bulk_ready_at[carrier] = ready_at
        lane_rate = 1.0 / pacer.interval if pacer.interval else rate
        now = self.monotonic()
        lead = WRITE_LEAD if pacer.careful else 0.0  # the session waits the rest
        due = pacer.release(now + lead)
        soon = pacer.due_at() - lead - now
        if not due and pacer.careful and pacer.credit and soon < PRECISE_WAIT:
            # One slot at a time, each at least 1/M after the last write: a slot taken late by
            # a pass of the pipeline loop is late for good (no catch-up under 1/M), so wait
            # for it here, a sleep away from the write.
            self.sleep(max(0.0, soon))
            now = self.monotonic()
            due = pacer.release(now + lead)
        if pacer.credit > due:
            # A careful lane comes back early and waits the rest in place (above).
            early = PRECISE_WAIT / 2 if pacer.careful else 0.0
            return due, lane_rate, max(0.0, pacer.due_at() - now - early)
        return due, lane_rate, max(0.0, ready_at - now)

    def _priority_paced(
        self, carrier: str, mps: float, group: list[_Job]
    ) -> tuple[list[_InFlight], list[_Job], float]:
        """OTP/transactional on a carrier whose marketing lane has one sender (it may count
        gaps, as burst 1 does): (submitted, still waiting, seconds until the next try).

        No tenure — an OTP must not wait behind marketing — but the next slot of the bucket's
        one schedule, with `priority_hole` tokens left unspent on each side: the marketing
        holder's next slot is after that hole, and its last one was at least a hole's time
        before, so neither's lateness (up to `priority_late`) brings the two within 1/M. One
        take for the group; each part at a slot of its own, 1/M after the last write at
        least. A slot missed by more than `priority_late` is not used: the rest wait for a
        new take. Fails closed (store down: nothing sent).
        """
        rate, capacity = bucket_shape(mps)
        group, later = self._priority_take(carrier, mps, rate, group)
        if not group:
            return [], later, 0.0
        parts = min(sum(j.parts_left for j in group), _most_priority_parts(rate))
        hole = priority_hole(rate)
        asked = parts + 2 * hole
        now = self.monotonic()
        decided = self.buckets.take_lane_timed(
            bucket_key(carrier),
            pace_key(carrier),
            rate,
            capacity,
            0.0,
            self.pacing,
            asked,
            asked + capacity,  # books the whole hole, whatever the level: it never waits
            whole=True,  # slots placed as one group: a part of them is no use
        )
        answered = self.monotonic()
        if decided is None:
            return [], group + later, FAILURE_RETRY_AFTER
        grant, paced, decided_us, due_in = decided
        if grant.granted < asked:
            return [], group + later, max(grant.retry_after, 0.0005)
        self._cut[carrier] = paced < rate
        limit = paced * mps / rate
        self._limits[carrier] = limit
        due = self._store_clock.observe(now, answered, decided_us / 1e6) + due_in
        slots = priority_slots(due, parts, hole, paced)
        late = priority_late(hole, paced)
        pacer = self._pacers[carrier]  # this process's marketing lane keeps its gap to these
        submitted: list[_InFlight] = []
        waiting: list[_Job] = []
        for job in group:
            while job.parts_left and slots:
                planned = slots.pop(0)
                slot = max(planned, pacer.last_at + 1.0 / limit + GAP_MARGIN)
                now = self.monotonic()
                if slot - WRITE_LEAD > now:
                    self.sleep(slot - WRITE_LEAD - now)
                    now = self.monotonic()
                parts_left = job.parts_left
                if now <= planned + late:  # the session checks again right before the write
                    pacer.last_at = max(pacer.last_at, self._submit(job, 1, slot, planned + late))
                if job.parts_left == parts_left:
                    slots = []  # too late for the hole: a new take
                    break
            if job.parts_left:
                waiting.append(job)
            else:
                submitted.append((job, job.futures, job.sent_at))
        return submitted, waiting + later, 0.0

    def _priority_take(
        self, carrier: str, mps: float, rate: float, group: list[_Job]
    ) -> tuple[list[_Job], list[_Job]]:
        """Split a one-sender lane's priority group into (what this take may place, the rest).

        One take places at most `_most_priority_parts` PDUs (the pass sleeps between their
        slots, so a large group would hold the pipeline for seconds). As on the other lanes, a
        job that would wait more than `token_wait_max` at the lane's rate, has another
        candidate and nothing submitted yet moves to that candidate (the tail of a batch on a
        carrier that cut its pace)."""
        lane_rate = rate * self._limits.get(carrier, mps) / mps
        most = _most_priority_parts(rate)
        taken: list[_Job] = []
        rest: list[_Job] = []
        backlog = 0
        for job in group:
            backlog += job.parts_left
            if not self._moved_off_saturated(job, backlog, lane_rate) and (
                not taken or backlog <= most
            ):
                taken.append(job)
            else:
                rest.append(job)
        return taken, rest

    def _moved_off_saturated(self, job: _Job, backlog: int, rate: float) -> bool:
        """A route that waits for its carrier still moves the tail of a batch its carrier
        cannot take for a while (saturated: `backlog` parts ahead of and with `job` take more
        than `token_wait_max` at `rate`) to its next candidate, if it has one and nothing of
        it was submitted yet. Whether `job` moved."""
        if (
            backlog / rate > self.token_wait_max
            and job.index + 1 < len(job.candidates)
            and not job.futures
        ):
            _move_to(job, job.index + 1)
            return True
        return False

    def take_tokens(
        self, carrier: str, mps: float, reserved_share: float, wanted: int
    ) -> tuple[int, float]:
        """Take up to `wanted` PDU tokens; returns (granted, rate the bucket refilled at).

        Every lane takes from the carrier's one bucket (its limit, cluster-wide, times its
        adaptive pace). Marketing (`reserved_share` > 0) takes only what lies above
        :func:`reserve_floor`, so it uses whatever OTP and transactional traffic leave and
        they never wait behind it (ARCHITECTURE.md invariant 3). One Redis call.
        """
        grant, paced = self._take(carrier, mps, reserved_share, wanted)
        return grant.granted, paced

    def _take(
        self, carrier: str, mps: float, reserved_share: float, wanted: int
    ) -> tuple[Grant, float]:
        """`take_tokens`' grant whole (with its `retry_after`), and the rate."""
        rate, capacity = bucket_shape(mps)
        floor = reserve_floor(capacity, reserved_share)
        grant, paced, _ = self.buckets.take_lane(
            bucket_key(carrier), pace_key(carrier), rate, capacity, floor, self.pacing, wanted
        )
        return grant, paced

    def _submit(
        self,
        job: _Job,
        count: int,
        not_before: float | None = None,
        not_after: float | None = None,
    ) -> float:
        """Submit the job's next `count` parts on its candidate (into `job.futures`), written
        not before monotonic `not_before` if given, and not at all once past `not_after` (the
        part stays unsent: see `job.parts_left`); when the write ended. A session that
        cannot take them ends the try: its error stands for every part not sent."""
        candidate = job.candidate
        assert candidate is not None
        if job.parts is None:
            job.parts = build_parts(
                job.message.sender, job.message.to, job.segmentation, reference_for(job.message.id)
            )
        parts = job.parts
        start = len(job.futures)
        futures = job.futures
        written_at = float("inf")
        try:
            self._probe(job, candidate.carrier)
            session = self.sessions(candidate.carrier)
            for part in parts[start : start + count]:
                futures.append(session.submit(part, not_before, not_after))
            written_at = session.written_at
            if self.uncommitted is not None:
                note = functools.partial(_note_id, self.uncommitted, candidate.carrier)
                for future in futures[start:]:
                    future.add_done_callback(note)
        except SlotMissed:
            pass  # its slot went by: not sent, the caller takes another
        except CarrierError as exc:
            failed: concurrent.futures.Future[str] = concurrent.futures.Future()
            failed.set_exception(exc)
            futures.extend([failed] * (len(parts) - len(futures)))  # nothing more goes
        job.sent_at = self.monotonic()
        return min(job.sent_at, written_at)  # the wire's time, where the session knows it

    def _probe(self, job: _Job, carrier: str) -> None:
        """A half-open carrier takes only its few probe messages a window, cluster-wide.

        Raises:
            CircuitOpen: this window's probes are taken.
        """
        if carrier not in self._half_open or job.probe_for == carrier or self.health is None:
            return
        if not self.health.take_probe(carrier):
            raise CircuitOpen(detail=f"{carrier}: half-open, this window's probes are taken")
        job.probe_for = carrier

    def _settle(
        self,
        job: _Job,
        futures: list[concurrent.futures.Future[str]],
        stats: SendStats,
        latency: float = 0.0,
    ) -> None:
        candidate = job.candidate
        assert candidate is not None
        job.futures = []  # this try is over: the next one submits every part again
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
            # Health inputs: submit latency (the score), and a slow answer (the circuit).
            tally["submit_ms"] += round(latency * 1000)
            tally["timed"] += 1
            if latency >= SLOW_SUBMIT:
                tally["slow"] += 1
            job.attempts.append(self._attempt(job, candidate, True, None, tuple(ids)))
            job.outcome = SendOutcome(job.message.id, tuple(job.attempts), Status.SENT.value)
            return
        code = _error_code(error)
        if not isinstance(error, CircuitOpen):  # never sent: says nothing of the carrier
            tally["throttled" if isinstance(error, Throttled) else "error"] += 1
        if isinstance(error, CarrierError | concurrent.futures.TimeoutError) and (
            not isinstance(error, CarrierError) or counts_as_failure(error)
        ):
            tally["failure"] += 1  # the carrier itself is failing: feeds its circuit
        if isinstance(error, CarrierError):
            error = self._overridden(candidate.carrier, error)
        job.attempts.append(self._attempt(job, candidate, False, code, ()))
        if isinstance(error, Throttled):
            stats.throttled += 1
            self._throttled(candidate.carrier)
            spec = self.routes().carriers.get(candidate.carrier)
            if spec is not None and not spec.throttle_failover and job.throttled < THROTTLE_RETRIES:
                job.throttled += 1
                return  # same carrier again, at its cut pace
        if isinstance(error, PermanentCarrierError):
            job.outcome = SendOutcome(
                job.message.id, tuple(job.attempts), Status.FAILED.value, code
            )
            return
        if not isinstance(error, TransientCarrierError | concurrent.futures.TimeoutError):
            log.error("unexpected error submitting %s: %r", job.message.id, error)
        stats.failovers += 1
        self._advance(job, code)

    def _overridden(self, carrier: str, error: CarrierError) -> CarrierError:
        """The carrier's own reading of a status (`failover_on` / `permanent_on`) over the
        status table's: e.g. ESME_RINVDSTADR as "not my coverage" from one carrier."""
        spec = self.routes().carriers.get(carrier)
        if spec is None or error.status is None or isinstance(error, Throttled):
            return error
        name = status_name(error.status)
        if isinstance(error, PermanentCarrierError) and name in spec.failover_on:
            return CarrierSystemError(error.status, f"{error} (failover_on for {carrier})")
        if isinstance(error, TransientCarrierError) and name in spec.permanent_on:
            return PermanentCarrierError(error.status, f"{error} (permanent_on for {carrier})")
        return error

    def _throttled(self, carrier: str) -> None:
        """The carrier said we are over its rate although we paced at its configured MPS:
        its real limit is lower. Cut its pace cluster-wide (once per cooldown)."""
        factor = self.buckets.cut_pace(pace_key(carrier), self.pacing)
        if factor is not None:
            log.warning(
                "carrier %s throttled: pace cut to %.0f%% of its MPS", carrier, factor * 100
            )

    def _advance(self, job: _Job, code: str | None) -> None:
        job.index += 1
        job.throttled = 0
        if job.candidate is not None:
            return
        tries = job.message.attempt_count + len(job.attempts)
        decision = next_action(
            tries, code, self.clock(), job.message.valid_until, self._retry_policy
        )
        status = Status.QUEUED if decision.action is Action.RETRY else Status.FAILED
        job.outcome = SendOutcome(
            job.message.id, tuple(job.attempts), status.value, decision.code, decision.at
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
        self._executor = _RECORD_THREAD.get()
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
        concurrent.futures.wait(self._writes)  # never leave a write running behind the task


# This process's recorder thread: a thread started and joined per batch cost ~100 µs, and at
# moderate rates most batches hold one or a few messages (each OTP is its own). One thread
# keeps every batch's writes in the order they were added.
_RECORD_THREAD = PerProcess(lambda: concurrent.futures.ThreadPoolExecutor(1, "record"))


_CODES: Mapping[str, str] = {
    "Throttled": "throttled",
    "CarrierSystemError": "carrier_system_error",
    "ResponseTimeout": "response_timeout",
    "Unbound": "unbound",
    "CarrierRemoved": "carrier_removed",
    "CircuitOpen": "circuit_open",
    "TimeoutError": "response_timeout",
}


def _note_id(
    uncommitted: UncommittedIds, carrier: str, future: concurrent.futures.Future[str]
) -> None:
    """A submit future's done callback: its carrier message id, on the SMPP reader thread."""
    if not future.cancelled() and future.exception() is None:
        uncommitted.add(carrier, future.result())


def _error_code(error: BaseException) -> str:
    name = type(error).__name__
    if isinstance(error, CarrierError) and error.status is not None:
        return f"{_CODES.get(name, 'carrier_error')}:0x{error.status:02X}"
    return _CODES.get(name, "internal_error")
