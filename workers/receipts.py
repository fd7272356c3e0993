"""Receipt hand-off: the durable forwarder (workers/handoff.py) over receipt records.

Matched receipts settle their parts, attempts and messages, unmatched ones are parked in the
same transaction (`MessageStore.apply_receipts`) and applied again every
`PARKED_RETRY_SECONDS`; each receipt is acknowledged only after its batch is committed.
"""

from __future__ import annotations

from store import ReceiptRecord
from workers.handoff import PARKED_RETRY_SECONDS, DurableForwarder, HandOffBackoff

__all__ = ["PARKED_RETRY_SECONDS", "HandOffBackoff", "ReceiptForwarder"]


class ReceiptForwarder(DurableForwarder[ReceiptRecord]):
    """Collects (receipt, ack) pairs; a flusher thread writes each batch, then acks it."""

    kind = "receipts"
