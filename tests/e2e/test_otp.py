"""OTP end to end on real processes: POST /v1/otp → otp queue → carrier → check → approved."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from sqlalchemy import select

from store.models import Message
from switchboard.stack import Stack, wait_until
from tests.e2e.conftest import StackFactory, logged_secrets


def _post(stack: Stack, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - a local http:// URL
        stack.api_url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_code_sent_over_a_carrier_is_approved_once(make_stack: StackFactory) -> None:
    stack = make_stack(undelivered=0.0)
    status, started = _post(stack, "/v1/otp", {"to": "+447400123456"})
    assert status == 201 and started["status"] == "pending"
    message_id = started["message_id"]
    assert wait_until(
        lambda: stack.store.status_counts([message_id]) == {"delivered": 1}, timeout=30
    ), stack.store.status_counts([message_id])
    with stack.store.engine.connect() as conn:
        row = conn.execute(
            select(Message.body, Message.message_class).where(Message.id == message_id)
        ).one()
    assert row.message_class == "otp"
    code = re.match(r"(\d{6}) is your Switchboard code", row.body)
    assert code is not None
    sim = stack.simulator_stats()
    assert sum(sim[c]["submits_accepted"] for c in ("alpha", "beta")) == 1
    status, wrong = _post(
        stack,
        f"/v1/otp/{started['id']}/check",
        {"code": "000000" if code[1] != "000000" else "111111"},
    )
    assert status == 200 and wrong["status"] == "pending" and wrong["attempts_left"] == 4
    status, checked = _post(stack, f"/v1/otp/{started['id']}/check", {"code": code[1]})
    assert (status, checked["status"]) == (200, "approved")
    status, again = _post(stack, f"/v1/otp/{started['id']}/check", {"code": code[1]})
    assert (status, again["code"]) == (409, "otp_already_used")
    with stack.store.engine.connect() as conn:
        masked = conn.execute(select(Message.body).where(Message.id == message_id)).scalar_one()
    assert code[1] not in masked and masked.startswith("******")
    stack.stop()  # every log flushed
    # A 6-digit code could match another number in a log by chance (about 1 in 10^6 per
    # number logged); the keys and secrets cannot.
    secrets = {
        "API key": stack.api_key,
        "callback signing secret": stack.secret_key,
        "OTP secret": stack.otp_secret,
        "OTP code": f" {code[1]} ",
    }
    assert logged_secrets(stack, secrets) == []


def test_the_sweeper_masks_a_canceled_code_in_the_sent_message(make_stack: StackFactory) -> None:
    """The beat's sweep (real Celery) masks a code that can no longer be used."""
    stack = make_stack(undelivered=0.0)
    status, started = _post(stack, "/v1/otp", {"to": "+447400123457"})
    assert status == 201
    message_id = started["message_id"]

    def body() -> str:
        with stack.store.engine.connect() as conn:
            return str(
                conn.execute(select(Message.body).where(Message.id == message_id)).scalar_one()
            )

    assert wait_until(
        lambda: stack.store.status_counts([message_id]) == {"delivered": 1}, timeout=30
    ), stack.store.status_counts([message_id])
    code = re.match(r"(\d{6}) is your", body())
    assert code is not None
    status, canceled = _post(stack, f"/v1/otp/{started['id']}/cancel", {})
    assert (status, canceled["status"]) == (200, "canceled")
    assert wait_until(lambda: body().startswith("****** is your"), timeout=20), body()
    assert code[1] not in body()
