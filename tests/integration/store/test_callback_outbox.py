"""The callback outbox on SQLite and PostgreSQL: events written with their status change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from store import (
    AttemptResult,
    CallbackOutbox,
    MessageStore,
    NewMessage,
    ReceiptRecord,
    SendOutcome,
    StatusChange,
    new_id,
)
from store.callback_outbox import CALLBACK_HANDOFF_GRACE, add_events
from store.models import Message

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=2)
HOOK = "http://127.0.0.1:9/hooks"


def _message(account_id: str, **overrides: object) -> NewMessage:
    values: dict[str, object] = {
        "id": new_id(),
        "account_id": account_id,
        "to": "+447911123456",
        "sender": "Switchboard",
        "body": "hello",
        "message_class": "transactional",
        "encoding": "gsm7",
        "segments": 2,
        "callback_url": HOOK,
        "created_at": NOW,
        "valid_until": NOW + timedelta(hours=1),
    }
    values.update(overrides)
    return NewMessage(**values)  # type: ignore[arg-type]


def _sent(store: MessageStore, *rows: NewMessage) -> None:
    store.insert_messages(list(rows))
    store.claim([r.id for r in rows], NOW)
    attempt = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, ("a1", "a2"))
    store.record_outcomes([SendOutcome(r.id, (attempt,), "sent") for r in rows], NOW)


def test_an_event_after_a_failover_names_the_newest_carrier_and_costs_only_accepted_attempts(
    store: MessageStore,
) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])
    store.claim([row.id], NOW)
    refused = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", False, "ESME_RSYSERR", ())
    taken = AttemptResult("beta", "default", Decimal("0.05"), "USD", True, None, ("b1", "b2"))
    store.record_outcomes([SendOutcome(row.id, (refused, taken), "sent")], NOW)
    [sent] = CallbackOutbox(store.engine).claim_new([row.id], LEASE)
    assert (sent.event.carrier, sent.event.cost, sent.event.currency) == (
        "beta",
        Decimal("0.05"),
        "USD",
    )


def test_a_status_change_writes_its_event_with_what_a_client_needs(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    _sent(store, row)
    outbox = CallbackOutbox(store.engine)
    [sent] = outbox.claim_new([row.id], LEASE)
    assert (sent.url, sent.batch, sent.attempts) == (HOOK, False, 1)
    event = sent.event
    assert (event.id, event.status, event.carrier, event.segments, event.to) == (
        row.id,
        "sent",
        "alpha",
        2,
        "+447911123456",
    )
    assert (event.cost, event.currency, event.error_code) == (Decimal("0.03"), "EUR", None)
    assert (event.created_at, event.sent_at, event.final_at, event.at) == (NOW, NOW, None, NOW)

    later = NOW + timedelta(seconds=5)
    for cmid in ("a1", "a2"):
        store.apply_receipts([ReceiptRecord("alpha", (cmid,), "delivered")], later)
    [delivered] = outbox.claim_new([row.id], LEASE)
    assert (delivered.event.status, delivered.event.final_at, delivered.event.at) == (
        "delivered",
        later,
        later,
    )


def test_no_callback_url_no_event_and_final_only_skips_sent(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    silent = _message(account, callback_url=None)
    final_only = _message(account, callback_events="final", callback_batch=True)
    _sent(store, silent, final_only)
    outbox = CallbackOutbox(store.engine)
    assert outbox.pending() == 0
    store.apply_receipts([ReceiptRecord("alpha", ("a1",), "undelivered", "042")], NOW)
    assert outbox.pending() == 0  # one part of two: not settled yet
    store.apply_receipts([ReceiptRecord("alpha", ("a2",), "delivered")], NOW)
    events = outbox.claim_new([silent.id, final_only.id], LEASE)
    assert [(p.event.id, p.event.status, p.batch) for p in events] == [
        (final_only.id, "undelivered", True)
    ]


def test_an_expired_message_gets_its_event_from_the_sweep(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account, valid_until=NOW + timedelta(seconds=60))
    _sent(store, row)
    CallbackOutbox(store.engine).claim_new([row.id], LEASE)  # the `sent` one
    store.expire_overdue(NOW + timedelta(minutes=5))
    [expired] = CallbackOutbox(store.engine).claim_new([row.id], LEASE)
    assert expired.event.status == "expired"


def test_events_roll_back_with_the_transaction_that_wrote_them(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])

    def change_then_fail() -> None:
        with store.engine.begin() as conn:
            conn.execute(update(Message).where(Message.id == row.id).values(status="sent"))
            add_events(conn, [StatusChange(row.id, "sent", HOOK)], NOW)
            raise RuntimeError("the status write failed")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert CallbackOutbox(store.engine).pending() == 0


def test_a_change_the_row_does_not_hold_writes_no_event(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])  # still queued
    with store.engine.begin() as conn:
        add_events(conn, [StatusChange(row.id, "sent", HOOK)], NOW)
    assert CallbackOutbox(store.engine).pending() == 0


def test_every_field_of_a_change_comes_back_with_its_event(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])
    change = StatusChange(row.id, "sent", HOOK, account_id=account, carrier="alpha")
    with store.engine.begin() as conn:
        conn.execute(update(Message).where(Message.id == row.id).values(status="sent"))
        [written] = add_events(conn, [change], NOW)
    assert written.callback is not None and written.callback.event.status == "sent"
    assert written == replace(change, callback=written.callback)  # nothing else was dropped


def test_delivered_events_are_deleted_and_failed_ones_come_back_when_due(
    store: MessageStore,
) -> None:
    account = store.ensure_account("acme", NOW)
    ok, failing = _message(account), _message(account)
    _sent(store, ok, failing)
    outbox = CallbackOutbox(store.engine)
    claimed = {p.event.id: p for p in outbox.claim_new([ok.id, failing.id], LEASE)}
    assert outbox.claim_new([ok.id, failing.id], LEASE) == []  # taken once
    retry_at = NOW + timedelta(seconds=2)
    outbox.settle([claimed[ok.id].event_id], [(claimed[failing.id].event_id, retry_at)])
    assert outbox.pending() == 1
    hold = retry_at + CALLBACK_HANDOFF_GRACE
    assert outbox.release_due(retry_at - timedelta(seconds=1), hold, 100) == []
    refs = outbox.release_due(retry_at, hold, 100)
    assert refs == [(claimed[failing.id].event_id, 1)]
    assert outbox.release_due(retry_at, hold, 100) == []  # held: not handed out twice
    [again] = outbox.claim(refs, retry_at + timedelta(minutes=2))
    assert (again.event.id, again.attempts) == (failing.id, 2)
    assert outbox.claim(refs, retry_at + timedelta(minutes=2)) == []  # a stale ref is skipped
    outbox.settle([], [], dropped=[again.event_id])
    assert outbox.pending() == 0


def test_a_new_event_whose_hand_off_was_lost_is_released_after_the_grace(
    store: MessageStore,
) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    _sent(store, row)
    outbox = CallbackOutbox(store.engine)
    assert outbox.release_due(NOW + CALLBACK_HANDOFF_GRACE - timedelta(seconds=1), LEASE, 10) == []
    [(event_id, attempts)] = outbox.release_due(NOW + CALLBACK_HANDOFF_GRACE, LEASE, 10)
    assert attempts == 0
    assert [p.event.status for p in outbox.claim([(event_id, 0)], LEASE)] == ["sent"]
    assert outbox.claim_new([row.id], LEASE) == []  # the late hand-off task finds it taken


def _sent_one(store: MessageStore, at: datetime) -> tuple[NewMessage, list[StatusChange]]:
    """One message with a callback_url, sent at `at` with carrier id a1."""
    row = _message(store.ensure_account("acme", NOW))
    store.insert_messages([row])
    store.claim([row.id], NOW)
    attempt = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, ("a1",))
    return row, store.record_outcomes([SendOutcome(row.id, (attempt,), "sent")], at)


def test_the_writer_gets_each_event_as_written_and_settles_its_first_delivery(
    store: MessageStore,
) -> None:
    account = store.ensure_account("acme", NOW)
    rows = [_message(account), _message(account), _message(account, callback_url=None)]
    store.insert_messages(rows)
    store.claim([r.id for r in rows], NOW)
    attempt = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, ("a1",))
    changes = store.record_outcomes([SendOutcome(r.id, (attempt,), "sent") for r in rows], NOW)
    by_id = {c.message_id: c for c in changes}
    assert by_id[rows[2].id].callback is None  # no callback_url, no event
    first, second = by_id[rows[0].id].callback, by_id[rows[1].id].callback
    assert first is not None and second is not None
    # As a first delivery begun, with what a client needs; the row itself is not touched.
    assert (first.attempts, first.url, first.event.id, first.event.status) == (
        1,
        HOOK,
        rows[0].id,
        "sent",
    )
    assert (first.event.carrier, first.event.cost, first.created_at) == (
        "alpha",
        Decimal("0.03"),
        NOW,
    )
    outbox = CallbackOutbox(store.engine)
    assert outbox.pending() == 2

    retry_at = NOW + timedelta(seconds=2)
    outbox.settle_fresh([first.event_id], [(second.event_id, retry_at)])
    assert outbox.pending() == 1
    assert outbox.claim_new([rows[1].id], LEASE) == []  # counted: no longer a new event
    # The sweep hands it out when its retry is due, as its second attempt.
    assert outbox.release_due(retry_at - timedelta(seconds=1), LEASE, 10) == []
    assert outbox.release_due(retry_at, LEASE, 10) == [(second.event_id, 1)]


def test_a_first_delivery_failing_after_a_task_took_the_row_leaves_it_to_the_task(
    store: MessageStore,
) -> None:
    _, [change] = _sent_one(store, NOW)
    assert change.callback is not None
    outbox = CallbackOutbox(store.engine)
    [claimed] = outbox.claim([(change.callback.event_id, 0)], LEASE)  # a hand-off task took it
    outbox.settle_fresh([], [(change.callback.event_id, NOW + timedelta(seconds=2))])
    # The task's lease stands: not due before it, and still at the task's attempt count.
    assert outbox.release_due(LEASE - timedelta(seconds=1), LEASE, 10) == []
    assert outbox.release_due(LEASE, LEASE, 10) == [(claimed.event_id, 1)]


def test_a_receipt_read_with_a_clock_before_the_sent_write_never_ends_before_sent(
    store: MessageStore,
) -> None:
    # A receipt batch reads its clock, then the outcome it matches commits with a later one.
    sent_at = NOW + timedelta(milliseconds=140)
    row, _ = _sent_one(store, sent_at)
    result = store.apply_receipts([ReceiptRecord("alpha", ("a1",), "delivered")], NOW)
    [change] = result.changes
    assert change.callback is not None
    assert change.callback.event.final_at == sent_at and change.callback.event.at == sent_at
    view = store.get_message(row.account_id, row.id)
    assert view is not None and view.final_at == sent_at
