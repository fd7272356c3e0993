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


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a hand-off did with its batch: how many items it parked, and the items it did not
    take (`again`: left unacknowledged and handed off again after `AGAIN_SECONDS`)."""

    parked: int = 0
    again: tuple[T, ...] = ()


# Writes one batch durably; returns how many items it parked (to be applied again later), or
# a `Written` that also names the items it left for later.
HandOff = Callable[[list[T]], "int | Written[T]"]
# Applies parked items again; returns how many are still parked.
RetryParked = Callable[[], int]
# Drops the binds of these carriers (so they re-deliver what we could not acknowledge).
DropBinds = Callable[[set[str]], None]
# True while an item must wait before it is written (a receipt whose attempt is not written).
Hold = Callable[[T], bool]

PARKED_RETRY_SECONDS = 0.25  # a receipt that raced its submit_sm_resp waits about this long
AGAIN_SECONDS = 0.05  # an item a hand-off left for later goes into the first batch after this


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
        hold: Hold[T] | None = None,
        hold_max: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`hold`: an item it is true for waits, unacknowledged, until it turns false (call
        `nudge` when it may have) or `hold_max` seconds have passed; then it goes first into the
        next batch."""
        self._hand_off = hand_off
        self._flush_seconds = flush_seconds
        self._max_batch = max_batch
        self._backoff = backoff
        self._stall_after = stall_after
        self._max_pending = max_pending
        self._drop_binds = drop_binds
        self._retry_parked = retry_parked
        self._clock = clock
        self._hold = hold
        self._hold_max = hold_max
        self._held: list[_Pending[T]] = []
        self._again: list[tuple[float, _Pending[T]]] = []  # (due, item) left by a hand-off
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
        """Items received and not yet acknowledged (held ones included)."""
        with self._lock:
            return len(self._pending) + len(self._held) + len(self._again)

    @property
    def held(self) -> int:
        """Items waiting for their `hold` to end."""
        with self._lock:
            return len(self._held)

    def add(self, item: T, ack: Ack) -> None:
        """Queue one item; it is acked after its batch is committed."""
        pending = _Pending(item, ack, self._clock())
        if self._hold is not None and self._hold(item):
            with self._lock:
                self._held.append(pending)
                if len(self._held) == 1:
                    self._lock.notify()  # the flusher re-checks held items on a deadline
            return
        with self._lock:
            if not self._pending:
                self._lock.notify()  # starts the linger
            self._pending.append(pending)
            if len(self._pending) >= self._max_batch:
                self._lock.notify()

    def nudge(self) -> None:
        """What held items wait for may have happened: the flusher looks again now."""
        with self._lock:
            if self._held:
                self._lock.notify()

    def _released(self, now: float) -> list[_Pending[T]]:
        """Take the items left for later that are due, then the held items whose hold ended
        (or ran out), oldest first."""
        free: list[_Pending[T]] = []
        if self._again and (self._closed or self._again[0][0] <= now):
            free = [p for due, p in self._again if self._closed or due <= now]
            self._again = [(due, p) for due, p in self._again if not (self._closed or due <= now)]
        if not self._held:
            return free
        assert self._hold is not None
        hold, oldest = self._hold, now - self._hold_max
        ended = [p for p in self._held if self._closed or p.at <= oldest or not hold(p.item)]
        if ended:
            taken = {id(p) for p in ended}
            self._held = [p for p in self._held if id(p) not in taken]
        return free + ended

    def _take(self) -> list[_Pending[T]]:
        """Wait for a batch (linger or full), for held items to be released, or for parked
        items to be due; FIFO within each."""
        with self._lock:
            released = self._released(self._clock())
            while not released and not self._closed and len(self._pending) < self._max_batch:
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
                if self._held:  # a nudge may be missed: look again at least this often
                    left = min(left, self._held[0].at + self._hold_max - now, 0.05)
                if self._again:
                    left = min(left, self._again[0][0] - now)
                self._lock.wait(max(left, 0.001))
                released = self._released(self._clock())
            room = max(0, self._max_batch - len(released))
            batch = released + self._pending[:room]
            del self._pending[:room]
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
                written = self._hand_off([p.item for p in batch])
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
        if isinstance(written, Written):
            parked, later = written.parked, {id(item) for item in written.again}
        else:
            parked, later = written, set()
        if later:  # not taken: kept unacknowledged, handed off again soon
            due = self._clock() + AGAIN_SECONDS
            with self._lock:
                if not self._closed:  # closing: left unacknowledged, the carrier resends them
                    self._again += [(due, p) for p in batch if id(p.item) in later]
            batch = [p for p in batch if id(p.item) not in later]
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
            held = [p for p in self._held if p.item.carrier not in carriers]
            released = len(self._pending) - len(kept) + len(self._held) - len(held) + len(batch)
            self._pending, self._held = kept, held
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
