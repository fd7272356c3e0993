"""An in-memory twin of SmppSession for unit tests of its callers (workers): no sockets.

It follows the same contract (see tests/integration/carriers/test_session_contract.py):
submit → a future of the carrier message id or a CarrierError; Unbound when not bound;
receipts go to `on_receipt(receipt, ack)` and count as handed back only once acked. Receipts
are held until :meth:`MemorySession.deliver_receipts` is called, so a test decides whether
a receipt races ahead of the caller storing the submit's id.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from carriers.receipts import Receipt
from carriers.smpp.session import Ack, MoHandler, ReceiptHandler, failed_future
from carriers.smpp.types import Endpoint, SubmitPart
from carriers.smpp.window import Clock
from messaging.errors import CarrierError, Unbound
from messaging.types import ReceiptState

# What the carrier does with a part: answer with this id, or fail with this error.
Script = Callable[[SubmitPart], "str | CarrierError"]


class MemorySession:
    """A session that binds instantly and answers submits from a script."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        on_receipt: ReceiptHandler | None = None,
        on_mo: MoHandler | None = None,
        clock: Clock = time.monotonic,
        script: Script | None = None,
        bind_error: Unbound | None = None,
        receipt_state: ReceiptState = ReceiptState.DELIVERED,
        **_: Any,
    ) -> None:
        self.endpoint = endpoint
        self.window = window
        self.on_receipt = on_receipt
        self.on_mo = on_mo
        self._ids = (format(n, "x") for n in itertools.count(0x1000))
        self._script = script or (lambda part: next(self._ids))
        self._bind_error = bind_error
        self._receipt_state = receipt_state
        self._lock = threading.Lock()
        self._bound = False
        self.submitted: list[SubmitPart] = []
        self.pending_receipts: list[Receipt] = []
        self.acked: list[str] = []
        self._handed: dict[str, Receipt] = {}

    @property
    def bound(self) -> bool:
        """True between a successful bind and close/drop."""
        return self._bound

    @property
    def in_flight(self) -> int:
        """Always 0: every submit is answered at once."""
        return 0

    @property
    def written_at(self) -> float:
        """No wire: never later than anything (inf)."""
        return float("inf")

    def bind(self) -> None:
        """Bind, or raise the configured `bind_error`."""
        if self._bind_error is not None:
            raise self._bind_error
        self._bound = True

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> Future[str]:
        """Answer from the script; a successful submit queues a receipt (`not_before`: no
        wire, nothing to wait for)."""
        if not self._bound:
            return failed_future(Unbound(detail=f"{self.endpoint.name}: not bound"))
        with self._lock:
            self.submitted.append(part)
            outcome = self._script(part)
        if isinstance(outcome, CarrierError):
            return failed_future(outcome)
        if part.registered_delivery & 0x03:
            with self._lock:
                self.pending_receipts.append(Receipt(outcome, self._receipt_state, "000"))
        future: Future[str] = Future()
        future.set_result(outcome)
        return future

    def deliver_receipts(self) -> int:
        """Hand every queued receipt to `on_receipt`; returns how many were handed over."""
        with self._lock:
            receipts, self.pending_receipts = self.pending_receipts, []
        handler = self.on_receipt
        if handler is None:
            with self._lock:  # unanswered: kept, as a carrier would resend it
                self.pending_receipts = receipts + self.pending_receipts
            return 0
        for receipt in receipts:
            with self._lock:
                self._handed[receipt.carrier_message_id] = receipt
            handler(receipt, self._ack_for(receipt))
        return len(receipts)

    def _ack_for(self, receipt: Receipt) -> Ack:
        once = threading.Lock()

        def ack() -> None:
            if not self._bound or not once.acquire(blocking=False):
                return
            with self._lock:
                self.acked.append(receipt.carrier_message_id)
                self._handed.pop(receipt.carrier_message_id, None)

        return ack

    def drop(self) -> None:
        """Lose the connection, as a carrier or network would; unacked receipts come back."""
        self._bound = False
        with self._lock:
            self.pending_receipts = [*self._handed.values(), *self.pending_receipts]
            self._handed.clear()

    def close(self) -> None:
        """Unbind; unacked receipts come back, as the carrier would resend them."""
        self.drop()
