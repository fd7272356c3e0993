"""Marketing paced against a simulated carrier with burst 1 (a bucket of one token: two
submit_sm closer than 1/M are refused), over TCP, real Redis: zero ESME_RTHROTTLED.

Figures (share of M) come from `bench/carriers.py`; this only holds the promise."""

from __future__ import annotations

import threading
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


# A carrier declared `pacing = "burst1"` has one sender from its first PDU, each PDU 1/M after
# the end of the last write: no lateness brings two closer. Left "auto", two senders share the
# lane until a throttle; their slots are 1/r apart, 11 ms more than 1/M at 10 MPS, and on a CI
# host busy with the rest of the suite a wake-up later than that made one throttle (make test,
# load 5-6), so it runs with the slow ones, as does 100 MPS (10 ms between PDUs).
@pytest.mark.parametrize(
    ("mps", "count", "pacing", "parts"),
    [
        (10, 30, "burst1", 1),
        (10, 10, "burst1", 3),  # each part a PDU of its own: paced like any other
        pytest.param(10, 30, "auto", 1, marks=pytest.mark.slow),
        pytest.param(100, 200, "burst1", 1, marks=pytest.mark.slow),
    ],
)
def test_a_burst_1_carrier_answers_no_throttle_to_paced_marketing(
    start_sim: SimFactory,
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    mps: int,
    count: int,
    pacing: str,
    parts: int,
) -> None:
    """Two batches at once, as two workers. With the routes file's `pacing = "burst1"` one
    holds the lane's tenure at a time and the other waits its hand-over and guard; left
    "auto" at 10 MPS the bucket's one schedule keeps them apart. The simulator runs on a
    thread of this process, its reads waiting for the GIL: it dates each PDU by the kernel's
    receive time."""
    sim = start_sim(sim_carrier("alpha", mps=mps, burst=1))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(
        routes_text({"alpha": sim.simulator.ports["alpha"]}, f'pacing = "{pacing}"', mps=mps)
    )
    ctx = context(settings)
    try:
        ids = queue_messages(ctx.store, "hello" if parts == 1 else "x" * 153 * parts, count)
        started = time.monotonic()
        send_all(ctx, ids, threads=2, chunk=count // 2)
        took = time.monotonic() - started
        wait_until(lambda: ctx.store.status_counts() == {"delivered": count}, timeout=30)
        stats = sim.stats()["alpha"]
        pdus = count * parts
        print(f"burst 1 at {mps} MPS: {pdus} PDUs in {took:.2f} s, throttled {stats['throttled']}")
        assert (stats["submits_accepted"], stats["throttled"]) == (pdus, 0)
        # Paced, not merely slow: no faster than the bucket (its one token, then its rate).
        rate, capacity = bucket_shape(mps)
        assert took >= (pdus - capacity - 1) / rate * 0.99
    finally:
        ctx.close()


# At 100 MPS (10 ms between PDUs) with the simulator a thread of this GIL-shared process, 2 of
# ~40 runs on a host at load 5-7 saw one throttle (gap 9.7 ms): slow, with the 100 MPS case above.
@pytest.mark.parametrize(
    ("mps", "marketing", "otps"), [(50, 60, 8), pytest.param(100, 150, 15, marks=pytest.mark.slow)]
)
def test_otps_mixed_into_marketing_on_a_burst_1_carrier_get_no_throttle_and_no_wait(
    start_sim: SimFactory,
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    mps: int,
    marketing: int,
    otps: int,
) -> None:
    """Marketing from two batches at once (one holds the lane's tenure) and, meanwhile, OTPs
    one batch each from a third thread: every OTP takes the next slot of the bucket's
    schedule with a hole on each side (no tenure, so no wait behind marketing), and the
    carrier, refusing any two PDUs closer than 1/M, throttles none of them."""
    sim = start_sim(sim_carrier("alpha", mps=mps, burst=1))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(
        routes_text({"alpha": sim.simulator.ports["alpha"]}, 'pacing = "burst1"', mps=mps)
    )
    ctx = context(settings)
    try:
        backlog = queue_messages(ctx.store, "sale", marketing)
        codes = queue_messages(ctx.store, "code 123456", otps, "otp")
        drain = threading.Thread(target=send_all, args=(ctx, backlog, 2, marketing // 2))
        drain.start()
        took: list[float] = []
        time.sleep(0.2)  # the backlog is draining
        for otp in codes:
            started = time.monotonic()
            sent, _ = ctx.sender().send([otp])
            took.append(time.monotonic() - started)
            assert sent.sent == 1
            time.sleep(0.05)
        drain.join()
        total = marketing + otps
        wait_until(lambda: ctx.store.status_counts() == {"delivered": total}, timeout=30)
        stats = sim.stats()["alpha"]
        print(f"burst 1 at {mps} MPS, OTPs in marketing: {stats}, OTP batches took {took}")
        assert (stats["submits_accepted"], stats["throttled"]) == (total, 0)
        # Not behind the backlog (over a second of it): a slot or a few of the carrier's, and the
        # batch's own claim and record.
        assert sorted(took)[len(took) // 2] < 0.25
    finally:
        ctx.close()
