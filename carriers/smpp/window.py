"""The in-flight window: requests awaiting a response, by sequence number, with deadlines.

No sockets: the session registers what it sends and settles what it hears; the window keeps
the count of submit_sm in flight (the carrier's window, the part that blocks) and the
deadlines (SMPP 3.4 §2.7: responses may come in any order, matched by sequence_number).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from carriers.smpp.codec import MAX_SEQUENCE, Pdu
from messaging.errors import CarrierError, Unbound

Clock = Callable[[], float]


@dataclass(eq=False)
class InFlight:
    """A request awaiting its response; `resolve`/`fail` settle whoever waits for it."""

    command: str
    deadline: float
    resolve: Callable[[Pdu], None]
    fail: Callable[[CarrierError], None]
    counted: bool  # holds a window slot (submit_sm); enquire_link, unbind… do not


class InFlightWindow:
    """Thread-safe registry of in-flight requests; counted ones block while `capacity` are out."""

    def __init__(self, capacity: int, clock: Clock) -> None:
        self.capacity = capacity
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[int, InFlight] = {}
        self._counted = 0
        self._sequence = 0
        self._accepting = False
        self._closed: str | None = None

    @property
    def accepting(self) -> bool:
        """True while counted requests (submits) may be registered."""
        return self._accepting and self._closed is None

    @property
    def closed_reason(self) -> str | None:
        """Why the window was closed, or None while open."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Counted requests registered and not yet settled."""
        return self._counted

    def __len__(self) -> int:
        return len(self._pending)

    def accept(self) -> None:
        """Start taking counted requests (after bind_resp)."""
        with self._cond:
            self._accepting = self._closed is None

    def stop_accepting(self) -> None:
        """No more counted requests (unbind sent); waiters wake and fail with Unbound."""
        with self._cond:
            self._accepting = False
            self._cond.notify_all()

    def register(
        self,
        command: str,
        timeout: float,
        resolve: Callable[[Pdu], None],
        fail: Callable[[CarrierError], None],
        *,
        counted: bool,
    ) -> int:
        """Reserve the next sequence number for `command`; counted ones wait for a free slot.

        Raises:
            Unbound: the window is closed, or (counted) is not accepting.
        """
        with self._cond:
            while counted and self.accepting and self._counted >= self.capacity:
                self._cond.wait()
            if self._closed is not None or (counted and not self._accepting):
                raise Unbound(detail=self._closed or "not bound")
            # SMPP 3.4 §3.2: sequence numbers run 0x00000001..0x7FFFFFFF, then wrap.
            self._sequence = self._sequence % MAX_SEQUENCE + 1
            self._pending[self._sequence] = InFlight(
                command, self._clock() + timeout, resolve, fail, counted
            )
            if counted:
                self._counted += 1
            return self._sequence

    def take(self, sequence: int) -> InFlight | None:
        """Remove and return the request answered by `sequence`; None if unknown or expired."""
        with self._cond:
            entry = self._pending.pop(sequence, None)
            if entry is not None and entry.counted:
                self._counted -= 1
                self._cond.notify()
            return entry

    def expire(self, now: float) -> list[InFlight]:
        """Remove and return every request whose deadline has passed."""
        with self._cond:
            late = [seq for seq, entry in self._pending.items() if entry.deadline <= now]
            entries = [self._pending.pop(seq) for seq in late]
            freed = sum(1 for entry in entries if entry.counted)
            if freed:
                self._counted -= freed
                self._cond.notify(freed)
            return entries

    def close(self, reason: str) -> list[InFlight] | None:
        """Close for good: returns everything still in flight, or None if already closed."""
        with self._cond:
            if self._closed is not None:
                return None
            self._closed = reason
            self._accepting = False
            entries = list(self._pending.values())
            self._pending.clear()
            self._counted = 0
            self._cond.notify_all()
            return entries
