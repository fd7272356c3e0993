"""MOs through the whole gateway: the simulator's `POST /mo` reaches a worker's bind over SMPP,
is stored, then acknowledged (`mo_pending` back to 0); STOP opts the sender out of the
account's marketing (API and queued sends refused `recipient_opted_out`), START opts back in.
Every call stays on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from simulators import load_scenario
from switchboard.stack import Stack, wait_until
from tests.e2e.conftest import StackFactory
from tests.e2e.conftest import api_call as _call

SUBSCRIBER = "+447400123456"
SHORT_CODE = "12345"
NUMBERS = f'\n[numbers]\n"{SHORT_CODE}" = "demo"\n'  # the stack's API key is account "demo"
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


def test_mo_is_stored_then_acked_and_stop_start_toggle_marketing(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(undelivered=0.0, carriers='["alpha"]', extra_routes=NUMBERS)
    status, accepted = _send(stack)  # the worker binds when it first sends
    assert status == 202 and _final(stack, accepted["id"]) == "delivered"

    _mo(stack, "Hello there")
    assert wait_until(lambda: len(_inbound(stack)) == 1, 30), stack.simulator_stats()
    assert wait_until(lambda: stack.simulator_stats()["alpha"]["mo_pending"] == 0, 10)
    mo = _inbound(stack)[0]
    assert (mo["from"], mo["to"], mo["text"], mo["carrier"]) == (
        SUBSCRIBER,
        SHORT_CODE,
        "Hello there",
        "alpha",
    )

    _mo(stack, " stop ")
    assert wait_until(lambda: _call(stack, "GET", "/v1/opt-outs")[1]["opt_outs"], 30)
    assert stack.simulator_stats()["alpha"]["mo_pending"] == 0
    status, problem = _send(stack)
    assert (status, problem["code"]) == (422, "recipient_opted_out")
    status, otp = _send(stack, "otp")  # OTP is not affected
    assert status == 202 and _final(stack, otp["id"]) == "delivered"

    _mo(stack, "START")
    assert wait_until(lambda: not _call(stack, "GET", "/v1/opt-outs")[1]["opt_outs"], 30)
    status, again = _send(stack)
    assert status == 202 and _final(stack, again["id"]) == "delivered"
    assert [m["keyword"] for m in _inbound(stack)] == [None, "opt_out", "opt_in"]
    assert stack.simulator_stats()["alpha"]["mo_pending"] == 0
