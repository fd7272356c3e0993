"""MO hand-off: every mobile-originated deliver_sm is stored, then acknowledged.

The same durable forwarder as receipts (workers/handoff.py): a batch of MOs is written in one
transaction (`MessageStore.write_inbound`: whole MOs stored, parts of concatenated ones kept
until complete, STOP / START applied to the owning account's opt-out list), and only then is
each `deliver_sm_resp` sent. Which account owns the destination number comes from the routes
file's `[numbers]`, read when the batch is written (hot reloads apply).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from carriers import Mo
from inbound import Keywords, subscriber_number
from store import InboundRecord, MessageStore
from workers.handoff import DurableForwarder


class InboundForwarder(DurableForwarder[InboundRecord]):
    """Collects (MO, ack) pairs; a flusher thread stores each batch, then acks it."""

    kind = "inbound"


def inbound_record(carrier: str, mo: Mo, now: datetime) -> InboundRecord:
    """An MO from `carrier`'s bind, ready to store (the sender in E.164 when numeric)."""
    return InboundRecord(
        carrier, subscriber_number(mo.source), mo.destination, mo.text, now, mo.part
    )


def inbound_writer(
    store: MessageStore, owner: Callable[[str], str | None], keywords: Keywords
) -> Callable[[list[InboundRecord]], int]:
    """The forwarder's hand-off: one transaction per batch; nothing is ever parked."""

    def classify(text: str) -> str | None:
        action = keywords.classify(text)
        return action.value if action else None

    def write(records: list[InboundRecord]) -> int:
        store.write_inbound(records, owner, classify)
        return 0

    return write
