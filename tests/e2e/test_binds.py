"""Bind leases and graceful shutdown with real worker processes over TCP to the simulator."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import redis

from switchboard.load import send_all
from switchboard.stack import Stack, WorkerSpec, wait_until
from tests.e2e.conftest import StackFactory

SENDERS = tuple(WorkerSpec(f"worker-send-{n}", "otp,transactional,marketing", 1) for n in (1, 2, 3))
RECEIPTS = WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: binds and shutdown are the carrier side's; the store's part in this path
    runs on both backends in tests/integration/workers (a stack of four workers is ~20 s)."""
    return f"sqlite:///{tmp_path / 'binds.db'}"


def _bound_worker(stack: Stack) -> str:
    """A send worker whose pool child holds one of alpha's bind leases (host:pid:uuid)."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        members = client.zrange("sb:bind:alpha", 0, -1)
        assert isinstance(members, list) and all(isinstance(m, bytes) for m in members)
        holders = {int(m.decode().split(":")[1]) for m in members if isinstance(m, bytes)}
    finally:
        client.close()
    for name, process in stack.group.processes:
        if name.startswith("worker-send") and holders & _children(process.pid):
            return name
    raise AssertionError(f"no send worker holds a lease: {holders}")


def _children(pid: int) -> set[int]:
    """Pids of `pid`'s child processes (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _send(stack: Stack, count: int) -> list[str]:
    bodies = [
        {"to": f"+4474003{n:05d}", "body": f"binds {n}", "class": "marketing"} for n in range(count)
    ]
    result = asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=32))
    assert result.rejected == 0, result.errors
    return result.accepted


def test_three_workers_on_a_carrier_of_two_binds_hold_two_and_a_sigtermed_one_unbinds(
    make_stack: StackFactory,
) -> None:
    """Given a carrier allowing 2 binds (`binds = 2`; the simulator refuses a third) and three
    send workers, then no more than 2 binds are ever held and none is refused; when a bound
    worker is SIGTERMed mid-flow it unbinds cleanly and every message is still delivered."""
    stack = make_stack(
        alpha_mps=300,
        carriers='["alpha"]',
        undelivered=0.0,
        alpha_max_binds=2,
        alpha_extra="binds = 2",
        workers=(*SENDERS, RECEIPTS),
    )
    peak = [0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], stack.simulator_stats()["alpha"]["binds"])
            sampling.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        assert wait_until(lambda: stack.simulator_stats()["alpha"]["binds"] == 2, timeout=30)
        ids = _send(stack, 600)
        assert wait_until(lambda: stack.simulator_stats()["alpha"]["submits_accepted"] > 150, 30)
        bound = _bound_worker(stack)
        code = stack.terminate_worker(bound)
        assert code == 0
        assert wait_until(
            lambda: stack.store.status_counts(ids).get("delivered", 0) == len(ids), timeout=90
        ), stack.store.status_counts(ids)
    finally:
        sampling.set()
        sampler.join(timeout=5)
    alpha = stack.simulator_stats()["alpha"]
    print(
        f"binds = 2, 3 workers: peak binds {peak[0]}, bind refusals {alpha['errors']}, "
        f"unbinds {alpha['unbinds']}, dropped {alpha['binds_dropped']}, "
        f"accepted {alpha['submits_accepted']} for {len(ids)} messages"
    )
    assert peak[0] <= 2
    assert alpha["errors"] == 0  # the simulator never had to refuse a bind
    assert alpha["unbinds"] >= 1  # the SIGTERMed worker unbound (did not just drop the link)
    assert alpha["submits_accepted"] >= len(ids)
