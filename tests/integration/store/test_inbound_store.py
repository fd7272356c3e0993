"""Inbound messages and opt-outs on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inbound import DEFAULT_KEYWORDS
from messaging import ConcatRef
from store import InboundRecord, MessageStore

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OWNERS = {"12345": "acme"}


def _classify(text: str) -> str | None:
    action = DEFAULT_KEYWORDS.classify(text)
    return action.value if action else None


def _write(store: MessageStore, *records: InboundRecord) -> None:
    store.write_inbound(records, OWNERS.get, _classify)


def _mo(
    text: str, source: str = "+447700900123", part: ConcatRef | None = None, at: int = 0
) -> InboundRecord:
    return InboundRecord("alpha", source, "12345", text, NOW + timedelta(seconds=at), part)


def test_an_mo_to_an_owned_number_is_listed_for_its_account(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    other = store.ensure_account("other", NOW)
    _write(store, _mo("hello"), InboundRecord("alpha", "+1555", "999", "x", NOW))

    listed = store.list_inbound(acme, 10)
    assert [(m.source, m.destination, m.text, m.parts) for m in listed] == [
        ("+447700900123", "12345", "hello", 1)
    ]
    assert store.list_inbound(other, 10) == []


def test_parts_out_of_order_across_batches_are_joined_once(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    _write(store, _mo("c", part=ConcatRef(7, 3, 3)))
    _write(store, _mo("a", part=ConcatRef(7, 3, 1)), _mo("c", part=ConcatRef(7, 3, 3)))
    assert store.list_inbound(acme, 10) == []
    _write(store, _mo("b", part=ConcatRef(7, 3, 2)))

    listed = store.list_inbound(acme, 10)
    assert [(m.text, m.parts) for m in listed] == [("abc", 3)]
    _write(store, _mo("next", at=5))
    assert [m.text for m in store.list_inbound(acme, 10)] == ["abc", "next"]


def test_stop_then_start_toggles_the_opt_out(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    _write(store, _mo(" Stop "))
    assert store.opted_out([(acme, "+447700900123")]) == {(acme, "+447700900123")}
    _write(store, _mo("STOP", at=1))  # twice: still one entry
    assert [n for n, _, _ in store.list_opt_outs(acme, 10)] == ["+447700900123"]
    _write(store, _mo("start", at=2))
    assert store.opted_out([(acme, "+447700900123")]) == set()
    assert [m.keyword for m in store.list_inbound(acme, 10)] == ["opt_out", "opt_out", "opt_in"]


def test_opted_out_answers_each_pair_of_a_large_mixed_batch(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    other = store.ensure_account("other", NOW)
    stopped = [f"+4477009{i:05d}" for i in range(0, 1200, 7)]
    for number in stopped:
        store.add_opt_out(acme, number, NOW)
    store.add_opt_out(other, "+447700900001", NOW)
    asked = [(acme, f"+4477009{i:05d}") for i in range(1200)]
    asked += [(other, "+447700900001"), (other, "+447700900007"), (acme, stopped[0])]

    found = store.opted_out(asked)

    assert found == {(acme, n) for n in stopped} | {(other, "+447700900001")}
    assert store.opted_out([]) == set()


def test_a_stop_to_an_unowned_number_is_stored_and_changes_no_list(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    store.write_inbound(
        [InboundRecord("alpha", "+1555", "999", "STOP", NOW)], OWNERS.get, _classify
    )
    assert store.list_opt_outs(acme, 10) == []


def test_api_opt_outs_are_idempotent_and_paged(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    assert store.add_opt_out(acme, "+33612345678", NOW) is True
    assert store.add_opt_out(acme, "+33612345678", NOW) is False
    store.add_opt_out(acme, "+14155550100", NOW)
    first = store.list_opt_outs(acme, 1)
    assert [n for n, _, _ in first] == ["+14155550100"]
    assert [n for n, _, _ in store.list_opt_outs(acme, 5, first[-1][0])] == ["+33612345678"]
    assert store.remove_opt_out(acme, "+33612345678") is True
    assert store.remove_opt_out(acme, "+33612345678") is False
