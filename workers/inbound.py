"""MO hand-off: every mobile-originated deliver_sm is stored, then acknowledged.

The same durable forwarder as receipts (workers/handoff.py): a batch of MOs is written in one
transaction (`MessageStore.write_inbound`: whole MOs stored, parts of concatenated ones kept
until complete, STOP / START applied to the owning account's opt-out list), and only then is
each `deliver_sm_resp` sent. Which account owns the destination number comes from the routes
file's `[numbers]`, read when the batch is written (hot reloads apply).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from carriers import Mo
from inbound import DEFAULT_KEYWORDS, Keywords, subscriber_number
from store import InboundRecord, MessageStore
from workers.handoff import DurableForwarder

log = logging.getLogger(__name__)


class InboundForwarder(DurableForwarder[InboundRecord]):
    """Collects (MO, ack) pairs; a flusher thread stores each batch, then acks it."""

    kind = "inbound"


def inbound_record(carrier: str, mo: Mo, now: datetime) -> InboundRecord:
    """An MO from `carrier`'s bind, ready to store (the sender in E.164 when numeric)."""
    return InboundRecord(
        carrier, subscriber_number(mo.source), mo.destination, mo.text, now, mo.part
    )


def with_operator_keywords(extra: Mapping[str, tuple[str, ...]]) -> Keywords:
    """The defaults plus the operator's extra keywords (cached: a routes file has one set)."""
    return _with_extra(tuple(sorted((k, tuple(v)) for k, v in extra.items())))


@functools.lru_cache(maxsize=8)
def _with_extra(extra_items: tuple[tuple[str, tuple[str, ...]], ...]) -> Keywords:
    """The default keywords plus the routes file's `[keywords]` (ARRET, ABMELDEN, BAJA…).

    A word the operator put in another set than its default (START as an opt-out) cannot be
    both: the defaults stay, the file's sets are dropped, and an ERROR line says why.
    """
    extra = dict(extra_items)
    try:
        return Keywords(
            DEFAULT_KEYWORDS.opt_out | frozenset(extra.get("opt_out", ())),
            DEFAULT_KEYWORDS.opt_in | frozenset(extra.get("opt_in", ())),
            DEFAULT_KEYWORDS.help | frozenset(extra.get("help", ())),
        )
    except ValueError as error:
        log.error("[keywords] of the routes file ignored: %s", error)
        return DEFAULT_KEYWORDS


def inbound_writer(
    store: MessageStore,
    owner: Callable[[str], str | None],
    keywords: Keywords | Callable[[], Keywords],
) -> Callable[[list[InboundRecord]], int]:
    """The forwarder's hand-off: one transaction per batch; nothing is ever parked.

    `keywords` may be a callable, read once per batch (the routes file's set, hot-reloaded).
    """

    def classify(text: str) -> str | None:
        current = keywords() if callable(keywords) else keywords
        action = current.classify(text)
        return action.value if action else None

    def write(records: list[InboundRecord]) -> int:
        store.write_inbound(records, owner, classify)
        return 0

    return write
