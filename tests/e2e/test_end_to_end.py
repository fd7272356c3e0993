"""Whole gateway, real processes: API → Celery → SMPP → simulator → receipts → database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from switchboard.embedded import free_port
from switchboard.load import generated_messages, send_all
from switchboard.stack import Stack, WorkerSpec, wait_until
from tests.e2e.conftest import StackFactory
from workers import verify

FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}


def _send(stack: Stack, count: int, seed: int = 7) -> list[str]:
    result = asyncio.run(
        send_all(stack.api_url, stack.api_key, generated_messages(count, seed), concurrency=32)
    )
    assert result.rejected == 0, result.errors
    return result.accepted


def _accepted_attempts(stack: Stack) -> Counter[str]:
    with stack.store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select carrier, count(*) from attempts"
            " where submit_status = 'accepted' group by carrier"
        ).all()
    return Counter({carrier: int(n) for carrier, n in rows})


def _all_final(stack: Stack, ids: list[str]) -> bool:
    counts = stack.store.status_counts(ids)
    return sum(n for status, n in counts.items() if status in FINAL) == len(ids)


def test_messages_reach_final_status_and_books_match_the_carriers(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack(undelivered=0.1)
    ids = _send(stack, 200)
    assert wait_until(lambda: _all_final(stack, ids), timeout=60), stack.store.status_counts(ids)
    rows = stack.store.report(ids)
    statuses = Counter(row[0] for row in rows)
    assert set(statuses) <= {"delivered", "undelivered"}
    assert statuses["delivered"] > statuses["undelivered"] > 0  # 10% undelivered share, seeded
    sim = stack.simulator_stats()
    # Every accepted attempt (an undelivered OTP is sent again on the other carrier) is one
    # submit_sm the carrier accepted and one receipt it got acknowledged.
    accepted_by_carrier = _accepted_attempts(stack)
    assert sum(accepted_by_carrier.values()) >= len(ids)
    for carrier in ("alpha", "beta"):
        assert sim[carrier]["submits_accepted"] == accepted_by_carrier[carrier]
        assert sim[carrier]["receipts_acked"] == accepted_by_carrier[carrier]
        assert sim[carrier]["throttled"] == 0
    audit_file = tmp_path / "audit.jsonl"
    submitted = sum(accepted_by_carrier.values())
    assert wait_until(
        lambda: len(audit_file.read_text().splitlines()) >= submitted, timeout=30
    )  # flushed each 0.5 s
    audit = [json.loads(line) for line in audit_file.read_text().splitlines()]
    destinations = {row["destination"].lstrip("+") for row in audit}
    assert len(audit) == submitted
    assert destinations == {m["to"].lstrip("+") for m in generated_messages(200)}


def test_carrier_with_mps_50_is_never_throttled(make_stack: StackFactory) -> None:
    stack = make_stack(alpha_mps=50, carriers='["alpha"]')
    ids = _send(stack, 250)  # 5 s at the limit: five one-second windows to overrun
    assert wait_until(lambda: _all_final(stack, ids), timeout=90), stack.store.status_counts(ids)
    sim = stack.simulator_stats()["alpha"]
    assert sim["submits_accepted"] == _accepted_attempts(stack)["alpha"] >= 250
    assert sim["throttled"] == 0
    assert sim["max_mps_1s"] <= 50


def test_killed_send_worker_loses_nothing(make_stack: StackFactory) -> None:
    send_worker = WorkerSpec("worker-send", "otp,transactional,marketing", 1)
    stack = make_stack(
        alpha_mps=100,
        carriers='["alpha"]',
        env={"SWITCHBOARD_REQUEUE_AFTER": "2", "SWITCHBOARD_STUCK_SENDING_AFTER": "3"},
    )
    ids = _send(stack, 300)
    assert wait_until(lambda: stack.store.status_counts(ids).get("queued", 0) < 250, timeout=30)
    stack.kill_worker(
        send_worker.name
    )  # mid-run: some messages are `sending`, some submitted, unrecorded
    stranded = stack.store.status_counts(ids)
    assert stranded.get("queued", 0) + stranded.get("sending", 0) > 0
    stack.start_worker(send_worker)
    assert wait_until(lambda: _all_final(stack, ids), timeout=90), stack.store.status_counts(ids)
    assert (
        stack.simulator_stats()["alpha"]["submits_accepted"] >= 300
    )  # at least once to the carrier


def test_hot_reload_under_load_moves_new_messages_and_loses_none(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    # Marketing strictly by price (no spill to beta when alpha has no token at that instant):
    # what moves the traffic here must be the reloaded prices alone.
    stack = make_stack(route_extra="spill = false")
    uk = [
        {"to": f"+4474001{n:05d}", "body": f"reload test {n}", "class": "marketing"}
        for n in range(450)
    ]
    routes = tmp_path / "routes.toml"

    async def send(bodies: list[dict[str, Any]]) -> list[str]:
        return (await send_all(stack.api_url, stack.api_key, bodies, concurrency=16)).accepted

    async def during_load() -> list[str]:
        sending = asyncio.create_task(send(uk[150:300]))
        await asyncio.sleep(0.1)  # messages are flowing: alpha is now dearer for +44
        routes.write_text(routes.read_text().replace('"+44" = 0.030', '"+44" = 0.090'))
        return await sending

    before = asyncio.run(send(uk[:150]))
    assert wait_until(lambda: _all_final(stack, before), timeout=60)
    during = asyncio.run(during_load())
    wait_until(lambda: False, timeout=2.5)  # every process polls the file once a second
    after = asyncio.run(send(uk[300:]))
    ids = before + during + after
    assert len(ids) == 450
    assert wait_until(lambda: _all_final(stack, ids), timeout=60), stack.store.status_counts(ids)
    assert Counter(row[1] for row in stack.store.report(before)) == {"alpha": 150}
    assert Counter(row[1] for row in stack.store.report(after)) == {"beta": 150}


class CallbackReceiver:
    """A real HTTP server on 127.0.0.1 recording the callbacks it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str, str, bytes]] = []
        self.port = free_port()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.received.append(
                        (
                            json.loads(body),
                            self.headers["X-Switchboard-Timestamp"],
                            self.headers["X-Switchboard-Signature"],
                            body,
                        )
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/sms"


def test_status_callbacks_are_signed_and_follow_the_lifecycle(make_stack: StackFactory) -> None:
    receiver = CallbackReceiver()
    stack = make_stack(undelivered=0.0)
    bodies = [
        {"to": f"+4474001{n:05d}", "body": f"callback {n}", "callback_url": receiver.url}
        for n in range(20)
    ]
    result = asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=4))
    ids = set(result.accepted)
    assert wait_until(lambda: len(receiver.received) >= 40, timeout=60), len(receiver.received)
    receiver.server.shutdown()
    receiver.server.server_close()
    statuses: dict[str, list[str]] = {}
    for payload, timestamp, signature, body in receiver.received:
        assert verify(stack.secret_key, int(timestamp), body, signature)
        statuses.setdefault(payload["id"], []).append(payload["status"])
    assert set(statuses) == ids
    assert all(sorted(s) == ["delivered", "sent"] for s in statuses.values())
