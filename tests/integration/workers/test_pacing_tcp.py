"""Marketing paced against a simulated carrier with burst 1 (a bucket of one token: two
submit_sm closer than 1/M are refused), over TCP, real Redis: zero ESME_RTHROTTLED.

Figures (share of M) come from `bench/carriers.py`; this only holds the promise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.carriers.conftest import SimFactory, wait_until
from tests.integration.workers.carrier_stack import (
    context,
    queue_messages,
    routes_text,
    send_all,
    sim_carrier,
    worker_settings,
)
from workers import bucket_shape


@pytest.mark.parametrize(("mps", "count"), [(10, 30), (100, 200)])
def test_a_burst_1_carrier_answers_no_throttle_to_paced_marketing(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str, mps: int, count: int
) -> None:
    """Two batches at once, as two workers: one holds the lane's tenure at a time, the other
    waits its hand-over and guard. At 100 MPS (10 ms) the simulator runs on a thread of this
    process, its reads waiting for the GIL: it dates each PDU by the kernel's receive time."""
    sim = start_sim(sim_carrier("alpha", mps=mps, burst=1))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(routes_text({"alpha": sim.simulator.ports["alpha"]}, mps=mps))
    ctx = context(settings)
    try:
        ids = queue_messages(ctx.store, "hello", count)
        started = time.monotonic()
        send_all(ctx, ids, threads=2, chunk=count // 2)
        took = time.monotonic() - started
        wait_until(lambda: ctx.store.status_counts() == {"delivered": count}, timeout=30)
        stats = sim.stats()["alpha"]
        print(f"burst 1 at {mps} MPS: {count} in {took:.2f} s, throttled {stats['throttled']}")
        assert (stats["submits_accepted"], stats["throttled"]) == (count, 0)
        # Paced, not merely slow: no faster than the bucket (its one token, then its rate).
        rate, capacity = bucket_shape(mps)
        assert took >= (count - capacity - 1) / rate * 0.99
    finally:
        ctx.close()
