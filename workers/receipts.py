"""Receipt hand-off: batch receipts from SMPP reader threads into one durable task, then ack.

The carrier gets its `deliver_sm_resp` only after the batch is on the broker (ARCHITECTURE.md,
"Receipt path"): a crash before that makes the carrier resend, so nothing is lost.

A batch lingers up to `flush_seconds` from its first receipt (or until `max_batch`): every
reconcile task costs the same handful of statements whatever its size, so one task per receipt
would spend the receipts worker's CPU on overhead. A receipt is not urgent; its ack may wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Ack = Callable[[], None]
ReceiptPayload = dict[str, Any]


class ReceiptForwarder:
    """Collects (payload, ack) pairs; a flusher thread publishes each batch, then acks it."""

    def __init__(
        self,
        publish: Callable[[list[ReceiptPayload]], None],
        flush_seconds: float = 0.02,
        max_batch: int = 500,
    ) -> None:
        self._publish = publish
        self._flush_seconds = flush_seconds
        self._max_batch = max_batch
        self._pending: list[tuple[ReceiptPayload, Ack]] = []
        self._first_at = 0.0  # monotonic time the oldest pending receipt arrived
        self._lock = threading.Condition()
        self._closed = False
        self.published = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="receipt-forwarder", daemon=True)
        self._thread.start()

    def add(self, payload: ReceiptPayload, ack: Ack) -> None:
        """Queue one receipt; it is acked after its batch is published."""
        with self._lock:
            if not self._pending:
                self._first_at = time.monotonic()
                self._lock.notify()  # starts the linger
            self._pending.append((payload, ack))
            if len(self._pending) >= self._max_batch:
                self._lock.notify()

    def _take(self) -> list[tuple[ReceiptPayload, Ack]]:
        with self._lock:
            while not self._closed and len(self._pending) < self._max_batch:
                if not self._pending:
                    self._lock.wait(self._flush_seconds)
                    continue
                left = self._first_at + self._flush_seconds - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            batch, self._pending = (
                self._pending[: self._max_batch],
                self._pending[self._max_batch :],
            )
            self._first_at = time.monotonic()  # what is left starts a new linger
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._flush(batch)
            elif self._closed:
                return

    def _flush(self, batch: list[tuple[ReceiptPayload, Ack]]) -> None:
        try:
            self._publish([payload for payload, _ in batch])
        except Exception:
            # Not acked: the carrier resends these receipts (SMPP 3.4 §4.6.2: no resp, no delivery).
            self.failures += 1
            log.exception("could not hand off %d receipts; leaving them unacknowledged", len(batch))
            return
        self.published += len(batch)
        for _, ack in batch:
            try:
                ack()
            except Exception:  # a session that died meanwhile: the carrier resends
                log.warning("could not acknowledge a receipt; the carrier will resend it")

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is pending and stop the thread."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout)
