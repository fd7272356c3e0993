"""Callbacks end to end: real API, Celery workers, carriers and a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from store import CallbackOutbox
from switchboard.load import send_all
from switchboard.stack import CALLBACK_THREADS, Stack, WorkerSpec, wait_until
from tests.callback_receiver import CallbackReceiver
from tests.e2e.conftest import QUICK_RETRY, StackFactory
from workers import verify

FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}
WORKERS = (
    WorkerSpec("worker-send", "otp,transactional,marketing", 1),
    WorkerSpec("worker-receipts", "receipts", 1, beat=True),
    WorkerSpec("worker-callbacks", "callbacks", CALLBACK_THREADS, pool="threads"),
)


def _send(stack: Stack, bodies: list[dict[str, Any]]) -> list[str]:
    result = asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=32))
    assert result.rejected == 0, result.errors
    return result.accepted


def _bodies(count: int, url: str, **options: Any) -> list[dict[str, Any]]:
    return [
        {"to": f"+4474001{n:05d}", "body": f"callback {n}", "callback_url": url, **options}
        for n in range(count)
    ]


def _pending(stack: Stack) -> int:
    return CallbackOutbox(stack.store.engine).pending()


def _all_final(stack: Stack, ids: list[str]) -> bool:
    counts = stack.store.status_counts(ids)
    return sum(n for status, n in counts.items() if status in FINAL) == len(ids)


def test_every_status_change_gets_exactly_one_signed_callback(
    make_stack: StackFactory, receiver: CallbackReceiver
) -> None:
    stack = make_stack(undelivered=0.1, workers=WORKERS)
    ids = _send(stack, _bodies(300, receiver.url()))
    assert wait_until(lambda: len(receiver.events()) >= 600, timeout=90), len(receiver.events())
    assert wait_until(lambda: _pending(stack) == 0, timeout=30)
    secret = stack.secret_key
    for r in receiver.received:
        assert verify(secret, int(r.timestamp), r.body, r.signature)
    events = receiver.events()
    seen = Counter((e["id"], e["status"]) for e in events)
    assert max(seen.values()) == 1  # once per status change
    by_message: dict[str, list[str]] = {}
    for e in events:
        by_message.setdefault(e["id"], []).append(e["status"])
    assert set(by_message) == set(ids)
    # One `sent` and one final event each. Events are POSTed concurrently, so a fast receipt's
    # final event may arrive before its `sent` one: order by the event's own `at`, not arrival.
    odd = {
        m: s
        for m, s in by_message.items()
        if sorted(s, key=lambda st: st in FINAL)[0] != "sent" or len(s) != 2 or not set(s) & FINAL
    }
    assert not odd, odd
    at = {(e["id"], e["status"] in FINAL): e["at"] for e in events}
    backwards = [m for m in by_message if at[(m, False)] > at[(m, True)]]
    assert not backwards, [e for e in events if e["id"] in backwards[:2]]  # sent, then final
    delivered = next(e for e in events if e["status"] == "delivered")
    assert delivered["carrier"] in {"alpha", "beta"} and delivered["currency"] == "EUR"
    assert delivered["cost"] and delivered["segments"] == 1 and delivered["final_at"]


def test_callbacks_held_back_by_a_receiver_outage_all_arrive_once_it_is_back(
    make_stack: StackFactory, receiver: CallbackReceiver
) -> None:
    stack = make_stack(undelivered=0.0, workers=WORKERS, env=QUICK_RETRY)
    receiver.down()
    ids = _send(stack, _bodies(100, receiver.url()))
    assert wait_until(lambda: _all_final(stack, ids), timeout=60)
    assert wait_until(lambda: _pending(stack) == 200, timeout=30), _pending(stack)
    wait_until(lambda: False, timeout=3)  # down a while longer: several retries fail
    receiver.up()
    assert wait_until(lambda: _pending(stack) == 0, timeout=60), _pending(stack)
    seen = Counter((e["id"], e["status"]) for e in receiver.events())
    assert set(seen) == {(i, s) for i in ids for s in ("sent", "delivered")}
    assert max(seen.values()) == 1


def test_a_slow_receiver_does_not_slow_sending(make_stack: StackFactory) -> None:
    slow = CallbackReceiver(delay=2.0).start()
    try:
        stack = make_stack(
            undelivered=0.0, workers=WORKERS, env={"SWITCHBOARD_CALLBACK_PER_HOST": "8"}
        )
        ids = _send(stack, _bodies(200, slow.url()))
        # 400 callbacks, 2 s each, 8 at a time per process: the send worker POSTs what it
        # committed, the callbacks worker what the sweep releases. Sending takes a few seconds.
        assert wait_until(lambda: _all_final(stack, ids), timeout=30)
        assert _pending(stack) > 100
        assert slow.max_in_flight <= 2 * 8  # callback_per_host, in each of two processes
    finally:
        slow.stop()


def test_final_only_and_batched_callbacks(
    make_stack: StackFactory, receiver: CallbackReceiver
) -> None:
    stack = make_stack(undelivered=0.0, workers=WORKERS)
    final_batched = _send(
        stack,
        _bodies(150, receiver.url("/final"), callback_events="final", callback_batch=True),
    )
    batched = _send(stack, _bodies(30, receiver.url("/batched"), callback_batch=True))
    assert wait_until(lambda: len(receiver.events()) >= 150 + 60, timeout=90)
    assert wait_until(lambda: _pending(stack) == 0, timeout=30)
    posts = {path: [r.json() for r in receiver.received if r.path == path] for path in
             ("/final", "/batched")}  # fmt: skip
    assert all(set(body) == {"events"} for bodies in posts.values() for body in bodies)
    final_events = [e for body in posts["/final"] for e in body["events"]]
    assert Counter(e["status"] for e in final_events) == {"delivered": 150}
    assert sorted(e["id"] for e in final_events) == sorted(final_batched)
    assert len(posts["/final"]) < 150  # several events per POST
    assert max(len(body["events"]) for body in posts["/final"]) <= 100
    batched_events = Counter(
        (e["id"], e["status"]) for body in posts["/batched"] for e in body["events"]
    )
    assert set(batched_events) == {(i, s) for i in batched for s in ("sent", "delivered")}
