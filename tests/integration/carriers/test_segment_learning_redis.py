"""RedisSegmentLearner agrees with its in-memory twin, and fails open when Redis is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from carriers import (
    LEARN_AFTER,
    MemorySegmentLearner,
    RedisSegmentLearner,
    SegmentLearner,
    SegmentLearning,
)
from switchboard.embedded import start_redis


@pytest.fixture(params=["memory", "redis"])
def learner(request: pytest.FixtureRequest) -> SegmentLearner:
    if request.param == "memory":
        return MemorySegmentLearner()
    return RedisSegmentLearner(redis.Redis.from_url(request.getfixturevalue("redis_url")))


def test_reports_add_up_and_several_receipts_reset_the_streak(learner: SegmentLearner) -> None:
    learner.record([("alpha", "one")] * (LEARN_AFTER - 1))
    learner.record([("alpha", "one"), ("beta", "each")])
    learnt = learner.learnt(["alpha", "beta", "gamma"])
    assert learnt["alpha"] == SegmentLearning(one=LEARN_AFTER, each=0, streak=LEARN_AFTER)
    assert learnt["alpha"].one_per_message
    assert learnt["beta"] == SegmentLearning(one=0, each=1, streak=0)
    assert learnt["gamma"] == SegmentLearning()
    learner.record([("alpha", "each"), ("alpha", "one")])
    assert learner.learnt(["alpha"])["alpha"] == SegmentLearning(LEARN_AFTER + 1, 1, 0)


def test_what_one_process_learnt_every_other_reads(redis_url: str) -> None:
    RedisSegmentLearner(redis.Redis.from_url(redis_url)).record([("alpha", "one")] * LEARN_AFTER)
    other = RedisSegmentLearner(redis.Redis.from_url(redis_url))
    assert other.learnt(["alpha"])["alpha"].one_per_message


def test_unreachable_redis_learns_nothing_and_counts_the_failure(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    client = redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    learner = RedisSegmentLearner(client)
    learner.record([("alpha", "one")] * LEARN_AFTER)
    server.stop()
    learner.record([("alpha", "each")])  # not raised
    assert learner.learnt(["alpha"]) == {}
    assert learner.failures == 2
    client.close()
