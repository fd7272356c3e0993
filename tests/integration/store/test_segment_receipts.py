"""Receipts of concatenated messages and the carrier's own `stat:` words, on SQLite and
PostgreSQL alike (the backend-parametrised `store` fixture)."""

from __future__ import annotations

from datetime import timedelta

from store import MessageStore, ReceiptRecord
from tests.integration.store.test_repository import NOW, _accepted, _message

GRACE = timedelta(seconds=30)


def _sent(store: MessageStore, *cmids: str) -> tuple[str, str]:
    account = store.ensure_account("acme", NOW)
    row = _message(account, segments=len(cmids))
    store.insert_messages([row])
    store.claim([row.id], NOW)
    store.record_outcomes([_accepted(row.id, *cmids)], NOW)
    return account, row.id


def test_one_receipt_settles_every_part_of_a_carrier_that_sends_one_per_message(
    store: MessageStore,
) -> None:
    account, message_id = _sent(store, "a1", "a2", "a3")
    last = ReceiptRecord("alpha", ("a3",), "delivered", "", NOW)
    result = store.apply_receipts([last], NOW, one_receipt={"alpha"})
    assert [(c.message_id, c.status) for c in result.changes] == [(message_id, "delivered")]
    view = store.get_message(account, message_id)
    assert view is not None and view.attempts[0].receipt_state == "delivered"


def test_one_receipt_of_three_waits_when_the_carrier_sends_one_per_segment(
    store: MessageStore,
) -> None:
    _, _ = _sent(store, "b1", "b2", "b3")
    store.apply_receipts([ReceiptRecord("alpha", ("b1",), "delivered", "", NOW)], NOW)
    assert store.status_counts() == {"sent": 1}


def test_the_sweep_settles_a_partly_receipted_attempt_once_no_more_came_in_the_grace(
    store: MessageStore,
) -> None:
    _, message_id = _sent(store, "c1", "c2", "c3")
    store.apply_receipts([ReceiptRecord("alpha", ("c1",), "delivered", "", NOW)], NOW)
    early = store.settle_partial_receipts(NOW + GRACE / 2, NOW - GRACE / 2, {"alpha"})
    assert early.changes == () and store.status_counts() == {"sent": 1}
    later = NOW + GRACE + timedelta(seconds=1)
    settled = store.settle_partial_receipts(later, later - GRACE, {"alpha"})
    assert [(c.message_id, c.status) for c in settled.changes] == [(message_id, "delivered")]
    assert store.status_counts() == {"delivered": 1}


def test_the_sweep_leaves_carriers_not_in_auto_mode_and_attempts_with_no_receipt(
    store: MessageStore,
) -> None:
    _sent(store, "d1", "d2")
    _sent(store, "e1", "e2")
    store.apply_receipts([ReceiptRecord("alpha", ("d1",), "delivered", "", NOW)], NOW)
    later = NOW + GRACE * 2
    assert store.settle_partial_receipts(later, later - GRACE, {"beta"}).changes == ()
    settled = store.settle_partial_receipts(later, later - GRACE, {"alpha"})
    assert len(settled.changes) == 1
    assert store.status_counts() == {"delivered": 1, "sent": 1}


def test_an_unknown_stat_word_is_undelivered_and_shown_on_the_attempt(
    store: MessageStore,
) -> None:
    account, message_id = _sent(store, "f1")
    odd = ReceiptRecord("alpha", ("f1",), "undelivered", "042", NOW, raw_stat="Blocked_By_Op")
    store.apply_receipts([odd], NOW)
    view = store.get_message(account, message_id)
    assert view is not None and view.status == "undelivered"
    assert (view.attempts[0].receipt_state, view.attempts[0].receipt_stat) == (
        "undelivered",
        "Blocked_By_Op",
    )


def test_a_parked_receipt_keeps_its_unknown_stat_word(store: MessageStore) -> None:
    odd = ReceiptRecord("alpha", ("g1",), "undelivered", "", NOW, raw_stat="NOPE")
    store.apply_receipts([odd], NOW, park_unmatched=True)
    account, message_id = _sent(store, "g1")
    store.retry_parked(NOW, timedelta(seconds=60))
    view = store.get_message(account, message_id)
    assert view is not None and view.attempts[0].receipt_stat == "NOPE"


def test_a_receipt_read_before_its_send_was_recorded_never_settles_before_it(
    store: MessageStore,
) -> None:
    """The receipt writer reads its clock, then waits for the database; the send it answers
    may be recorded meanwhile, later by the clock: the final status is not stamped earlier."""
    account, message_id = _sent(store, "h1")  # recorded at NOW
    store.apply_receipts([ReceiptRecord("alpha", ("h1",), "delivered")], NOW - timedelta(0, 1))
    view = store.get_message(account, message_id)
    assert view is not None and view.status == "delivered"
    assert view.sent_at is not None and view.final_at == view.sent_at


def test_receipts_for_two_segments_are_evidence_of_a_receipt_per_segment(
    store: MessageStore,
) -> None:
    _sent(store, "i1", "i2", "i3")
    _sent(store, "j1")
    first = store.apply_receipts([ReceiptRecord("alpha", ("i1",), "delivered", "", NOW)], NOW)
    assert first.segment_evidence == ()  # one of three: says nothing yet
    rest = [ReceiptRecord("alpha", (cmid,), "delivered", "", NOW) for cmid in ("i2", "i3", "j1")]
    result = store.apply_receipts(rest, NOW)
    assert result.segment_evidence == (("alpha", "each"),)  # one multipart attempt; j1 is one part


def test_the_sweep_reports_one_receipt_for_a_first_or_last_segment_only(
    store: MessageStore,
) -> None:
    _sent(store, "k1", "k2", "k3")  # receipt for the last segment only: one per message
    _sent(store, "l1", "l2", "l3")  # for the middle one only: lost receipts, not evidence
    receipts = [ReceiptRecord("alpha", (c,), "delivered", "", NOW) for c in ("k3", "l2")]
    store.apply_receipts(receipts, NOW)
    later = NOW + GRACE + timedelta(seconds=1)
    settled = store.settle_partial_receipts(later, later - GRACE, {"alpha"})
    assert len(settled.changes) == 2
    assert settled.segment_evidence == (("alpha", "one"),)
