"""The behaviour of one simulated carrier, shared by all its sessions.

Its MPS limiter, counters, seeded randomness and the receipt queue live here; sessions only
move bytes. No sockets and no event loop: the server passes the clocks in and calls
:meth:`CarrierRuntime.pump` from its ticker, so the model can be driven by hand in tests.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from typing import Protocol

from simulators.delays import draw_ms
from simulators.faults import Mode, active_outage
from simulators.ids import MessageIds, convert_id
from simulators.limiter import Clock, PeakRate, RateLimiter
from simulators.pdu import Pdu, ShortMessage
from simulators.receipts import (
    DELIVERED,
    EXPIRED,
    REJECTED,
    UNDELIVERABLE,
    UNKNOWN,
    Outcome,
    PendingReceipt,
)
from simulators.scenario import THROTTLE_STATUS, CarrierSim, PrefixRule
from simulators.udh import concatenation

# SMPP 3.4 §5.2.17 registered_delivery bits 0-1: 0 none, 1 always, 2 on failure only.
_RECEIPT_WANTED: dict[int, Callable[[bool], bool]] = {
    0: lambda delivered: False,
    1: lambda delivered: True,
    2: lambda delivered: not delivered,
    3: lambda delivered: True,  # reserved; treated like 1, as most SMSCs do
}
RESEND_AFTER_NACK = 1.0  # seconds before a receipt the ESME refused is offered again
LIVE_SLOW_FACTOR = 2.0  # latency factor of a `slow` mode forced through POST /faults

# Which part of a concatenated message gets a receipt: (sequence, total) → wanted.
_SEGMENT_WANTED: dict[str, Callable[[int, int], bool]] = {
    "each": lambda sequence, total: True,
    "first": lambda sequence, total: sequence == 1,
    "last": lambda sequence, total: sequence == total,
}


DUPLICATE_MEMORY = 100_000  # accepted messages remembered for duplicate detection


class Deliverable(Protocol):
    """Something the carrier sends in a deliver_sm: a receipt or a mobile-originated message."""

    @property
    def is_receipt(self) -> bool:
        """True for a delivery receipt, False for an MO message."""
        ...

    def to_pdu(self, done_at: float, sequence: int) -> Pdu:
        """The deliver_sm, with the session's sequence number."""
        ...


class ReceiptSink(Protocol):
    """A bound receiver/transceiver session, as the carrier sees it."""

    def has_room(self) -> bool:
        """True while fewer than the receipt window are awaiting deliver_sm_resp."""
        ...

    def send_deliver(self, item: Deliverable, done_at: float) -> None:
        """Queue a deliver_sm for `item` (written on :meth:`flush`)."""
        ...

    def flush(self) -> None:
        """Write what was queued."""
        ...


