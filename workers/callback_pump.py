"""Callbacks delivered by the process that committed them: no hand-off task, no claim.

A writer (a receipt batch, a group of send outcomes, the sweep) commits status changes with
their callback events; `store.callback_outbox.add_events` returns each event as written. The
writer then offers them here, and the pump POSTs them through the process's dispatcher and
settles them in batches: delivered rows deleted, failed ones counted and scheduled for the
sweep to retry (`CallbackOutbox.settle_fresh`). Per event that saves the hand-off task's publish
and consume and the claim UPDATE; the callbacks worker is left the retries.

Nothing here needs to be durable: the rows are. `offer` never blocks the writer: what does not
fit is handed back, and the caller publishes it to the callbacks queue as before. An event the
pump held when its process died is released by the sweep once its hand-off grace
(`store.CALLBACK_HANDOFF_GRACE`) has run out; the pump never starts a POST later than `margin`
before that, and bounds each POST by what is left, so the sweep never hands out an event the
pump is still delivering.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from messaging import DEFAULT_CALLBACK_RETRY, CallbackRetry, next_callback_attempt
from metrics import count_callbacks
from store import CALLBACK_HANDOFF_GRACE, PendingCallback
from workers.callback_dispatcher import CallbackDispatcher, DeliveryReport

log = logging.getLogger(__name__)

MAX_PENDING = 20_000  # events waiting for the dispatcher; more are handed back
BATCH_MAX = 500  # events per dispatcher call
IN_FLIGHT = 8  # dispatcher calls at once
MARGIN = timedelta(seconds=5)  # no POST starts later than this before the sweep may take it
MIN_BUDGET = 1.0  # seconds: an event with less left is left to the sweep


class FreshSettler(Protocol):
    """Where first deliveries are recorded (`store.CallbackOutbox`)."""

    def settle_fresh(self, delivered: Sequence[int], retry: Sequence[tuple[int, datetime]]) -> None:
        """Delete the delivered events, count and schedule the failed ones."""
        ...


@dataclass
class PumpStats:
    """What the pump did (for logs, tests and the bench)."""

    offered: int = 0
    handed_back: int = 0  # did not fit: the caller published them
    late: int = 0  # too close to the sweep's grace: left to it
    delivered: int = 0
    retried: int = 0
    settle_errors: int = 0


class CallbackPump:
    """Delivers callback events committed by this process; two threads, bounded memory."""

    def __init__(
        self,
        outbox: FreshSettler,
        dispatcher: CallbackDispatcher,
        clock: Callable[[], datetime],
        retry: CallbackRetry = DEFAULT_CALLBACK_RETRY,
        post_timeout: float = 10.0,
        max_pending: int = MAX_PENDING,
        batch_max: int = BATCH_MAX,
        in_flight: int = IN_FLIGHT,
        grace: timedelta = CALLBACK_HANDOFF_GRACE,
        margin: timedelta = MARGIN,
    ) -> None:
        if not timedelta(0) < margin < grace:
            raise ValueError("margin must be positive and shorter than the grace")
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._clock = clock
        self._retry = retry
        self._post_timeout = post_timeout
        self._max_pending = max_pending
        self._batch_max = batch_max
        self._usable = grace - margin  # after its creation, an event's last moment to start
        self._pending: deque[PendingCallback] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._submitted: queue.Queue[
            tuple[list[PendingCallback], Future[DeliveryReport], float] | None
        ] = queue.Queue(maxsize=in_flight)
        self.stats = PumpStats()
        self._feeder = threading.Thread(target=self._feed, name="callback-pump", daemon=True)
        self._settler = threading.Thread(target=self._settle, name="callback-settle", daemon=True)
        self._feeder.start()
        self._settler.start()

    def offer(self, events: Sequence[PendingCallback]) -> list[PendingCallback]:
        """Take what fits for delivery; returns the events not taken (the caller hands them on)."""
        if not events:
            return []
        with self._cond:
            if self._closing:
                return list(events)
            room = max(0, self._max_pending - len(self._pending))
            self._pending.extend(events[:room])
            self.stats.offered += len(events)
            rest = list(events[room:])
            self.stats.handed_back += len(rest)
            self._cond.notify()
        return rest

    def pending(self) -> int:
        """Events taken and not yet handed to the dispatcher."""
        with self._cond:
            return len(self._pending)

    def _feed(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    break
                take = min(self._batch_max, len(self._pending))
                batch = [self._pending.popleft() for _ in range(take)]
            now = self._clock()
            fresh = [e for e in batch if self._left(e, now) >= MIN_BUDGET]
            late = len(batch) - len(fresh)
            if late:  # the rows wait for the sweep (attempts still 0)
                self.stats.late += late
            if not fresh:
                continue
            budget = min(self._post_timeout, min(self._left(e, now) for e in fresh))
            try:
                future = self._dispatcher.submit(fresh, budget)
            except Exception:  # the dispatcher is gone: the sweep delivers them later
                log.exception("callback pump: could not submit %d events", len(fresh))
                continue
            self._submitted.put((fresh, future, budget))  # blocks at IN_FLIGHT calls
        self._submitted.put(None)

    def _left(self, event: PendingCallback, now: datetime) -> float:
        return (event.created_at + self._usable - now).total_seconds()

    def _settle(self) -> None:
        done = False
        while not done:
            item = self._submitted.get()
            if item is None:
                return
            reports = [self._report(item)]
            while True:  # settle every call that is ready in one transaction
                try:
                    nxt = self._submitted.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    done = True
                    break
                reports.append(self._report(nxt))
            self._write(reports)

    @staticmethod
    def _report(
        item: tuple[list[PendingCallback], Future[DeliveryReport], float],
    ) -> tuple[list[PendingCallback], DeliveryReport]:
        events, future, budget = item
        try:
            return events, future.result(timeout=budget + 5)
        except Exception:  # stuck or broken loop: every event failed, retried by the sweep
            future.cancel()
            return events, DeliveryReport((), tuple(e.event_id for e in events))

    def _write(self, reports: list[tuple[list[PendingCallback], DeliveryReport]]) -> None:
        now = self._clock()
        delivered: list[int] = []
        retry: list[tuple[int, datetime]] = []
        for events, report in reports:
            delivered.extend(report.delivered)
            failed = set(report.failed)
            for event in events:
                if event.event_id in failed:
                    # Never given up after one try: the 24 h budget is far off.
                    at = next_callback_attempt(event.attempts, now, event.created_at, self._retry)
                    retry.append((event.event_id, at or now))
        try:
            self._outbox.settle_fresh(delivered, retry)
        except Exception:  # rows stay at 0 attempts: the sweep hands them out after the grace
            self.stats.settle_errors += 1
            log.exception(
                "callback pump: could not settle %d delivered / %d failed events",
                len(delivered),
                len(retry),
            )
            return
        self.stats.delivered += len(delivered)
        self.stats.retried += len(retry)
        count_callbacks(len(delivered), len(retry), 0)  # metrics, per settle

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what was taken (up to `timeout` s), settle it, stop the threads, close the
        dispatcher (the pump's own)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._feeder.join(timeout)
        self._settler.join(timeout)
        self._dispatcher.close()
