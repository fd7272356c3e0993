"""The message repository on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from store import (
    AttemptResult,
    MessageStore,
    NewMessage,
    ReceiptRecord,
    ResendPolicy,
    SendOutcome,
    batch_writes,
    new_id,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _message(account_id: str, **overrides: object) -> NewMessage:
    values: dict[str, object] = {
        "id": new_id(),
        "account_id": account_id,
        "to": "+447911123456",
        "sender": "Switchboard",
        "body": "hello",
        "message_class": "marketing",
        "encoding": "gsm7",
        "segments": 1,
        "callback_url": None,
        "created_at": NOW,
        "valid_until": NOW + timedelta(hours=1),
    }
    values.update(overrides)
    return NewMessage(**values)  # type: ignore[arg-type]


def _accepted(message_id: str, *cmids: str) -> SendOutcome:
    attempt = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, cmids)
    return SendOutcome(message_id, (attempt,), "sent")


def test_api_key_is_found_by_its_clear_text_and_only_its_hash_is_stored(
    store: MessageStore,
) -> None:
    key = store.create_api_key("acme", NOW)
    owner = store.key_owner(key)
    assert owner is not None and owner.account_name == "acme"
    assert store.key_owner(key + "x") is None
    with store.engine.connect() as conn:
        stored = [row[0] for row in conn.exec_driver_sql("select key_hash from api_keys")]
    assert key not in stored and len(stored[0]) == 64


def test_warm_up_compiles_both_claims_and_changes_nothing(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    otp, marketing = _message(account, message_class="otp"), _message(account)
    store.insert_messages([otp, marketing])
    cache = store.engine._compiled_cache  # SQLAlchemy's compiled statements, per engine
    assert cache is not None
    before = len(cache)
    store.warm_up(NOW)
    warmed = len(cache)
    assert warmed > before
    for message in (otp, marketing):
        view = store.get_message(account, message.id)
        assert view is not None and (view.status, view.attempts) == ("queued", ())

    assert [c.id for c in store.claim([otp.id], NOW)] == [otp.id]
    assert [c.id for c in store.claim([], NOW, fill_class="marketing", fill_to=1)] == [marketing.id]
    # the two reads above compiled their statement, the claims nothing new
    assert len(cache) == warmed + 1


def test_claim_takes_only_queued_messages_once(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    rows = [_message(account) for _ in range(3)]
    store.insert_messages(rows)
    first = store.claim([r.id for r in rows], NOW)
    second = store.claim([r.id for r in rows], NOW)
    assert [c.id for c in first] == [r.id for r in rows]
    assert second == []
    assert store.status_counts() == {"sending": 3}


def test_receipt_settles_message_and_a_duplicate_changes_nothing(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])
    store.claim([row.id], NOW)
    store.record_outcomes([_accepted(row.id, "1a2b")], NOW)
    receipt = ReceiptRecord("alpha", ("1a2b", "6699"), "delivered")
    first = store.apply_receipts([receipt], NOW)
    again = store.apply_receipts([receipt], NOW)
    assert (first.matched, first.duplicates, [c.status for c in first.changes]) == (
        1,
        0,
        ["delivered"],
    )
    assert (again.matched, again.duplicates, again.changes) == (1, 1, ())
    view = store.get_message(account, row.id)
    assert view is not None and view.status == "delivered"
    assert view.attempts[0].carrier_message_ids == ("1a2b",)


def test_status_changes_carry_account_and_carrier_from_what_the_write_had(
    store: MessageStore,
) -> None:
    """The state-change log lines take both from the changes: no read per message."""
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])
    store.claim([row.id], NOW)
    sent = store.record_outcomes([_accepted(row.id, "77aa")], NOW)
    received = store.apply_receipts([ReceiptRecord("alpha", ("77aa",), "delivered")], NOW)
    assert [(c.status, c.account_id, c.carrier) for c in (*sent, *received.changes)] == [
        ("sent", account, "alpha"),
        ("delivered", account, "alpha"),
    ]


def test_receipt_before_its_part_is_returned_unmatched(store: MessageStore) -> None:
    result = store.apply_receipts([ReceiptRecord("alpha", ("ff",), "delivered")], NOW)
    assert result.matched == 0 and len(result.unmatched) == 1


def test_message_of_two_segments_waits_for_both_receipts(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account, segments=2)
    store.insert_messages([row])
    store.claim([row.id], NOW)
    store.record_outcomes([_accepted(row.id, "10", "11")], NOW)
    store.apply_receipts([ReceiptRecord("alpha", ("10",), "delivered")], NOW)
    assert store.status_counts() == {"sent": 1}
    store.apply_receipts([ReceiptRecord("alpha", ("11",), "undelivered", "001")], NOW)
    assert store.status_counts() == {"undelivered": 1}


def test_sweep_counts_stranded_messages_and_expires_overdue(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    stranded = _message(account)
    late = _message(account, message_class="otp", valid_until=NOW - timedelta(seconds=1))
    store.insert_messages([stranded, late])
    early = store.stranded(NOW, NOW - timedelta(seconds=5), NOW - timedelta(seconds=60))
    assert early == {}
    later = NOW + timedelta(seconds=30)
    counts = store.stranded(later, later - timedelta(seconds=15), later - timedelta(seconds=60))
    assert counts == {"marketing": 1, "otp": 1}
    changes = store.expire_overdue(NOW)
    assert [c.message_id for c in changes] == [late.id]


def test_sending_row_without_heartbeat_goes_back_to_queued(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    held, dead = _message(account), _message(account)
    store.insert_messages([held, dead])
    store.claim([held.id, dead.id], NOW)
    store.heartbeat([held.id], NOW + timedelta(seconds=50))
    after = NOW + timedelta(seconds=70)
    counts = store.stranded(after, after - timedelta(seconds=15), after - timedelta(seconds=60))
    assert counts == {"marketing": 1}
    assert store.status_counts() == {"sending": 1, "queued": 1}
    assert [c.id for c in store.claim([], after, fill_class="marketing", fill_to=10)] == [dead.id]


def test_retry_later_is_released_when_due(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    row = _message(account)
    store.insert_messages([row])
    store.claim([row.id], NOW)
    failed_try = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", False, "throttled")
    later = NOW + timedelta(seconds=5)
    store.record_outcomes([SendOutcome(row.id, (failed_try,), "queued", "throttled", later)], NOW)
    hour_ago = NOW - timedelta(hours=1)
    assert store.stranded(NOW + timedelta(seconds=1), hour_ago, hour_ago) == {}
    assert store.stranded(later, hour_ago, hour_ago) == {"marketing": 1}
    view = store.get_message(account, row.id)
    assert (
        view is not None
        and view.attempts[0].submit_status == "error"
        and view.attempts[0].cost == 0
    )


def test_claim_tops_up_with_the_oldest_due_messages_of_its_class(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    marketing = [_message(account, created_at=NOW + timedelta(seconds=i)) for i in range(5)]
    otp = _message(account, message_class="otp")
    store.insert_messages([*marketing, otp])
    claimed = store.claim([marketing[4].id], NOW, fill_class="marketing", fill_to=3)
    assert claimed[0].id == marketing[4].id  # its own ids first
    assert {c.id for c in claimed[1:]} == {marketing[0].id, marketing[1].id}  # then the oldest
    assert store.claim([marketing[0].id], NOW) == []  # already taken by the top-up
    assert store.status_counts() == {"sending": 3, "queued": 3}


def test_claim_with_no_ids_takes_exactly_the_fill_and_own_ids_beyond_it_all(
    store: MessageStore,
) -> None:
    account = store.ensure_account("acme", NOW)
    rows = [_message(account, created_at=NOW + timedelta(seconds=i)) for i in range(8)]
    store.insert_messages(rows)
    wakeup = store.claim([], NOW, fill_class="marketing", fill_to=3)
    assert [c.id for c in wakeup] == [r.id for r in rows[:3]]  # the oldest three, no more
    own = [r.id for r in rows[3:7]]
    claimed = store.claim(own, NOW, fill_class="marketing", fill_to=2)
    assert [c.id for c in claimed] == own  # own ids are never cut to fill_to
    assert store.status_counts() == {"sending": 7, "queued": 1}


def test_claim_fill_skips_messages_not_yet_due(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    later = _message(account, created_at=NOW - timedelta(seconds=5))
    due = _message(account, created_at=NOW)
    store.insert_messages([later, due])
    store.claim([later.id], NOW)
    retry = SendOutcome(later.id, (), "queued", "throttled", NOW + timedelta(seconds=30))
    store.record_outcomes([retry], NOW)
    assert [c.id for c in store.claim([], NOW, "marketing", 10)] == [due.id]
    after = NOW + timedelta(seconds=31)
    assert [c.id for c in store.claim([], after, "marketing", 10)] == [later.id]


OTP_RESEND = ResendPolicy(
    frozenset({"otp"}), max_attempts=3, min_validity_left=timedelta(seconds=30)
)


def _sent(store: MessageStore, row: NewMessage, carrier: str, cmid: str) -> None:
    store.claim([row.id], NOW)
    attempt = AttemptResult(carrier, "otp", Decimal("0.03"), "EUR", True, None, (cmid,))
    store.record_outcomes([SendOutcome(row.id, (attempt,), "sent")], NOW)


def test_undelivered_otp_goes_out_again_and_avoids_the_carrier_tried(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    otp = _message(account, message_class="otp", valid_until=NOW + timedelta(minutes=10))
    promo = _message(account)
    store.insert_messages([otp, promo])
    _sent(store, otp, "alpha", "a1")
    _sent(store, promo, "alpha", "a2")
    result = store.apply_receipts(
        [
            ReceiptRecord("alpha", ("a1",), "undelivered"),
            ReceiptRecord("alpha", ("a2",), "undelivered"),
        ],
        NOW,
        OTP_RESEND,
    )
    assert result.resend == (otp.id,)
    assert [c.message_id for c in result.changes] == [promo.id]  # marketing is final
    assert store.status_counts() == {"queued": 1, "undelivered": 1}
    again = store.claim([otp.id], NOW)
    assert [c.tried_carriers for c in again] == [("alpha",)]


def test_otp_past_its_attempts_or_validity_is_final(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    short = _message(account, message_class="otp", valid_until=NOW + timedelta(seconds=10))
    store.insert_messages([short])
    _sent(store, short, "alpha", "b1")
    result = store.apply_receipts([ReceiptRecord("alpha", ("b1",), "undelivered")], NOW, OTP_RESEND)
    assert result.resend == () and store.status_counts() == {"undelivered": 1}


def test_silent_otp_is_sent_again_after_the_wait(store: MessageStore) -> None:
    account = store.ensure_account("acme", NOW)
    otp = _message(account, message_class="otp", valid_until=NOW + timedelta(minutes=10))
    store.insert_messages([otp])
    _sent(store, otp, "alpha", "c1")
    assert store.silent_to_resend(NOW + timedelta(seconds=5), NOW, OTP_RESEND) == {}
    later = NOW + timedelta(seconds=25)
    assert store.silent_to_resend(later, later - timedelta(seconds=20), OTP_RESEND) == {
        "otp": [otp.id]
    }
    late = store.apply_receipts([ReceiptRecord("alpha", ("c1",), "delivered")], later, OTP_RESEND)
    assert [c.status for c in late.changes] == [
        "delivered"
    ]  # the first attempt's late receipt still counts


def test_read_messages_gives_each_callers_own_messages_with_attempts_and_parts_in_order(
    store: MessageStore,
) -> None:
    acme = store.ensure_account("acme", NOW)
    other = store.ensure_account("other", NOW)
    sent, queued, foreign = _message(acme), _message(acme), _message(other)
    store.insert_messages([sent, queued, foreign])
    failed = AttemptResult("beta", "default", Decimal("0.05"), "EUR", False, "ESME_RSYSERR")
    ok = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, ("c1", "c2", "c3"))
    store.claim([sent.id], NOW)
    store.record_outcomes([SendOutcome(sent.id, (failed, ok), "sent")], NOW)
    views = store.read_messages(
        [(acme, sent.id), (acme, queued.id), (acme, foreign.id), (acme, "0" * 32), (other, sent.id)]
    )
    assert [v.id if v else None for v in views] == [sent.id, queued.id, None, None, None]
    shown = views[0]
    assert shown is not None and shown.status == "sent"
    assert [(a.number, a.carrier, a.carrier_message_ids) for a in shown.attempts] == [
        (1, "beta", ()),
        (2, "alpha", ("c1", "c2", "c3")),
    ]
    assert views[1] is not None and views[1].attempts == ()
    assert store.get_message(acme, sent.id) == shown


def test_a_large_group_is_stored_as_given_and_queued(store: MessageStore) -> None:
    """Past `COPY_FROM_ROWS` PostgreSQL takes the group by COPY: every field must survive it,
    awkward text included."""
    account = store.ensure_account("acme", NOW)
    awkward = 'tab\there, new\nline, back\\slash, \\N, quote " é 日本 🙂'
    rows = [
        _message(
            account,
            body=awkward if n % 2 else f"hello {n}",
            callback_url=f"https://example.com/cb?n={n}" if n % 3 else None,
            callback_events="final" if n % 5 == 0 else "all",
            callback_batch=n % 7 == 0,
            created_at=NOW + timedelta(microseconds=n),
            encoding="ucs2" if n % 2 else "gsm7",
            segments=1 + n % 3,
        )
        for n in range(batch_writes.COPY_FROM_ROWS * 2 + 1)
    ]
    store.insert_messages(rows)

    columns = (
        'id, account_id, "to", sender, body, message_class, encoding, segments, status, '
        "callback_url, callback_events, callback_batch, attempt_count, created_at, valid_until"
    )
    with store.engine.connect() as conn:
        stored = {r[0]: r for r in conn.exec_driver_sql(f"SELECT {columns} FROM messages")}  # noqa: S608 - fixed text
    assert len(stored) == len(rows)
    for r in rows:
        got = stored[r.id]
        assert got[1:9] == (r.account_id, r.to, r.sender, r.body, r.message_class, r.encoding,
                            r.segments, "queued")  # fmt: skip
        assert (got[9], got[10], bool(got[11]), got[12]) == (
            r.callback_url,
            r.callback_events,
            r.callback_batch,
            0,
        )
        assert _naive(got[13]) == r.created_at.replace(tzinfo=None)
        assert _naive(got[14]) == r.valid_until.replace(tzinfo=None)
    assert len(store.claim([r.id for r in rows], NOW)) == len(rows)


def _naive(value: object) -> datetime:
    """A stored timestamp as naive UTC (SQLite hands back text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None)