class CarrierRuntime:
    """Live state of one simulated carrier."""

    def __init__(self, config: CarrierSim, seed: int, clock: Clock, wall_clock: Clock) -> None:
        self.config = config
        self.name = config.name
        self.clock = clock
        self.wall_clock = wall_clock
        self.limiter = RateLimiter(config.mps, config.bucket_size, clock)
        self.throttle_status = THROTTLE_STATUS.get(config.throttle, 0)
        self.queues = config.throttle == "queue"  # answer late instead of refusing
        self.segment_wanted = _SEGMENT_WANTED[config.segment_receipts]
        # Final states other than delivered/undelivered, in draw order; None: no receipt at all.
        self.other_outcomes: list[tuple[Outcome | None, float]] = [
            (EXPIRED, config.expired_share),
            (REJECTED, config.rejected_share),
            (UNKNOWN, config.unknown_share),
            (None, config.no_receipt_share),
        ]
        self.other_share = sum(share for _, share in self.other_outcomes)
        self.rng = random.Random(f"{seed}/{config.name}")  # replayable per carrier
        self.ids = MessageIds(config.message_id_format, self.rng)
        self.peak = PeakRate()
        # longest first, so the first match is the longest prefix
        self.rules = sorted(config.prefixes, key=lambda rule: len(rule.digits), reverse=True)
        self.bound: list[object] = []  # every bound session, for max_binds
        self.receivers: list[ReceiptSink] = []  # bound receiver/transceiver sessions
        self._next_receiver = 0
        self._scheduled: list[tuple[float, int, Deliverable]] = []  # heap by due time
        self._tiebreak = itertools.count()
        self.ready: deque[Deliverable] = deque()
        self.started_at = clock()
        self.mode = Mode.NORMAL
        self.live_mode: Mode | None = None  # set through the control endpoint; None → schedule
        self.latency_factor = 1.0  # > 1 while a `slow` fault is on
        self.next_bind_loss = (
            self.started_at + config.bind_loss_every_s if config.bind_loss_every_s else None
        )
        self.submits_accepted = 0
        self.duplicates_seen = 0
        # The last DUPLICATE_MEMORY accepted messages, by content: a gateway resending what a
        # carrier already took (at-least-once) shows up here.
        self._recent: dict[tuple[str, str, bytes], None] = {}
        self.throttled = 0
        # Throttles whose previous accepted submit came on another bind: two senders' streams
        # meeting too close, not one sender's spacing (what bounds a burst-1 carrier).
        self.throttled_after_other_bind = 0
        self.accepted_after_other_bind = 0
        self._last_accepted_by: object = None
        self._last_accepted_at: float | None = None
        # How long after the last accepted submit each throttled one arrived (µs; the first
        # and the last are in `stats`): what a sender's spacing did wrong.
        self.throttle_gaps_us: list[int] = []
        # Throttles dated within 1 µs of the last accepted submit: TCP coalesced the two
        # segments while the simulator's loop was not reading (one kernel stamp for both), so
        # the sender's spacing is not known — the simulator's lateness, not the sender's.
        self.throttled_same_stamp = 0
        self.queued = 0
        self.receipts_raced = 0
        self.receipts_withheld = 0
        self.binds_dropped = 0
        self.unbinds = 0  # unbind requests from the ESME: a clean end of a bind
        self.enquire_links_sent = 0
        self.enquire_links_unanswered = 0
        self.write_pauses = 0
        self.errors = 0
        self.malformed = 0
        self.receipts_created = 0
        self.receipts_sent = 0
        self.receipts_acked = 0
        self.mo_created = 0
        self.mo_sent = 0
        self.mo_acked = 0

    # --- submits --------------------------------------------------------------------------

    def admit(self, by: object = None, at: float | None = None) -> bool:
        """One submit_sm (on bind `by`, arrived at `at`: now if None) asks for a token;
        counts it either way."""
        now = self.clock() if at is None else at
        if self.limiter.try_acquire(now):
            self.submits_accepted += 1
            self.peak.add(now)
            self._last_accepted_at = now
            if by is not None and self._last_accepted_by not in (None, by):
                self.accepted_after_other_bind += 1  # the senders took turns here
            self._last_accepted_by = by
            return True
        self.throttled += 1
        if self._last_accepted_at is not None:
            gap = round((now - self._last_accepted_at) * 1e6)
            self.throttled_same_stamp += now - self._last_accepted_at < 1e-6
            self.throttle_gaps_us[1 if self.throttle_gaps_us else 0 :] = [gap]
        if by is not None and self._last_accepted_by not in (None, by):
            self.throttled_after_other_bind += 1
        return False

    def admit_queued(self) -> float:
        """One submit_sm of a queueing carrier takes the next slot: seconds until it is answered."""
        now = self.clock()
        at = self.limiter.reserve(now)  # the same instant: an immediate slot is exactly `now`
        self.submits_accepted += 1
        self.peak.add(at)
        if at > now:
            self.queued += 1
        return at - now

    def _remember(self, message: ShortMessage) -> None:
        key = (message.source_addr, message.destination_addr, message.short_message)
        if key in self._recent:
            self.duplicates_seen += 1
            return
        self._recent[key] = None
        if len(self._recent) > DUPLICATE_MEMORY:
            del self._recent[next(iter(self._recent))]  # oldest first (dicts keep order)

    def rule_for(self, destination: str) -> PrefixRule | None:
        """The longest prefix rule matching `destination`, if any."""
        digits = destination.lstrip("+")
        for rule in self.rules:
            if digits.startswith(rule.digits):
                return rule
        return None

    def submit_delay(self) -> float:
        """Seconds before the submit_sm_resp goes out (0 for an immediate answer)."""
        latency = self.config.submit_latency_ms
        if latency.max == 0:
            return 0.0
        return draw_ms(latency, self.rng) * self.latency_factor / 1000.0

    def accept(
        self,
        message: ShortMessage,
        message_id: str,
        answered_in: float,
        rule: PrefixRule | None = None,
        via: ReceiptSink | None = None,
    ) -> None:
        """Decide the fate of an accepted message and schedule its receipt, if one is due.

        A receipt that races ahead is written at once, to `via` (the submitting session) when
        it can take it, so it precedes the submit_sm_resp the caller writes next.
        """
        self._remember(message)
        config = self.config
        if not config.receipts:
            return
        if config.segment_receipts != "each":
            concat = concatenation(message)
            if concat is not None and not self.segment_wanted(concat[2], concat[1]):
                return
        share = config.undelivered_share
        delay = config.receipt_delay_ms
        if rule is not None:
            share = rule.undelivered_share if rule.undelivered_share is not None else share
            delay = rule.receipt_delay_ms or delay
        # One draw decides the fate: [0, share) undelivered, then the other outcomes' bands.
        draw = self.rng.random()
        error = 0
        outcome = DELIVERED
        if draw < share:
            outcome = UNDELIVERABLE
            errors = config.undelivered_errors
            error = errors[0] if len(errors) == 1 else self.rng.choice(errors)
        elif draw < share + self.other_share:
            other = self._other_outcome(draw - share)
            if other is None:
                self.receipts_withheld += 1
                return
            outcome = other
        if not _RECEIPT_WANTED[message.registered_delivery & 0x03](outcome.delivered):
            return
        if config.receipt_id_format is not None:
            message_id = convert_id(message_id, config.message_id_format, config.receipt_id_format)
        receipt = PendingReceipt(
            message_id=message_id,
            source=message.source_addr,
            destination=message.destination_addr,
            submitted_at=self.wall_clock(),
            short_message=message.short_message,
            esm_class=message.esm_class,
            data_coding=message.data_coding,
            outcome=outcome,
            error=error,
        )
        copies = 2 if self.rng.random() < config.duplicate_receipt_share else 1
        self.receipts_created += copies
        if config.receipt_race_share and self.rng.random() < config.receipt_race_share:
            self.receipts_raced += 1
            copies -= 1
            if via is not None and via.has_room():
                via.send_deliver(receipt, self.wall_clock())
                self.receipts_sent += 1
            else:
                self.ready.appendleft(receipt)
                self.pump()
        for _ in range(copies):  # a duplicate gets its own delay, as a resending SMSC's would
            due = self.clock() + answered_in + draw_ms(delay, self.rng) / 1000.0
            heapq.heappush(self._scheduled, (due, next(self._tiebreak), receipt))

    def _other_outcome(self, draw: float) -> Outcome | None:
        for outcome, share in self.other_outcomes:
            if draw < share:
                return outcome
            draw -= share
        return None  # float rounding at the top edge: the last band

    # --- receipts -------------------------------------------------------------------------

    @property
    def receipts_pending(self) -> int:
        """Receipts created but not yet acknowledged (scheduled, queued or in flight)."""
        return self.receipts_created - self.receipts_acked

    def has_work(self) -> bool:
        """True when a pump could do something."""
        return bool(self.ready) or bool(self._scheduled)

    def pump(self) -> None:
        """Move due receipts to the ready queue and hand them to receivers, round-robin."""
        now = self.clock()
        scheduled = self._scheduled
        while scheduled and scheduled[0][0] <= now:
            self.ready.append(heapq.heappop(scheduled)[2])
        if not self.ready or not self.receivers:
            return
        touched: set[int] = set()
        receivers = self.receivers
        done_at = self.wall_clock()
        while self.ready:
            sink = self._next_sink()
            if sink is None:
                break
            item = self.ready.popleft()
            sink.send_deliver(item, done_at)
            if item.is_receipt:
                self.receipts_sent += 1
            else:
                self.mo_sent += 1
            touched.add(id(sink))
        for sink in receivers:
            if id(sink) in touched:
                sink.flush()

    def _next_sink(self) -> ReceiptSink | None:
        receivers = self.receivers
        count = len(receivers)
        for step in range(count):
            index = (self._next_receiver + step) % count
            if receivers[index].has_room():
                self._next_receiver = index + 1
                return receivers[index]
        return None

    def acked(self, item: Deliverable) -> None:
        """The ESME answered with deliver_sm_resp ESME_ROK: `item` is never sent again."""
        if item.is_receipt:
            self.receipts_acked += 1
        else:
            self.mo_acked += 1

    def requeue(self, items: list[Deliverable]) -> None:
        """Items whose session closed before the ack go back to the front, in order."""
        self.ready.extendleft(reversed(items))

    def refused(self, item: Deliverable) -> None:
        """The ESME answered with an error: offer `item` again a little later."""
        due = self.clock() + RESEND_AFTER_NACK
        heapq.heappush(self._scheduled, (due, next(self._tiebreak), item))

    def inject_mo(self, message: Deliverable) -> None:
        """Queue a mobile-originated message for the next bound receiver."""
        self.mo_created += 1
        self.ready.append(message)

    # --- binds and faults -----------------------------------------------------------------

    def refresh_mode(self) -> Mode | None:
        """Recompute the mode (live override, else the outage schedule); the new one if changed."""
        if self.live_mode is not None:
            mode = self.live_mode
            factor = LIVE_SLOW_FACTOR
        else:
            outage = active_outage(self.config.outages, self.clock() - self.started_at)
            mode = Mode.NORMAL if outage is None else outage.mode
            factor = 1.0 if outage is None else outage.latency_factor
        self.latency_factor = factor if mode is Mode.SLOW else 1.0
        if mode is self.mode:
            return None
        self.mode = mode
        return mode

    def restart_schedule(self, now: float) -> None:
        """Count outage windows and bind losses from `now` (the server's start)."""
        self.started_at = now
        every = self.config.bind_loss_every_s
        self.next_bind_loss = now + every if every else None

    def bind_loss_due(self) -> bool:
        """True (once per period) when the scenario's periodic bind loss is due."""
        due = self.next_bind_loss
        if due is None or self.clock() < due:
            return False
        every = self.config.bind_loss_every_s
        assert every is not None
        while due <= self.clock():
            due += every
        self.next_bind_loss = due
        return True

    def set_mps(self, mps: int, burst: int | None = None) -> None:
        """Change the limit live (the faults endpoint)."""
        self.limiter.reconfigure(mps, burst if burst is not None else mps)

    def stats(self) -> dict[str, int]:
        """Counters for GET /stats."""
        return {
            "binds": len(self.bound),
            "mps": int(self.limiter.bucket.rate),
            "submits_accepted": self.submits_accepted,
            "duplicates_seen": self.duplicates_seen,
            "throttled": self.throttled,
            "throttled_after_other_bind": self.throttled_after_other_bind,
            # -1: none. The spacing of a throttled submit after the last accepted one.
            "throttled_same_stamp": self.throttled_same_stamp,
            "first_throttle_gap_us": self.throttle_gaps_us[0] if self.throttle_gaps_us else -1,
            "last_throttle_gap_us": self.throttle_gaps_us[-1] if self.throttle_gaps_us else -1,
            "accepted_after_other_bind": self.accepted_after_other_bind,
            "queued": self.queued,
            "errors": self.errors,
            "receipts_sent": self.receipts_sent,
            "receipts_acked": self.receipts_acked,
            "receipts_pending": self.receipts_pending,
            "receipts_raced": self.receipts_raced,
            "receipts_withheld": self.receipts_withheld,
            "mo_sent": self.mo_sent,
            "mo_acked": self.mo_acked,
            "mo_pending": self.mo_created - self.mo_acked,
            "malformed": self.malformed,
            "binds_dropped": self.binds_dropped,
            "unbinds": self.unbinds,
            "enquire_links_sent": self.enquire_links_sent,
            "enquire_links_unanswered": self.enquire_links_unanswered,
            "write_pauses": self.write_pauses,
            "max_mps_1s": self.peak.peak,
        }
