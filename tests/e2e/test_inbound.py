"""MOs through the whole gateway: the simulator's `POST /mo` reaches a worker's bind over SMPP,
is stored, then acknowledged (`mo_pending` back to 0), and POSTed signed to the account's
`inbound_url` (a receiver on 127.0.0.1; an outage of it loses nothing); STOP opts the sender
out of the account's marketing (API and queued sends refused `recipient_opted_out`) and is
confirmed, HELP is answered — both as transactional MTs from the short code that reach the
simulator — START opts back in. Every call stays on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from simulators import load_scenario
from store import CallbackOutbox
from switchboard.stack import Stack, wait_until
from tests.callback_receiver import CallbackReceiver
from tests.e2e.conftest import QUICK_RETRY, StackFactory
from tests.e2e.conftest import api_call as _call
from workers import verify

SUBSCRIBER = "+447400123456"
SHORT_CODE = "12345"
NUMBERS = f'\n[numbers]\n"{SHORT_CODE}" = "demo"\n'  # the stack's API key is account "demo"
HELP_TEXT = "Demo: reply STOP to opt out"
STOP_TEXT = "Demo: you will get no more offers"
FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}


def _mo(stack: Stack, text: str) -> None:
    port = load_scenario(stack.simulator_file).control_port
    body = {"carrier": "alpha", "source": SUBSCRIBER, "destination": SHORT_CODE, "text": text}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/mo",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
        assert response.status in (200, 202)


def _inbound(stack: Stack) -> list[dict[str, Any]]:
    _, page = _call(stack, "GET", "/v1/inbound?limit=100")
    return list(page["inbound"])


def _send(stack: Stack, message_class: str = "marketing") -> tuple[int, Any]:
    body = {"to": SUBSCRIBER, "body": "Sale: 20% off", "class": message_class}
    return _call(stack, "POST", "/v1/messages", body)


def _final(stack: Stack, message_id: str) -> str:
    assert wait_until(
        lambda: _call(stack, "GET", f"/v1/messages/{message_id}")[1]["status"] in FINAL, 30
    )
    return str(_call(stack, "GET", f"/v1/messages/{message_id}")[1]["status"])


def _routes(url: str) -> str:
    return (
        NUMBERS
        + f'\n[accounts.demo]\ninbound_url = "{url}"\n'
        + f'\n[replies]\nhelp = "{HELP_TEXT}"\nstop = "{STOP_TEXT}"\n'
    )


def _submits_to_subscriber(stack: Stack) -> list[dict[str, object]]:
    """The simulator's audit lines of submits to the subscriber (flushed every 0.5 s)."""
    audit = load_scenario(stack.simulator_file).audit_path
    assert audit is not None
    lines = Path(audit).read_text().splitlines() if Path(audit).exists() else []
    return [
        line
        for line in map(json.loads, lines)
        if str(line["destination"]).removeprefix("+") == SUBSCRIBER.removeprefix("+")
    ]


def _replies(stack: Stack, sent: set[str]) -> list[dict[str, Any]]:
    """The account's messages not in `sent`: the automatic replies, oldest first."""
    _, listed = _call(stack, "GET", "/v1/messages?limit=100")
    return [m for m in listed["messages"] if m["id"] not in sent]


def test_mos_are_stored_acked_posted_signed_answered_and_stop_start_toggle_marketing(
    make_stack: StackFactory, receiver: CallbackReceiver
) -> None:
    stack = make_stack(
        undelivered=0.0, carriers='["alpha"]', extra_routes=_routes(receiver.url()), env=QUICK_RETRY
    )
    status, accepted = _send(stack)  # the worker binds when it first sends
    assert status == 202 and _final(stack, accepted["id"]) == "delivered"
    sent = {accepted["id"]}

    _mo(stack, "Hello there")
    assert wait_until(lambda: len(_inbound(stack)) == 1, 30), stack.simulator_stats()
    assert wait_until(lambda: stack.simulator_stats()["alpha"]["mo_pending"] == 0, 30)
    mo = _inbound(stack)[0]
    assert (mo["from"], mo["to"], mo["text"], mo["carrier"]) == (
        SUBSCRIBER,
        SHORT_CODE,
        "Hello there",
        "alpha",
    )
    # the webhook: signed like status callbacks, with the deployment's secret
    assert wait_until(lambda: len(receiver.received) == 1, 30)
    (posted,) = receiver.received
    assert verify(stack.secret_key, int(posted.timestamp), posted.body, posted.signature)
    assert posted.json() == {
        "type": "inbound",
        "id": mo["id"],
        "from": SUBSCRIBER,
        "to": SHORT_CODE,
        "text": "Hello there",
        "carrier": "alpha",
        "received_at": mo["received_at"],
        "account": "demo",
        "keyword": None,
    }

    _mo(stack, " stop ")
    assert wait_until(lambda: _call(stack, "GET", "/v1/opt-outs")[1]["opt_outs"], 30)
    assert stack.simulator_stats()["alpha"]["mo_pending"] == 0
    status, problem = _send(stack)
    assert (status, problem["code"]) == (422, "recipient_opted_out")
    # the STOP confirmation still goes (transactional, which opt-outs never block)
    assert wait_until(lambda: len(_replies(stack, sent)) == 1, 30)
    (confirmation,) = _replies(stack, sent)
    assert (confirmation["from"], confirmation["to"], confirmation["class"]) == (
        SHORT_CODE,
        SUBSCRIBER,
        "transactional",
    )
    assert _final(stack, confirmation["id"]) == "delivered"
    sent.add(confirmation["id"])
    status, otp = _send(stack, "otp")  # OTP is not affected
    assert status == 202 and _final(stack, otp["id"]) == "delivered"
    sent.add(otp["id"])

    _mo(stack, "HELP")  # answered from the number it was sent to, though opted out
    assert wait_until(lambda: len(_replies(stack, sent)) == 1, 30)
    (help_reply,) = _replies(stack, sent)
    assert _final(stack, help_reply["id"]) == "delivered"
    sent.add(help_reply["id"])
    assert wait_until(lambda: len(_submits_to_subscriber(stack)) == 4, 30)
    sources = [line["source"] for line in _submits_to_subscriber(stack)]
    assert sources[1] == sources[3] == SHORT_CODE  # the confirmation and the help reply

    _mo(stack, "START")
    assert wait_until(lambda: not _call(stack, "GET", "/v1/opt-outs")[1]["opt_outs"], 30)
    status, again = _send(stack)
    assert status == 202 and _final(stack, again["id"]) == "delivered"
    assert [m["keyword"] for m in _inbound(stack)] == [None, "opt_out", "help", "opt_in"]
    assert stack.simulator_stats()["alpha"]["mo_pending"] == 0

    # an outage of the receiver loses no MO: the outbox holds them, retries deliver them
    outbox = CallbackOutbox(stack.store.engine)
    assert wait_until(lambda: outbox.pending() == 0, 30)
    receiver.down()
    _mo(stack, "first while down")
    _mo(stack, "second while down")
    assert wait_until(lambda: outbox.pending() == 2, 30), outbox.pending()
    wait_until(lambda: False, timeout=2)  # down a while: several retries fail
    receiver.up()
    assert wait_until(lambda: outbox.pending() == 0, 30), outbox.pending()
    texts = Counter(e["text"] for e in receiver.events())
    assert texts == Counter(
        ["Hello there", " stop ", "HELP", "START", "first while down", "second while down"]
    )
    assert [e["keyword"] for e in receiver.events()][:4] == [None, "stop", "help", "start"]
