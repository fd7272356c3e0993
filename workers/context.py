"""Per-process worker resources, built lazily after Celery forks (sockets never cross a fork)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import redis

from carriers import (
    CarrierLink,
    CarrierPool,
    CarrierSession,
    Endpoint,
    HealthView,
    Mo,
    Receipt,
    RedisHealthStore,
    RedisSegmentLearner,
    message_id_variants,
)
from messaging import MessageClass
from metrics import count_receipts
from ratelimit import RedisBindLeases, RedisSenderLeases, RedisTokenBuckets
from routing import (
    CarrierHealth,
    Circuit,
    RoutesWatcher,
    RoutingTable,
    SegmentReceipts,
    Snapshot,
    carriers_by_receipts,
)
from store import (
    CallbackOutbox,
    InboundWriteResult,
    MessageStore,
    ReceiptBatchResult,
    ReceiptRecord,
    ResendPolicy,
    StatusChange,
    make_engine,
    share_niceness,
)
from workers.bind_report import BindReporter
from workers.callback_delivery import callback_retry, make_dispatcher
from workers.callback_pump import CallbackPump
from workers.config import WorkerSettings
from workers.handoff import Written
from workers.inbound import (
    InboundForwarder,
    inbound_actions,
    inbound_record,
    inbound_writer,
    with_operator_keywords,
)
from workers.receipts import ReceiptForwarder
from workers.refreshing import Refreshing
from workers.sending import Sender
from workers.state_log import log_status_changes
from workers.uncommitted import UncommittedIds

log = logging.getLogger(__name__)

# Health counts live in 5-s buckets and a circuit opens after several failures: half a second
# of staleness changes no routing decision that matters, and saves a Redis read per batch.
HEALTH_REFRESH_SECONDS = 0.5
# What carriers showed of their receipts for concatenated messages changes once a few messages
# in: a second of staleness costs at most a second of waiting for receipts that never come.
LEARNT_REFRESH_SECONDS = 1.0


def utcnow() -> datetime:
    """Aware UTC now (the one clock the workers read)."""
    return datetime.now(UTC)


# After a batch of receipts is committed: callbacks and OTP resends (best effort, post-commit).
AfterReceipts = Callable[[ReceiptBatchResult], None]
# Committed callback events this process does not POST itself go to the callbacks queue.
HandOff = Callable[[Sequence[StatusChange]], None]
# Publishes send tasks for committed message ids of a class (`CeleryOutbox.enqueue`).
Enqueue = Callable[[str, Sequence[str]], None]
_FINAL_RECEIPTS = {"delivered", "undelivered", "expired", "rejected"}
# An unmatched receipt younger than this is held in memory and applied again (see
# `write_receipts`); an older one is parked in the database.
RECEIPT_WAIT = timedelta(seconds=1)


def otp_resend_policy(settings: WorkerSettings) -> ResendPolicy:
    """An undelivered or silent OTP goes to its next carrier, up to the configured attempts."""
    return ResendPolicy(
        classes=frozenset({MessageClass.OTP.value}), max_attempts=settings.otp_max_carrier_attempts
    )


def receipt_record(carrier: str, receipt: Receipt, now: datetime) -> ReceiptRecord:
    """A receipt from `carrier`'s bind, ready to match (every form of its id)."""
    return ReceiptRecord(
        carrier,
        message_id_variants(receipt.carrier_message_id),
        str(receipt.state),
        receipt.error_code or "",
        now,
        receipt.raw_stat,
    )


def receipt_tally(receipts: Sequence[ReceiptRecord]) -> dict[str, Counter[str]]:
    """Final receipts per carrier, as `delivered` / `undelivered` counts for carrier health."""
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for r in receipts:
        if r.state in _FINAL_RECEIPTS:
            tally[r.carrier]["delivered" if r.state == "delivered" else "undelivered"] += 1
    return dict(tally)


