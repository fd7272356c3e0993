"""Slow load tests (`make test-slow`): a few thousand messages while processes die."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchboard.load import generated_messages, send_all
from switchboard.stack import WorkerSpec, wait_until
from tests.e2e.conftest import StackFactory

FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_killed_receipts_and_send_workers_lose_nothing_under_load(make_stack: StackFactory) -> None:
    receipts = WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True)
    send = WorkerSpec("worker-send", "otp,transactional,marketing", 1)
    stack = make_stack(
        workers=(send, receipts),
        env={"SWITCHBOARD_REQUEUE_AFTER": "5", "SWITCHBOARD_STUCK_SENDING_AFTER": "10"},
    )
    result = asyncio.run(
        send_all(stack.api_url, stack.api_key, generated_messages(3000, seed=3), concurrency=32)
    )
    assert result.rejected == 0, result.errors
    ids = result.accepted
    time.sleep(1.0)
    stack.kill_worker(receipts.name)  # receipts already acked to the carrier sit in the broker
    stack.kill_worker(send.name)
    time.sleep(1.0)
    stack.start_worker(send)
    stack.start_worker(receipts)

    def all_final() -> bool:
        counts = stack.store.status_counts(ids)
        return sum(n for status, n in counts.items() if status in FINAL) == len(ids)

    # A task a dead worker held comes back after the broker's visibility timeout (120 s).
    assert wait_until(all_final, timeout=240, interval=1.0), stack.store.status_counts(ids)
    sim = stack.simulator_stats()
    assert sum(c["throttled"] for c in sim.values()) == 0
