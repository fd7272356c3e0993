"""Crash recovery with real processes: a killed send worker's batch comes back in seconds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from store import NewMessage, new_id
from switchboard.load import send_all
from switchboard.stack import Stack, WorkerSpec, wait_until
from tests.e2e.conftest import StackFactory
from workers import read_sweeper_status

FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}
SEND_WORKER = WorkerSpec("worker-send", "otp,transactional,marketing", 1)


def _send(stack: Stack, count: int) -> list[str]:
    bodies = [
        {"to": f"+4474002{n:05d}", "body": f"recovery {n}", "class": "marketing"}
        for n in range(count)
    ]
    result = asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=32))
    assert result.rejected == 0, result.errors
    return result.accepted


def _all_final(stack: Stack, ids: list[str]) -> bool:
    counts = stack.store.status_counts(ids)
    return sum(n for status, n in counts.items() if status in FINAL) == len(ids)


def test_killed_send_worker_batch_is_resent_within_seconds_and_counted_once(
    make_stack: StackFactory,
) -> None:
    """Given a send worker with a batch in flight, when it is SIGKILLed and started again,
    then every message is final within ~10 s of the restart (its lease died; before: 60 s, the
    stuck-sending timeout), the re-sends are flagged, and no message is charged twice."""
    stack = make_stack(alpha_mps=200, carriers='["alpha"]', undelivered=0.0)
    ids = _send(stack, 400)
    assert wait_until(lambda: stack.store.status_counts(ids).get("sending", 0) > 0, timeout=30)
    stack.kill_worker(SEND_WORKER.name)
    in_flight = stack.store.status_counts(ids).get("sending", 0)
    assert in_flight > 0
    stack.start_worker(SEND_WORKER)
    restarted = time.monotonic()
    assert wait_until(lambda: _all_final(stack, ids), timeout=90), stack.store.status_counts(ids)
    recovery = time.monotonic() - restarted
    print(f"recovery after send-worker kill: {recovery:.1f} s ({in_flight} in flight)")
    assert recovery < 15
    with stack.store.engine.connect() as conn:
        accepted = Counter(
            message_id
            for (message_id,) in conn.exec_driver_sql(
                "select message_id from attempts where submit_status = 'accepted'"
            )
        )
        flagged = conn.exec_driver_sql(
            "select count(*) from attempts where resubmitted_after_crash"
        ).scalar_one()
    assert set(accepted) == set(ids)
    assert max(accepted.values()) == 1  # one charged attempt per message, however often sent
    assert 0 < flagged <= in_flight
    assert stack.simulator_stats()["alpha"]["submits_accepted"] >= len(ids)


def _holder_worker(stack: Stack) -> str | None:
    status = read_sweeper_status(stack.redis_url)
    if status.holder is None:
        return None
    return next((n for n, p in stack.group.processes if p.pid == status.holder.pid), None)


def _overdue(stack: Stack) -> str:
    now = datetime.now(UTC)
    account = stack.store.ensure_account("demo", now)
    row = NewMessage(
        new_id(), account, "+447400999999", "Acme", "late", "marketing", "gsm7", 1, None,
        now - timedelta(minutes=2), now - timedelta(minutes=1),
    )  # fmt: skip
    stack.store.insert_messages([row])
    return row.id


def test_killed_sweeper_holder_is_replaced_within_seconds_and_the_successor_sweeps(
    make_stack: StackFactory,
) -> None:
    """Given two workers, one holding the sweeper lock, when the holder is SIGKILLed, then
    the other takes the lock within ~10 s and sweeps (an overdue message gets `expired`);
    `switchboard status` names the holder."""
    stack = make_stack()
    assert wait_until(lambda: _holder_worker(stack) is not None, timeout=30)
    holder = _holder_worker(stack)
    shown = subprocess.run(
        [sys.executable, "-m", "switchboard", "status"],
        env={**os.environ, "SWITCHBOARD_REDIS_URL": stack.redis_url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "sweeper: held by" in shown and "last sweep:" in shown
    first = _overdue(stack)
    assert wait_until(lambda: stack.store.status_counts([first]) == {"expired": 1}, timeout=30)
    assert holder is not None
    stack.kill_worker(holder)
    killed = time.monotonic()
    assert wait_until(lambda: _holder_worker(stack) not in {None, holder}, timeout=15)
    takeover = time.monotonic() - killed
    print(f"sweeper takeover after holder kill: {takeover:.1f} s")
    assert takeover < 10
    late = _overdue(stack)
    assert wait_until(lambda: stack.store.status_counts([late]) == {"expired": 1}, timeout=30)
