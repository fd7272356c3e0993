"""Submit latency, receipt delay and the delivered share reach the carrier's health, over
TCP to the simulator and real Redis."""

from __future__ import annotations

from pathlib import Path

from carriers import HealthView
from tests.integration.carriers.conftest import SimFactory, carrier, wait_until
from tests.integration.workers.carrier_stack import (
    context,
    queue_messages,
    routes_text,
    worker_settings,
)


def test_a_slow_carriers_latency_and_receipt_delay_show_in_its_health(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    sim = start_sim(carrier(submit_latency_ms=40, receipt_delay_ms=200))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(routes_text({"alpha": sim.simulator.ports["alpha"]}))
    ctx = context(settings)
    try:
        ids = queue_messages(ctx.store, "hello", 5)
        assert ctx.sender().send(ids)[0].sent == 5

        def view() -> HealthView:
            return ctx.health.views(["alpha"])["alpha"]

        wait_until(lambda: view().receipt_delay is not None and view().delivered_share == 1.0)
        latency, delay = view().submit_latency, view().receipt_delay
        assert latency is not None and 0.04 <= latency < 5.0  # the simulator's 40 ms, at least
        assert delay is not None and 0.15 <= delay < 30.0  # its 200 ms after the submit_sm_resp
        assert ctx.store.status_counts() == {"delivered": 5}
    finally:
        ctx.close()
