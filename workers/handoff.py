"""Durable hand-off of deliver_sm PDUs: batch them from SMPP callback threads, write each batch
to the database in one transaction, and only then acknowledge each (`deliver_sm_resp`).

One machine for receipts (`ReceiptForwarder`, workers/receipts.py) and mobile-originated
messages (workers/inbound.py): the carrier gets its `deliver_sm_resp` only after the batch is
committed (ARCHITECTURE.md, "Receipt path"), so a crash before the commit makes the carrier
resend and nothing is lost; Redis is not on this path at all, so a broker restart cannot strand
a PDU (it did: acks were held until a Celery publish that never came back).

A batch lingers up to `flush_seconds` from its first item (or until `max_batch`): a
transaction costs a handful of statements whatever its size. While one batch is written the
next one fills, so a dense stream batches itself and the linger only matters when it is thin.

A failed write is retried with backoff, the same batch first (items stay in order), and
nothing is acknowledged meanwhile. If the write cannot succeed within `stall_after`, or more
than `max_pending` items wait, the items of those carriers are let go and their binds
dropped: SMPP 3.4 §4.6.2 leaves an unanswered `deliver_sm` to the SMSC's retry, and a carrier
re-delivers unacknowledged PDUs on the next bind instead of holding them behind a full
window for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class FromCarrier(Protocol):
    """What the forwarder needs of an item: the carrier whose bind delivered it."""

    @property
    def carrier(self) -> str: ...


T = TypeVar("T", bound=FromCarrier)

Ack = Callable[[], None]
# Writes one batch durably; returns how many items it parked (to be applied again later).
HandOff = Callable[[list[T]], int]
# Applies parked items again; returns how many are still parked.
RetryParked = Callable[[], int]
# Drops the binds of these carriers (so they re-deliver what we could not acknowledge).
DropBinds = Callable[[set[str]], None]

PARKED_RETRY_SECONDS = 0.25  # a receipt that raced its submit_sm_resp waits about this long


@dataclass(frozen=True)
class HandOffBackoff:
    """Seconds to wait after the n-th failed write of a batch: first * 2**(n-1), capped."""

    first: float = 0.1
    cap: float = 2.0

    def after(self, failures: int) -> float:
        """The wait after `failures` consecutive failed writes."""
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.first * 2 ** (failures - 1)))


@dataclass(frozen=True)
class _Pending(Generic[T]):
    item: T
    ack: Ack
    at: float  # monotonic arrival


class DurableForwarder(Generic[T]):
    """Collects (item, ack) pairs; a flusher thread writes each batch, then acks it."""

    kind = "items"  # what the log lines call them

    def __init__(
        self,
        hand_off: HandOff[T],
        *,
        flush_seconds: float = 0.02,
        max_batch: int = 500,
        backoff: HandOffBackoff = HandOffBackoff(),
        stall_after: float = 20.0,
        max_pending: int = 20_000,
        drop_binds: DropBinds | None = None,
        retry_parked: RetryParked | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hand_off = hand_off
        self._flush_seconds = flush_seconds
        self._max_batch = max_batch
        self._backoff = backoff
        self._stall_after = stall_after
        self._max_pending = max_pending
        self._drop_binds = drop_binds
        self._retry_parked = retry_parked
        self._clock = clock
        self._pending: list[_Pending[T]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._stop = threading.Event()  # wakes a backoff sleep at close (new items do not)
        self._parked_due: float | None = None  # when to apply parked items again
        self._outage_since: float | None = None  # first failed write of the current outage
        self.written = 0  # items committed and acknowledged
        self.failures = 0  # failed writes (each retried)
        self.let_go = 0  # items left to the carrier's re-delivery (bind dropped)
        self._thread = threading.Thread(
            target=self._run, name=f"{self.kind}-forwarder", daemon=True
        )
        self._thread.start()

    @property
    def pending(self) -> int:
        """Items received and not yet acknowledged."""
        with self._lock:
            return len(self._pending)

    def add(self, item: T, ack: Ack) -> None:
        """Queue one item; it is acked after its batch is committed."""
        with self._lock:
            if not self._pending:
                self._lock.notify()  # starts the linger
            self._pending.append(_Pending(item, ack, self._clock()))
            if len(self._pending) >= self._max_batch:
                self._lock.notify()

    def _take(self) -> list[_Pending[T]]:
        """Wait for a batch (linger or full), or for parked items to be due; FIFO."""
        with self._lock:
            while not self._closed and len(self._pending) < self._max_batch:
                now = self._clock()
                if self._parked_due is not None and now >= self._parked_due:
                    break
                if self._pending:
                    left = self._pending[0].at + self._flush_seconds - now
                    if left <= 0:
                        break
                else:
                    left = self._flush_seconds * 50
                if self._parked_due is not None:
                    left = min(left, self._parked_due - now)
                self._lock.wait(max(left, 0.001))
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._flush(batch)
            if self._parked_due is not None and self._clock() >= self._parked_due:
                self._apply_parked()
            if not batch and self._closed:
                return

    def _flush(self, batch: list[_Pending[T]]) -> None:
        tries = 0
        while True:
            try:
                parked = self._hand_off([p.item for p in batch])
                break
            except Exception as exc:
                tries += 1
                self.failures += 1
                self._note_outage(exc, len(batch))
                if self._closed:
                    return  # not acked: the carrier resends them to whoever binds next
                if self._stalled(batch):
                    self._let_go(batch)
                    return
                self._sleep(self._backoff.after(tries))
        self._note_recovered()
        self.written += len(batch)
        for pending in batch:
            try:
                pending.ack()
            except Exception:  # a session that died meanwhile: the carrier resends
                log.warning(
                    "could not acknowledge one of the %s; the carrier resends it", self.kind
                )
        if parked and self._retry_parked is not None and self._parked_due is None:
            self._parked_due = self._clock() + PARKED_RETRY_SECONDS

    def _apply_parked(self) -> None:
        assert self._retry_parked is not None
        try:
            remaining = self._retry_parked()
        except Exception as exc:
            log.warning("could not apply parked %s (will retry): %s", self.kind, exc)
            remaining = 1
        self._parked_due = self._clock() + PARKED_RETRY_SECONDS if remaining else None

    def _stalled(self, batch: list[_Pending[T]]) -> bool:
        """True when this batch has waited past `stall_after` or too many items wait."""
        waited = self._clock() - batch[0].at
        return waited >= self._stall_after or self.pending + len(batch) > self._max_pending

    def _let_go(self, batch: list[_Pending[T]]) -> None:
        """Give these items (and every pending one of their carriers) back to the carriers."""
        carriers = {p.item.carrier for p in batch}
        with self._lock:
            kept = [p for p in self._pending if p.item.carrier not in carriers]
            released = len(self._pending) - len(kept) + len(batch)
            self._pending = kept
        self.let_go += released
        log.error(
            "%s: could not write %d of them from %s for %.0f s; dropping those binds so the "
            "carriers re-deliver them",
            self.kind,
            released,
            ", ".join(sorted(carriers)),
            self._clock() - batch[0].at,
        )
        if self._drop_binds is not None:
            try:
                self._drop_binds(carriers)
            except Exception:
                log.exception("could not drop the binds of %s", sorted(carriers))

    def _note_outage(self, exc: Exception, size: int) -> None:
        if self._outage_since is None:
            self._outage_since = self._clock()
            log.warning(
                "%s: cannot write to the database (%s); %d held unacknowledged, retrying",
                self.kind,
                exc,
                size,
            )

    def _note_recovered(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "%s: database writes recovered after %.1f s",
                self.kind,
                self._clock() - self._outage_since,
            )
            self._outage_since = None

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending (one try) and stop the thread."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._stop.set()
        self._thread.join(timeout)
