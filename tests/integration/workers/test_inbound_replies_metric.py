"""The MO hand-off counts its automatic replies (SQLite and PostgreSQL): queued ones, and
those the throttle suppressed (`switchboard_inbound_replies_total{result}`)."""

from __future__ import annotations

from inbound import DEFAULT_KEYWORDS
from metrics import INBOUND_REPLIES
from store import MessageStore
from tests.integration.store.test_inbound_actions import ACTIONS, NOW, OWNERS, _mo
from workers.inbound import inbound_writer


def _replies() -> dict[str, float]:
    return {
        s.labels["result"]: s.value
        for family in INBOUND_REPLIES.collect()
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_throttled_replies_are_counted_apart_from_queued_ones(store: MessageStore) -> None:
    store.ensure_account("acme", NOW)
    write = inbound_writer(store, OWNERS.get, DEFAULT_KEYWORDS, lambda: ACTIONS)
    before = _replies()

    write([_mo("HELP")])  # answered
    write([_mo("HELP", at=30), _mo("INFO", at=31)])  # both within the interval: throttled
    write([_mo("hello", at=32)])  # another kind: answered

    after = _replies()
    assert after.get("queued", 0) - before.get("queued", 0) == 2
    assert after.get("throttled", 0) - before.get("throttled", 0) == 2
