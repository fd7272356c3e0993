"""Carrier message ids this process was given in `submit_sm_resp` and has not committed yet.

A receipt can reach the worker before the attempt it answers is written: the send loop writes
finished messages in groups, and a carrier that answers fast (or a loaded machine) sends the
receipt first. Such a receipt matched nothing and was parked in the database, then applied
again a quarter second later: at full load half of all receipts took that path (4,859 of
10,000 in one `bench/e2e.py` run), each costing a failed match, a parked row, a second match
and a delete. The receipt forwarder now holds a receipt whose id is still in this registry, in
memory and unacknowledged (so a crash loses nothing: the carrier resends it), until the write
that carries its id commits, then writes it with the next batch; the commit nudges it.

Ids are added as each `submit_sm_resp` arrives (the submit future's done callback, on the SMPP
reader thread, before any later PDU of that bind is read) and discarded when the recorder has
written their message. An id whose message is never written (a task that died) is forgotten
after `max_age` seconds; the forwarder also stops holding a receipt after its own `hold_max`.

Written ids are remembered a while longer (the newest `recent_max`, with the time their
`submit_sm_resp` came) so a receipt this process receives can tell its delay (`age`): an
input of the carrier's health. A receipt delivered on another process's bind has no delay.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable


class UncommittedIds:
    """A thread-safe set of (carrier, carrier message id) not yet committed, with listeners."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = 30.0,
        recent_max: int = 20_000,
    ) -> None:
        self._clock = clock
        self._max_age = max_age
        self._ids: dict[tuple[str, str], float] = {}
        self._recent: dict[tuple[str, str], float] = {}  # written, oldest first
        self._recent_max = recent_max
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._added = 0

    def add(self, carrier: str, message_id: str) -> None:
        """`message_id` came back for a part submitted to `carrier`; its row is not written."""
        now = self._clock()
        with self._lock:
            self._ids[carrier, message_id] = now
            self._added += 1
            if self._added % 4096 == 0:  # forget ids whose message was never written
                old = now - self._max_age
                for key in [k for k, at in self._ids.items() if at < old]:
                    del self._ids[key]

    def committed(self, ids: Iterable[tuple[str, str]]) -> None:
        """These (carrier, id) pairs are written (or will never be): forget them, then tell the
        listeners (the receipt forwarder releases what it held for them)."""
        with self._lock:
            recent = self._recent
            for key in ids:
                at = self._ids.pop(key, None)
                if at is not None:
                    recent[key] = at
            excess = len(recent) - self._recent_max
            if excess > 0:
                for key in list(itertools.islice(recent, excess)):
                    del recent[key]
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def holds(self, carrier: str, variants: Iterable[str]) -> bool:
        """True when any of a receipt's id variants is still waiting for its write."""
        ids = self._ids
        return any((carrier, v) in ids for v in variants)

    def age(self, carrier: str, variants: Iterable[str]) -> float | None:
        """Seconds since the `submit_sm_resp` of a receipt's id came to this process, if it
        is remembered (forgotten once asked); None otherwise."""
        now = self._clock()
        with self._lock:
            for v in variants:
                at = self._ids.get((carrier, v)) or self._recent.pop((carrier, v), None)
                if at is not None:
                    return max(0.0, now - at)
        return None

    def listen(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every `committed` (from the committing thread)."""
        with self._lock:
            self._listeners.append(listener)

    def __len__(self) -> int:
        return len(self._ids)
