"""A concatenated message whose carrier sends one receipt for it, over TCP to the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import redis

from carriers import LEARN_AFTER, RedisSegmentLearner
from store.otp_repository import OtpStore
from tests.integration.carriers.conftest import SimFactory, carrier, wait_until
from tests.integration.workers.carrier_stack import (
    context,
    queue_messages,
    routes_text,
    worker_settings,
)
from workers.context import otp_resend_policy, utcnow
from workers.sweeping import sweep_once

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


class _NoOutbox:
    """The sweep's outbox, for a test that only watches its receipts."""

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Nothing to send here."""

    def enqueue_wakeup(self, message_class: str) -> None:
        """Nothing to wake here."""


def test_an_auto_carrier_sending_one_receipt_is_learnt_then_settles_at_its_first(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    """`segment_receipts` left "auto": the first messages wait for the sweep (here with no
    grace), which settles them on their one receipt and records what it saw in Redis; once
    learnt, the next message is delivered by its receipt alone, with no sweep."""
    sim = start_sim(carrier(segment_receipts="last"))
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(routes_text({"alpha": sim.simulator.ports["alpha"]}))
    ctx = context(settings)
    try:
        ids = queue_messages(ctx.store, THREE_PARTS, LEARN_AFTER)
        assert ctx.sender().send(ids)[0].sent == LEARN_AFTER
        wait_until(lambda: sim.stats()["alpha"]["receipts_acked"] == LEARN_AFTER)
        assert ctx.store.status_counts() == {"sent": LEARN_AFTER}  # waiting for 2 more each
        assert "alpha" not in ctx.one_receipt_carriers()
        counts = sweep_once(
            ctx.store,
            OtpStore(ctx.engine),
            _NoOutbox(),
            lambda changes: None,
            settings,
            otp_resend_policy(settings),
            utcnow(),
            routes=ctx.routes.current,
            segment_receipt_grace=timedelta(0),
            learn=ctx.record_segment_evidence,
        )
        assert counts["settled_on_one_receipt"] == LEARN_AFTER
        assert ctx.store.status_counts() == {"delivered": LEARN_AFTER}
        learnt = RedisSegmentLearner(redis.Redis.from_url(redis_url)).learnt(["alpha"])
        assert learnt["alpha"].one_per_message
        wait_until(lambda: "alpha" in ctx.one_receipt_carriers())  # refreshed within a second
        (last,) = queue_messages(ctx.store, THREE_PARTS, 1)
        assert ctx.sender().send([last])[0].sent == 1
        wait_until(lambda: ctx.store.status_counts() == {"delivered": LEARN_AFTER + 1})
    finally:
        ctx.close()
