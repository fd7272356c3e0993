"""Least-cost spill over TCP: a marketing batch larger than the cheap carrier's MPS goes out on
both simulated carriers, each at its own rate (real Redis buckets), zero ESME_RTHROTTLED.

Figures (share of the carriers' MPS) come from `bench/campaign.py`; this holds the promise."""

from __future__ import annotations

import time
from pathlib import Path

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


def test_marketing_over_the_cheap_carriers_mps_lands_on_both_unthrottled(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    """Two batches at once, as two workers, to alpha (cheaper) and beta, each allowing `mps`
    over any 1-s window: the messages alpha's bucket has no token for at their instant take
    beta's, so the whole goes out in about half the time alpha alone would need. (The
    simulator shares this process's GIL: at 2 x 100 MPS on a loaded host the wall time says
    more of the host than of the spill; `bench/campaign.py` measures rates.)"""
    mps, count = 50, 150
    sim = start_sim(sim_carrier("alpha", mps=mps), sim_carrier("beta", mps=mps))
    settings = worker_settings(tmp_path, database_url, redis_url)
    ports = sim.simulator.ports
    # routes_text makes the last listed carrier the cheapest: alpha.
    settings.routes_file.write_text(
        routes_text({"beta": ports["beta"], "alpha": ports["alpha"]}, mps=mps)
    )
    ctx = context(settings)
    try:
        ids = queue_messages(ctx.store, "hello", count)
        started = time.monotonic()
        send_all(ctx, ids, threads=2, chunk=count // 2)
        took = time.monotonic() - started
        wait_until(lambda: ctx.store.status_counts() == {"delivered": count}, timeout=30)
        stats = sim.stats()
        accepted = {name: stats[name]["submits_accepted"] for name in ("alpha", "beta")}
        throttled = {name: stats[name]["throttled"] for name in ("alpha", "beta")}
        print(f"spill at 2 x {mps} MPS: {accepted} in {took:.2f} s, throttled {throttled}")
        assert throttled == {"alpha": 0, "beta": 0}
        assert sum(accepted.values()) == count
        # Both carriers busy, each near half (before: beta took only what overflowed half a
        # second of alpha's backlog per batch, ~1/6 here).
        assert min(accepted.values()) >= count * 0.35
        rate, capacity = bucket_shape(mps)
        alone = (count - capacity) / rate  # alpha alone, at its bucket's rate
        assert took < alone * 0.8  # two lanes' rate (ideal: half), with room for a busy host
    finally:
        ctx.close()
