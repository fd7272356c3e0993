"""A concatenated message whose carrier sends one receipt for it, over TCP to the simulator."""

from __future__ import annotations

from pathlib import Path

from tests.integration.carriers.conftest import SimFactory, carrier, wait_until
from tests.integration.workers.carrier_stack import (
    context,
    queue_messages,
    routes_text,
    worker_settings,
)

THREE_PARTS = "x" * 400  # GSM-7: 153 characters a segment → 3 segments


def test_a_three_part_message_with_one_receipt_is_delivered(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    sim = start_sim(carrier(segment_receipts="last"))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(
        routes_text({"alpha": sim.simulator.ports["alpha"]}, extra='segment_receipts = "one"')
    )
    ctx = context(settings)
    try:
        (message_id,) = queue_messages(ctx.store, THREE_PARTS, 1)
        stats, _ = ctx.sender().send([message_id])
        assert stats.sent == 1
        wait_until(lambda: ctx.store.status_counts() == {"delivered": 1})
        wait_until(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)
        assert sim.stats()["alpha"]["submits_accepted"] == 3
    finally:
        ctx.close()
