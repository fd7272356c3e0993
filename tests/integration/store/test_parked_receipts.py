"""Receipts that race ahead of their attempt row are parked durably and applied later.

On SQLite and PostgreSQL alike (the backend-parametrised `store` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store import MessageStore, ReceiptRecord
from tests.integration.store.test_repository import _accepted, _message

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PARK = timedelta(seconds=60)


def _sent_later(store: MessageStore, cmid: str) -> str:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])
    store.claim([row.id], NOW)
    store.record_outcomes([_accepted(row.id, cmid)], NOW)
    return row.id


def test_an_unmatched_receipt_is_parked_in_the_same_write(store: MessageStore) -> None:
    early = ReceiptRecord("alpha", ("ab12",), "delivered", "", NOW)
    result = store.apply_receipts([early], NOW, park_unmatched=True)
    assert (result.matched, result.parked) == (0, 1)
    assert store.parked_count() == 1


def test_only_unmatched_receipts_received_before_the_cutoff_are_parked(
    store: MessageStore,
) -> None:
    cutoff = NOW - timedelta(seconds=1)
    young = ReceiptRecord("alpha", ("a1",), "delivered", "", NOW)  # raced its write just now
    old = ReceiptRecord("alpha", ("a2",), "delivered", "", cutoff - timedelta(seconds=1))
    unknown = ReceiptRecord("alpha", ("a3",), "delivered")  # no received_at: an old task's
    matching = ReceiptRecord("alpha", ("a4",), "delivered", "", NOW)
    message_id = _sent_later(store, "a4")
    result = store.apply_receipts(
        [young, old, unknown, matching], NOW, park_unmatched=True, park_received_before=cutoff
    )
    assert (result.matched, result.parked) == (1, 2)
    assert result.waiting == (young,) and result.unmatched == (old, unknown)
    assert store.parked_count() == 2
    account = store.ensure_account("acme", NOW)
    view = store.get_message(account, message_id)
    assert view is not None and view.status == "delivered"
    # Left to its caller, the young one matches once its attempt is written.
    _sent_later(store, "a1")
    again = store.apply_receipts([young], NOW, park_unmatched=True, park_received_before=cutoff)
    assert (again.matched, again.parked, again.waiting) == (1, 0, ())


def test_without_parking_an_unmatched_receipt_leaves_nothing_behind(store: MessageStore) -> None:
    result = store.apply_receipts([ReceiptRecord("alpha", ("ab12",), "delivered")], NOW)
    assert (result.parked, len(result.unmatched)) == (0, 1)
    assert store.parked_count() == 0


def test_a_parked_receipt_settles_its_message_once_the_attempt_is_recorded(
    store: MessageStore,
) -> None:
    store.apply_receipts(
        [ReceiptRecord("alpha", ("cd34", "52532"), "delivered", "", NOW)], NOW, park_unmatched=True
    )
    message_id = _sent_later(store, "cd34")
    retry = store.retry_parked(NOW + timedelta(seconds=1), PARK)
    assert (retry.remaining, retry.dropped) == (0, 0)
    assert [(c.message_id, c.status) for c in retry.result.changes] == [(message_id, "delivered")]
    assert store.parked_count() == 0
    assert store.status_counts() == {"delivered": 1}


def test_a_parked_receipt_still_unmatched_waits_then_is_dropped_after_the_park_time(
    store: MessageStore,
) -> None:
    store.apply_receipts(
        [ReceiptRecord("beta", ("999",), "delivered", "", NOW)], NOW, park_unmatched=True
    )
    waiting = store.retry_parked(NOW + timedelta(seconds=30), PARK)
    assert (waiting.remaining, waiting.dropped) == (1, 0) and store.parked_count() == 1
    gone = store.retry_parked(NOW + timedelta(seconds=61), PARK)
    assert (gone.remaining, gone.dropped) == (0, 1) and store.parked_count() == 0


def test_a_mixed_batch_settles_the_matched_and_parks_only_the_early_one(
    store: MessageStore,
) -> None:
    message_id = _sent_later(store, "ef56")
    result = store.apply_receipts(
        [
            ReceiptRecord("alpha", ("ef56",), "delivered", "", NOW),
            ReceiptRecord("alpha", ("0077",), "undelivered", "001", NOW),
        ],
        NOW,
        park_unmatched=True,
    )
    assert (result.matched, result.parked) == (1, 1)
    assert [c.message_id for c in result.changes] == [message_id]
    parked_id = _sent_later(store, "0077")
    retry = store.retry_parked(NOW, PARK)
    assert [(c.message_id, c.status) for c in retry.result.changes] == [(parked_id, "undelivered")]
