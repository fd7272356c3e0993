"""A batch through the whole gateway, two API processes on one port: every accepted message
reaches a final status, read back through the list endpoint; the rejected one stored nothing."""

from __future__ import annotations

from typing import Any

from switchboard.load import generated_messages
from switchboard.stack import Stack, wait_until
from tests.e2e.conftest import StackFactory
from tests.e2e.conftest import api_call as _call

FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}


def _listed(stack: Stack) -> dict[str, str]:
    """Every message of the account by the list endpoint, id → status."""
    statuses: dict[str, str] = {}
    cursor = ""
    while True:
        _, page = _call(stack, "GET", f"/v1/messages?limit=250{cursor}")
        statuses.update({m["id"]: m["status"] for m in page["messages"]})
        if not page["has_more"]:
            return statuses
        cursor = f"&cursor={page['next_cursor']}"


def test_a_batch_is_sent_whole_and_every_message_reaches_a_final_status(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(undelivered=0.1, api_processes=2)
    messages: list[Any] = [*generated_messages(600, seed=21), {"to": "12", "body": "bad"}]
    status, answer = _call(stack, "POST", "/v1/messages/batch", {"messages": messages})
    assert status == 202 and (answer["accepted"], answer["rejected"]) == (600, 1)
    ids = [m["id"] for m in answer["messages"] if "id" in m]
    assert answer["messages"][600]["error"]["code"] == "invalid_number"

    assert wait_until(
        lambda: all(s in FINAL for s in _listed(stack).values()), timeout=90, interval=0.5
    ), stack.store.status_counts()
    listed = _listed(stack)
    assert sorted(listed) == sorted(ids)  # the bad item stored nothing
    assert set(listed.values()) <= {"delivered", "undelivered"}
