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

# 100 ms between PDUs. The simulator runs on a thread of this process: its reads wait for the
# GIL (5 ms switch interval), and it stamps a PDU when it reads it, so at a higher M its own
# jitter would be what it counts (at 40 MPS: our gap 25.6 ms, its 24.6 ms).
MPS = 10


@pytest.mark.parametrize("count", [30])
def test_a_burst_1_carrier_answers_no_throttle_to_paced_marketing(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str, count: int
) -> None:
    sim = start_sim(sim_carrier("alpha", mps=MPS, burst=1))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(routes_text({"alpha": sim.simulator.ports["alpha"]}, mps=MPS))
    ctx = context(settings)
    try:
        ids = queue_messages(ctx.store, "hello", count)
        started = time.monotonic()
        # Two batches at once, as two workers: their grants share the bucket's one schedule.
        send_all(ctx, ids, threads=2, chunk=count // 2)
        took = time.monotonic() - started
        wait_until(lambda: ctx.store.status_counts() == {"delivered": count}, timeout=30)
        stats = sim.stats()["alpha"]
        print(f"burst 1 at {MPS} MPS: {count} in {took:.2f} s, throttled {stats['throttled']}")
        assert (stats["submits_accepted"], stats["throttled"]) == (count, 0)
        # Paced, not merely slow: no faster than the bucket (its one token, then its rate).
        rate, capacity = bucket_shape(MPS)
        assert took >= (count - capacity - 1) / rate * 0.99
    finally:
        ctx.close()
