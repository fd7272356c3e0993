"""RedisHealthStore agrees with its in-memory twin, and fails open when Redis is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from carriers import CircuitState, HealthStore, MemoryHealthStore, RedisHealthStore
from switchboard.embedded import start_redis

NOW = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> HealthStore:
    if request.param == "memory":
        return MemoryHealthStore(clock=lambda: NOW)
    url = request.getfixturevalue("redis_url")
    return RedisHealthStore(redis.Redis.from_url(url), clock=lambda: NOW)


def test_counts_add_up_per_carrier(store: HealthStore) -> None:
    store.add("alpha", ok=3, delivered=2, undelivered=2)
    store.add("beta", error=6, failure=6)
    views = store.views(["alpha", "beta", "gamma"])
    assert views["alpha"].circuit is CircuitState.CLOSED
    assert views["alpha"].score == pytest.approx(1.0 * (3 / 5))
    assert views["beta"].circuit is CircuitState.OPEN
    assert views["gamma"].score == 1.0


def test_unreachable_redis_reads_as_healthy_and_counts_the_failure(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    client = redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    store = RedisHealthStore(client, clock=lambda: NOW)
    store.add("alpha", error=9, failure=9)
    server.stop()
    store.add("alpha", error=1)  # not raised
    assert store.views(["alpha"])["alpha"].circuit is CircuitState.CLOSED
    assert store.failures == 2
    client.close()
