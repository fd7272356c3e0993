"""Send leases on SQLite and PostgreSQL: a dead batch's rows come back in seconds, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from messaging import LeasePolicy
from store import AttemptResult, MessageStore, NewMessage, SendLease, SendOutcome, new_id
from store.models import Message
from tests.integration.store.test_engine import _scans, _Statements

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = LeasePolicy(lease_seconds=5, grace_seconds=1)
LONG_AGO = NOW - timedelta(hours=1)  # the no-lease rule never fires in these tests


def _queued(store: MessageStore, count: int = 1) -> list[str]:
    account = store.ensure_account("acme", NOW)
    rows = [
        NewMessage(
            new_id(),
            account,
            "+447911123456",
            "Acme",
            "hello",
            "marketing",
            "gsm7",
            1,
            None,
            NOW,
            NOW + timedelta(hours=1),
        )
        for _ in range(count)
    ]
    store.insert_messages(rows)
    return [r.id for r in rows]


def _sent(message_id: str, after_crash: bool = False) -> SendOutcome:
    attempt = AttemptResult(
        "alpha",
        "r",
        Decimal("0.03"),
        "EUR",
        True,
        None,
        ("a1",),
        resubmitted_after_crash=after_crash,
    )
    return SendOutcome(message_id, (attempt,), "sent")


def test_a_renewed_lease_keeps_its_rows_and_a_dead_one_gives_them_back_due_now(
    store: MessageStore,
) -> None:
    alive, dead = _queued(store, 2)
    first = SendLease("host:1:aa", POLICY.until(NOW))
    second = SendLease("host:1:bb", POLICY.until(NOW))
    store.claim([alive], NOW, lease=first)
    store.claim([dead], NOW, lease=second)
    later = NOW + timedelta(seconds=4)
    assert store.renew_leases(SendLease(first.owner, POLICY.until(later)), [alive, dead]) == 1
    assert store.take_back(NOW + timedelta(seconds=6), LONG_AGO, POLICY) == 0  # grace
    assert store.take_back(NOW + timedelta(seconds=7), LONG_AGO, POLICY) == 1
    assert store.status_counts() == {"sending": 1, "queued": 1}
    # Due at once, whatever `requeue_after` says: the sweeper wakes a task for it right away.
    assert store.stranded(NOW + timedelta(seconds=7), LONG_AGO) == {"marketing": 1}
    again = store.claim([dead], NOW + timedelta(seconds=7), lease=SendLease("h:2:cc", NOW))
    assert [(m.id, m.recovered) for m in again] == [(dead, True)]


def test_the_resend_is_flagged_and_charged_once_and_a_late_outcome_is_dropped(
    store: MessageStore,
) -> None:
    """Given a batch that stalled past its lease (alive, but its rows were taken back and
    re-sent by another batch), when both write their outcome, then only the holder's
    counts: one charged attempt, flagged as a re-send after a crash."""
    (message_id,) = _queued(store)
    stalled = SendLease("host:1:old", POLICY.until(NOW))
    store.claim([message_id], NOW, lease=stalled)
    store.take_back(NOW + timedelta(seconds=10), LONG_AGO, POLICY)
    fresh = SendLease("host:2:new", POLICY.until(NOW + timedelta(seconds=10)))
    (claimed,) = store.claim([message_id], NOW + timedelta(seconds=10), lease=fresh)
    assert claimed.recovered
    assert store.record_outcomes([_sent(message_id)], NOW, lease_owner=stalled.owner) == []
    changes = store.record_outcomes([_sent(message_id, True)], NOW, lease_owner=fresh.owner)
    assert [c.status for c in changes] == ["sent"]
    assert store.record_outcomes([_sent(message_id)], NOW, lease_owner=stalled.owner) == []
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and view.status == "sent"
    assert [(a.cost, a.resubmitted_after_crash) for a in view.attempts] == [(Decimal("0.03"), True)]
    with store.engine.connect() as conn:
        recovered = conn.execute(
            select(Message.recovered).where(Message.id == message_id)
        ).scalar_one()
    assert not recovered  # cleared by the outcome: a later re-send is not flagged again


def test_rows_claimed_without_a_lease_keep_the_stuck_sending_rule(store: MessageStore) -> None:
    (message_id,) = _queued(store)
    store.claim([message_id], NOW)  # a worker from before the lease columns
    assert store.take_back(NOW + timedelta(seconds=30), NOW - timedelta(seconds=1), POLICY) == 0
    assert store.take_back(NOW + timedelta(seconds=61), NOW + timedelta(seconds=1), POLICY) == 1


def test_take_back_reaches_rows_by_id_and_walks_no_index_but_the_sweeps(
    store: MessageStore,
) -> None:
    """Only meaningful on PostgreSQL (SQLite plans by its indexes alone), harmless on both."""
    ids = _queued(store, 20)
    store.claim(ids, NOW, lease=SendLease("host:1:aa", POLICY.until(NOW)))
    with _Statements(store.engine) as sent:
        assert store.take_back(NOW + timedelta(seconds=10), LONG_AGO, POLICY) == 20
    if store.engine.dialect.name != "postgresql":
        return
    update = _scans(sent.plan("UPDATE messages SET status", "lease_owner"))
    assert ("Index Scan", "messages_pkey") in update
    assert not [name for _, name in update if name and "status" in name]
