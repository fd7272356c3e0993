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
from datetime import datetime, timedelta

from carriers import Mo
from inbound import (
    DEFAULT_HELP_REPLY,
    DEFAULT_KEYWORDS,
    KeywordAction,
    Keywords,
    ReplyRules,
    subscriber_number,
)
from metrics import count_replies
from routing import InboundSpec
from store import InboundActions, InboundRecord, InboundWriteResult, MessageStore
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


def reply_rules(spec: InboundSpec) -> ReplyRules:
    """The reply rules of a routes file's `[replies]` (the built-in HELP text under them)."""
    return ReplyRules(
        default={"help": DEFAULT_HELP_REPLY, **spec.replies},
        accounts=spec.account_replies,
        numbers=spec.number_replies,
        every=timedelta(minutes=spec.reply_every_minutes),
    )


def inbound_actions(spec: InboundSpec) -> InboundActions:
    """What the store does with each MO under a routes file: its account's `inbound_url`
    event, its reply (`inbound.ReplyRules`, pure) — as the store's plain callables."""
    rules = reply_rules(spec)

    def reply(account: str, number: str, keyword: str | None) -> tuple[str, str] | None:
        found = rules.reply_for(KeywordAction(keyword) if keyword else None, account, number)
        return (found.kind.value, found.text) if found is not None else None

    return InboundActions(inbound_url=spec.urls.get, reply=reply, reply_every=rules.every)


def inbound_writer(
    store: MessageStore,
    owner: Callable[[str], str | None],
    keywords: Keywords | Callable[[], Keywords],
    actions: Callable[[], InboundActions] | None = None,
    after: Callable[[InboundWriteResult], None] | None = None,
) -> Callable[[list[InboundRecord]], int]:
    """The forwarder's hand-off: one transaction per batch; nothing is ever parked.

    `keywords` may be a callable, read once per batch (the routes file's set, hot-reloaded);
    so is `actions` (webhooks and replies). `after` gets each committed batch's result (its
    webhook events to POST, its replies to enqueue); it must not raise.
    """

    def classify(text: str) -> str | None:
        current = keywords() if callable(keywords) else keywords
        action = current.classify(text)
        return action.value if action else None

    def write(records: list[InboundRecord]) -> int:
        if actions is None:
            result = store.write_inbound(records, owner, classify)
        else:
            result = store.write_inbound(records, owner, classify, actions())
        count_replies(len(result.replies), result.throttled)  # metrics, per batch
        if after is not None:
            after(result)
        return 0

    return write