class WorkerContext:
    """Store, routes, buckets, carrier sessions and the receipt forwarder of one process."""

    def __init__(
        self,
        settings: WorkerSettings,
        after_receipts: AfterReceipts,
        hand_off: HandOff | None = None,
        stream: HandOff | None = None,
        enqueue: Enqueue | None = None,
    ) -> None:
        """`after_receipts` runs after each committed receipt batch; `hand_off` publishes the
        callback events this process's pump does not take (none published without it);
        `stream` gets every committed batch of status changes (the /v1/stream publisher);
        `enqueue` publishes the replies to MOs (without it the sweeper finds them)."""
        self.settings = settings
        self.engine = make_engine(settings.resolved_database_url())
        share_niceness(self.engine)  # a niced bulk worker's queries run niced too
        self.store = MessageStore(self.engine)
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.buckets = RedisTokenBuckets(self.redis)
        self.senders = RedisSenderLeases(self.redis)  # one marketing sender per carrier
        self.routes = RoutesWatcher(settings.routes_file, time.monotonic)
        self.health = RedisHealthStore(self.redis)
        # Read by every batch; refreshed in the background so no OTP waits for that read.
        self._snapshot = Refreshing(self._read_snapshot, HEALTH_REFRESH_SECONDS, "health-snapshot")
        # How each "auto" carrier reports concatenated messages, learnt from what it sends.
        self.segment_learner = RedisSegmentLearner(self.redis)
        self._learnt_one = Refreshing(self._read_learnt, LEARNT_REFRESH_SECONDS, "segment-learning")
        self._after_receipts = after_receipts
        self.resend_policy = otp_resend_policy(settings)
        self._pool: CarrierPool | None = None
        self._pool_table: RoutingTable | None = None  # the table the pool was reconciled with
        # Each bind takes one of its carrier's `binds` cluster-wide (fails closed).
        self.bind_leases = RedisBindLeases(self.redis)
        self._account_names: dict[str, str] = {}
        self._forwarder: ReceiptForwarder | None = None
        # Ids whose attempt rows this process has not written: their receipts wait in memory.
        self.uncommitted = UncommittedIds()
        # Receipt delays (carrier → receipt_ms, delayed) measured since the last receipt write.
        self._delays: dict[str, Counter[str]] = defaultdict(Counter)
        self._delays_lock = threading.Lock()
        self._inbound: InboundForwarder | None = None
        self._pump: CallbackPump | None = None
        self._hand_off = hand_off
        self._stream = stream
        self._enqueue = enqueue
        self._bind_report: BindReporter | None = None
        self._lock = threading.Lock()

    @property
    def forwarder(self) -> ReceiptForwarder:
        """The receipt forwarder (started on first use)."""
        with self._lock:
            if self._forwarder is None:
                uncommitted = self.uncommitted
                self._forwarder = ReceiptForwarder(
                    self.write_receipts,
                    flush_seconds=self.settings.receipt_flush_ms / 1000,
                    drop_binds=self._drop_binds,
                    retry_parked=self.retry_parked,
                    hold=lambda r: uncommitted.holds(r.carrier, r.carrier_message_ids),
                )
                uncommitted.listen(self._forwarder.nudge)
            return self._forwarder

    @property
    def inbound(self) -> InboundForwarder:
        """The MO forwarder (started on first use): stores each batch, then acks it."""
        with self._lock:
            if self._inbound is None:
                self._inbound = InboundForwarder(
                    inbound_writer(
                        self.store,
                        lambda to: self.routes.current().owner_of(to),
                        lambda: with_operator_keywords(self.routes.current().keywords),
                        lambda: inbound_actions(self.routes.current().inbound),
                        self._after_inbound,
                    ),
                    flush_seconds=self.settings.receipt_flush_ms / 1000,
                    drop_binds=self._drop_binds,
                )
            return self._inbound

    def _after_inbound(self, result: InboundWriteResult) -> None:
        """After an MO batch's commit: POST its webhook events from this process (the rest to
        the callbacks queue), enqueue its replies. Best effort: the rows are committed, the
        sweep releases events and queued replies whose hand-off was lost."""
        try:
            changes = [
                StatusChange(e.event.id, e.event.status, e.url, e.account_id, e)
                for e in result.events
            ]
            rest = self.offer_callbacks(changes)
            if rest and self._hand_off is not None:
                self._hand_off(rest)
            if result.replies and self._enqueue is not None:
                self._enqueue(MessageClass.TRANSACTIONAL.value, result.replies)
        except Exception:
            log.exception("after MOs: could not hand off webhooks or replies")

    def notify(self, changes: Sequence[StatusChange]) -> None:
        """After a commit: the changes to the status stream; POST their callback events from
        this process, hand the rest to the callbacks queue."""
        if self.settings.log_state_changes:
            log_status_changes(changes)
        if self._stream is not None:
            self._stream(changes)
        rest = self.offer_callbacks(changes)
        if rest and self._hand_off is not None:
            self._hand_off(rest)

    def offer_callbacks(self, changes: Sequence[StatusChange]) -> list[StatusChange]:
        """Hand the callback events of committed `changes` to this process's pump; returns the
        changes whose events must go through the callbacks queue instead (it was full, or
        `callback_inline` is off). Changes that wrote no event are in neither."""
        events = [c.callback for c in changes if c.callback is not None]
        if not events:
            return []
        if not self.settings.callback_inline:
            return [c for c in changes if c.callback is not None]
        with self._lock:
            if self._pump is None:
                self._pump = CallbackPump(
                    CallbackOutbox(self.engine),
                    make_dispatcher(self.settings, self.engine, utcnow),
                    utcnow,
                    callback_retry(self.settings),
                    post_timeout=self.settings.callback_timeout,
                )
            pump = self._pump
        back = {e.event_id for e in pump.offer(events)}
        return [c for c in changes if c.callback is not None and c.callback.event_id in back]

    def write_receipts(self, receipts: list[ReceiptRecord]) -> Written[ReceiptRecord]:
        """Commit a batch of receipts; an unmatched one received less than
        `RECEIPT_WAIT_SECONDS` ago is left for the forwarder to hand off again (its attempt is
        most likely being written), older ones are parked.

        Raises what the database raised: then nothing is committed and the forwarder retries.
        """
        now = utcnow()
        result = self.store.apply_receipts(
            receipts,
            now,
            self.resend_policy,
            park_unmatched=True,
            one_receipt=self.one_receipt_carriers(),
            park_received_before=now - RECEIPT_WAIT,
        )
        if result.waiting:
            waiting = {id(r) for r in result.waiting}
            receipts = [r for r in receipts if id(r) not in waiting]  # counted when taken
        self.record_segment_evidence(result.segment_evidence)
        self._after_commit(result, receipts)
        return Written(result.parked, result.waiting)

    def record_segment_evidence(self, evidence: Sequence[tuple[str, str]]) -> None:
        """What multipart attempts of `"auto"` carriers showed of their receipts, to Redis
        for every worker (fails open: nothing learnt)."""
        auto = carriers_by_receipts(self.routes.current().carriers, SegmentReceipts.AUTO)
        self.segment_learner.record([e for e in evidence if e[0] in auto])

    def _read_learnt(self) -> frozenset[str]:
        auto = carriers_by_receipts(self.routes.current().carriers, SegmentReceipts.AUTO)
        learnt = self.segment_learner.learnt(auto)
        return frozenset(name for name, state in learnt.items() if state.one_per_message)

    def retry_parked(self) -> int:
        """Apply parked receipts again; returns how many still wait for their attempt."""
        pass_ = self.store.retry_parked(
            utcnow(),
            timedelta(seconds=self.settings.receipt_park_seconds),
            self.resend_policy,
            one_receipt=self.one_receipt_carriers(),
        )
        self._after_commit(pass_.result, ())
        return pass_.remaining

    def one_receipt_carriers(self) -> frozenset[str]:
        """Carriers that send one receipt per concatenated message: configured so, or
        `"auto"` and learnt so (`carriers.segment_learning`)."""
        carriers = self.routes.current().carriers
        auto = carriers_by_receipts(carriers, SegmentReceipts.AUTO)
        learnt = self._learnt_one.get() & auto  # a carrier set to "each" since is not
        return carriers_by_receipts(carriers, SegmentReceipts.ONE) | learnt

    def _after_commit(self, result: ReceiptBatchResult, receipts: Sequence[ReceiptRecord]) -> None:
        """Callbacks, resends and health counts of committed receipts: never undo the commit."""
        try:
            if result.changes or result.resend:
                self._after_receipts(result)
        except Exception:
            # The rows are committed: a resend left `queued` is found by the sweeper.
            log.exception("after receipts: could not publish callbacks or resends")
        tally = receipt_tally(receipts)
        with self._delays_lock:
            delays, self._delays = self._delays, defaultdict(Counter)
        for carrier, counts in delays.items():
            tally.setdefault(carrier, Counter()).update(counts)
        for carrier, counts in tally.items():
            self.health.add(carrier, **counts)  # fails open (RedisHealthStore)
        count_receipts(Counter((r.carrier, r.state) for r in receipts))  # metrics, per batch

    def _drop_binds(self, carriers: set[str]) -> None:
        pool = self._pool
        if pool is not None:
            for name in carriers:
                pool.drop(name)

    def pool(self) -> CarrierPool:
        """This process's SMPP sessions over every carrier of the routing table in force
        (reconciled with it whenever a reload swapped in another table)."""
        table = self.routes.current()
        with self._lock:
            if self._pool is None:
                self._pool = CarrierPool(
                    carrier_links(table),
                    response_timeout=self.settings.response_timeout,
                    on_receipt=self._on_receipt,
                    on_mo=self._on_mo,
                    leases=self.bind_leases,
                    holder=f"{socket.gethostname()}:{os.getpid()}",
                )
                self._bind_report = BindReporter(self.redis, self._pool.bound)  # for status
                self._bind_report.start()
                self._pool_table = table
            elif table is not self._pool_table:
                self._pool.reconcile(carrier_links(table))
                self._pool_table = table
            return self._pool

    def session(self, name: str) -> CarrierSession:
        """Carrier `name`'s bound session, after reconciling the pool with a reloaded table:
        a batch routed on a table that just added a carrier finds its session."""
        if self.routes.holder.current is not self._pool_table:
            return self.pool().session(name)
        pool = self._pool
        assert pool is not None
        return pool.session(name)

    def _on_receipt(self, carrier: str, receipt: Receipt, ack: Callable[[], None]) -> None:
        record = receipt_record(carrier, receipt, utcnow())
        if record.state in _FINAL_RECEIPTS:  # its delay, when this process submitted it
            delay = self.uncommitted.age(carrier, record.carrier_message_ids)
            if delay is not None:
                with self._delays_lock:
                    self._delays[carrier]["receipt_ms"] += round(delay * 1000)
                    self._delays[carrier]["delayed"] += 1
        self.forwarder.add(record, ack)

    def _on_mo(self, carrier: str, mo: Mo, ack: Callable[[], None]) -> None:
        self.inbound.add(inbound_record(carrier, mo, utcnow()), ack)

    def sender(self) -> Sender:
        """A Sender wired to this process's real adapters."""
        self.pool()
        return Sender(
            self.store,
            self.routes.current,
            self.buckets,
            self.session,
            utcnow,
            time.sleep,
            response_timeout=self.settings.response_timeout,
            token_wait_max=self.settings.token_wait_max,
            retry_backoff=self.settings.retry_backoff,
            batch_max=self.settings.send_batch_max,
            health=self.health,
            snapshot=self.snapshot,
            account_names=self._account_names,
            after_write=self.notify,
            uncommitted=self.uncommitted,
            senders=self.senders,
        )

    def snapshot(self) -> Snapshot:
        """Carrier health as every worker sees it, at most HEALTH_REFRESH_SECONDS old."""
        return self._snapshot.get()

    def _read_snapshot(self) -> Snapshot:
        views = self.health.views(self.routes.current().carriers)
        return Snapshot.of({name: _routing_health(view) for name, view in views.items()})

    def close(self, drain: float = 0.0) -> None:
        """Graceful shutdown: wait up to `drain` seconds for the submits in flight to be
        answered (and their receipts to come), flush the receipts and MOs — acknowledged on
        binds still up — then unbind every session, give the bind leases back, close
        connections."""
        self._snapshot.close()
        self._learnt_one.close()
        if self._bind_report is not None:
            self._bind_report.close()
        if self._pool is not None and drain > 0:
            busy = self._pool.drain(drain)
            if busy:
                log.warning("shutting down with submits in flight on %d binds", busy)
        if self._forwarder is not None:
            self._forwarder.close()
        if self._inbound is not None:
            self._inbound.close()
        if self._pool is not None:
            self._pool.close()
        if self._pump is not None:  # after the forwarders: their last writes have callbacks
            self._pump.close()
        self.redis.close()
        self.engine.dispose()


def carrier_links(table: RoutingTable) -> dict[str, CarrierLink]:
    """How this process reaches each carrier of `table`: endpoint, its own window, its binds."""
    return {
        name: CarrierLink(
            Endpoint(name, spec.host, spec.port, spec.system_id, spec.password, spec.system_type),
            window=spec.window,
            binds=spec.binds,
            enquire_link_interval=spec.enquire_link,
        )
        for name, spec in table.carriers.items()
    }


def _routing_health(view: HealthView) -> CarrierHealth:
    return CarrierHealth(score=view.score, circuit=Circuit(view.circuit.value))
