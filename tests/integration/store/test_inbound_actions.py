"""What a stored MO sets off, on each backend: its webhook event in the outbox (same
transaction), and its automatic reply as a queued transactional message, throttled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text

from inbound import DEFAULT_KEYWORDS
from store import CallbackOutbox, InboundActions, InboundRecord, MessageStore

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OWNERS = {"12345": "acme"}
SUBSCRIBER = "+447700900123"
URL = "https://hooks.example/mo"
TEXTS = {"help": "Acme: help text", "auto": "Acme: we will answer soon"}


def _classify(text: str) -> str | None:
    action = DEFAULT_KEYWORDS.classify(text)
    return action.value if action else None


def _reply(account: str, number: str, keyword: str | None) -> tuple[str, str] | None:
    kind = {"help": "help", "opt_out": "stop", "opt_in": "start", None: "auto"}[keyword]
    return (kind, TEXTS[kind]) if kind in TEXTS and account == "acme" else None


ACTIONS = InboundActions(
    inbound_url={"acme": URL}.get, reply=_reply, reply_every=timedelta(minutes=10)
)


def _mo(text: str, at: float = 0, source: str = SUBSCRIBER) -> InboundRecord:
    return InboundRecord("alpha", source, "12345", text, NOW + timedelta(seconds=at))


def test_an_mo_writes_its_signed_webhook_event_in_the_outbox(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    result = store.write_inbound([_mo("HELP")], OWNERS.get, _classify, ACTIONS)

    (event,) = result.events
    mo = store.list_inbound(acme, 10)[0]
    assert (event.url, event.account_id, event.attempts) == (URL, acme, 1)
    assert event.body is not None
    assert orjson.loads(event.body) == {
        "type": "inbound",
        "id": mo.id,
        "from": SUBSCRIBER,
        "to": "12345",
        "text": "HELP",
        "carrier": "alpha",
        "received_at": "2026-12-01T09:00:00+00:00",
        "account": "acme",
        "keyword": "help",
    }
    # the row is durable: the sweep releases it after the hand-off grace, a task claims it
    outbox = CallbackOutbox(store.engine)
    refs = outbox.release_due(NOW + timedelta(minutes=1), NOW + timedelta(minutes=2), 10)
    (claimed,) = outbox.claim(refs, NOW + timedelta(minutes=3))
    assert claimed.body == event.body and claimed.account_id == acme


def test_help_is_answered_once_per_interval_from_the_number_it_was_sent_to(
    store: MessageStore,
) -> None:
    acme = store.ensure_account("acme", NOW)
    first = store.write_inbound([_mo("help")], OWNERS.get, _classify, ACTIONS)
    again = store.write_inbound([_mo("INFO", at=60)], OWNERS.get, _classify, ACTIONS)
    later = store.write_inbound([_mo("Help", at=600)], OWNERS.get, _classify, ACTIONS)

    assert len(first.replies) == 1 and again.replies == () and again.throttled == 1
    assert len(later.replies) == 1  # 10 minutes after the first
    reply = store.get_message(acme, first.replies[0])
    assert reply is not None
    assert (reply.to, reply.sender, reply.message_class, reply.status) == (
        SUBSCRIBER,
        "12345",
        "transactional",
        "queued",
    )
    assert store.status_counts(list(first.replies)) == {"queued": 1}


def test_kinds_are_throttled_apart_and_the_auto_reply_skips_opted_out_numbers(
    store: MessageStore,
) -> None:
    acme = store.ensure_account("acme", NOW)
    hello = store.write_inbound([_mo("hello")], OWNERS.get, _classify, ACTIONS)
    helped = store.write_inbound([_mo("HELP", at=1)], OWNERS.get, _classify, ACTIONS)
    assert len(hello.replies) == 1 and len(helped.replies) == 1  # auto and help: two kinds

    store.add_opt_out(acme, "+447700900999", NOW)
    opted = _mo("are you there?", source="+447700900999")
    assert store.write_inbound([opted], OWNERS.get, _classify, ACTIONS).replies == ()
    # HELP is answered even to an opted-out number (carriers require it)
    opted_help = _mo("HELP", source="+447700900999")
    assert len(store.write_inbound([opted_help], OWNERS.get, _classify, ACTIONS).replies) == 1


def test_an_unowned_number_sets_off_nothing_and_an_undialable_sender_gets_no_reply(
    store: MessageStore,
) -> None:
    store.ensure_account("acme", NOW)
    unowned = InboundRecord("alpha", SUBSCRIBER, "999", "HELP", NOW)
    named = _mo("HELP", source="ACME")
    too_long = _mo("HELP", source="+" + "4" * 20)
    result = store.write_inbound([unowned, named, too_long], OWNERS.get, _classify, ACTIONS)
    assert len(result.events) == 2  # the owned ones only: their webhooks, and no reply
    assert result.replies == () and result.stored == 3
    plain = store.write_inbound([_mo("HELP", at=5)], OWNERS.get, _classify)  # no actions
    assert plain.events == () and plain.replies == ()


def test_stop_is_confirmed_to_the_number_it_just_opted_out(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)

    def confirm(account: str, number: str, keyword: str | None) -> tuple[str, str] | None:
        return ("stop", "Unsubscribed") if keyword == "opt_out" else None

    actions = InboundActions(reply=confirm)
    result = store.write_inbound([_mo("STOP")], OWNERS.get, _classify, actions)

    assert result.opted_out == 1 and len(result.replies) == 1
    assert store.opted_out([(acme, SUBSCRIBER)]) == {(acme, SUBSCRIBER)}
    reply = store.get_message(acme, result.replies[0])
    assert reply is not None and (reply.to, reply.message_class) == (SUBSCRIBER, "transactional")
    with store.engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM messages WHERE id = :id"), {"id": reply.id})
        assert body.scalar_one() == "Unsubscribed"
