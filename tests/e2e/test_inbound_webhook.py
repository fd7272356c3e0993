"""The inbound webhook and HELP reply end to end: a simulated MO over SMPP reaches a receiver
on 127.0.0.1, signed with the deployment's secret; a HELP gets its reply MT at the simulator
from the number it was sent to; a receiver outage loses no MO. Every call stays on 127.0.0.1."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from simulators import load_scenario
from store import CallbackOutbox
from switchboard.stack import Stack, wait_until
from tests.callback_receiver import CallbackReceiver
from tests.e2e.conftest import QUICK_RETRY, StackFactory, api_call
from tests.e2e.test_inbound import SHORT_CODE, SUBSCRIBER, _final, _mo, _send
from workers import verify

HELP_TEXT = "Demo: reply STOP to opt out"


def _routes(url: str) -> str:
    return (
        f'\n[numbers]\n"{SHORT_CODE}" = "demo"\n'
        f'\n[accounts.demo]\ninbound_url = "{url}"\n'
        f'\n[replies]\nhelp = "{HELP_TEXT}"\n'
    )


def _submits_to_subscriber(stack: Stack) -> list[dict[str, object]]:
    audit = load_scenario(stack.simulator_file).audit_path
    assert audit is not None
    lines = Path(audit).read_text().splitlines() if Path(audit).exists() else []
    return [
        line
        for line in map(json.loads, lines)
        if str(line["destination"]).removeprefix("+") == SUBSCRIBER.removeprefix("+")
    ]


def test_mos_reach_the_inbound_url_signed_help_is_answered_and_an_outage_loses_nothing(
    make_stack: StackFactory, receiver: CallbackReceiver
) -> None:
    stack = make_stack(
        undelivered=0.0, carriers='["alpha"]', extra_routes=_routes(receiver.url()), env=QUICK_RETRY
    )
    status, first = _send(stack, "transactional")  # the worker binds when it first sends
    assert status == 202 and _final(stack, first["id"]) == "delivered"
    assert wait_until(lambda: len(_submits_to_subscriber(stack)) == 1, 10)  # audit: 0.5-s flush

    _mo(stack, "help")
    assert wait_until(lambda: len(receiver.events()) == 1, 30), stack.simulator_stats()
    (posted,) = receiver.received
    assert verify(stack.secret_key, int(posted.timestamp), posted.body, posted.signature)
    event = posted.json()
    assert (event["from"], event["to"], event["text"], event["keyword"]) == (
        SUBSCRIBER,
        SHORT_CODE,
        "help",
        "help",
    )
    assert (event["account"], event["carrier"], event["type"]) == ("demo", "alpha", "inbound")
    _, page = api_call(stack, "GET", "/v1/inbound")
    assert [m["id"] for m in page["inbound"]] == [event["id"]]

    # the HELP reply: an ordinary transactional message from the short code, delivered
    assert wait_until(lambda: len(_submits_to_subscriber(stack)) == 2, 30)
    assert _submits_to_subscriber(stack)[1]["source"] == SHORT_CODE
    _, listed = api_call(stack, "GET", "/v1/messages?limit=10")
    reply = next(m for m in listed["messages"] if m["id"] != first["id"])
    assert (reply["from"], reply["to"], reply["class"]) == (
        SHORT_CODE,
        SUBSCRIBER,
        "transactional",
    )
    assert _final(stack, reply["id"]) == "delivered"

    receiver.down()
    _mo(stack, "first while down")
    _mo(stack, "second while down")
    outbox = CallbackOutbox(stack.store.engine)
    assert wait_until(lambda: outbox.pending() == 2, 30), outbox.pending()
    wait_until(lambda: False, timeout=2)  # down a while: several retries fail
    receiver.up()
    assert wait_until(lambda: outbox.pending() == 0, 30), outbox.pending()
    texts = Counter(e["text"] for e in receiver.events())
    assert texts == {"help": 1, "first while down": 1, "second while down": 1}
    wait_until(lambda: False, timeout=1)  # an audit flush
    assert len(_submits_to_subscriber(stack)) == 2  # no auto-reply configured: none sent
