"""One contract for both bind-lease adapters: Redis (a real redis-server) and the memory twin."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from ratelimit import BindLeases, Lease, MemoryBindLeases, RedisBindLeases, limits_client
from switchboard.embedded import start_redis
from tests.fakes import FakeClock


@dataclass
class Harness:
    """Leases under test and a way to let time pass for them."""

    leases: BindLeases
    advance: Callable[[float], object]


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = FakeClock(500.0)
        yield Harness(MemoryBindLeases(clock), clock.advance)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield Harness(RedisBindLeases(client), time.sleep)
    client.close()


def test_grants_up_to_the_limit_then_refuses(harness: Harness) -> None:
    got = [harness.leases.acquire("alpha", limit=2, ttl_seconds=30) for _ in range(3)]
    assert [lease is not None for lease in got] == [True, True, False]
    assert harness.leases.held("alpha") == 2


def test_lease_ids_are_unique_and_carry_the_holder(harness: Harness) -> None:
    first = harness.leases.acquire("alpha", limit=5, ttl_seconds=30, holder="host-1:42")
    second = harness.leases.acquire("alpha", limit=5, ttl_seconds=30, holder="host-1:42")
    assert first is not None
    assert second is not None
    assert first.lease_id != second.lease_id
    assert first.lease_id.startswith("host-1:42:")
    assert first.carrier == "alpha"


def test_released_slot_can_be_taken_again(harness: Harness) -> None:
    lease = harness.leases.acquire("alpha", limit=1, ttl_seconds=30)
    assert lease is not None
    harness.leases.release(lease)
    assert harness.leases.held("alpha") == 0
    assert harness.leases.acquire("alpha", limit=1, ttl_seconds=30) is not None
    assert harness.leases.renew(lease, ttl_seconds=30) is False  # released means lost


def test_unrenewed_lease_expires_and_frees_its_slot(harness: Harness) -> None:
    lease = harness.leases.acquire("alpha", limit=1, ttl_seconds=0.1)
    assert lease is not None
    harness.advance(0.15)
    assert harness.leases.held("alpha") == 0
    assert harness.leases.renew(lease, ttl_seconds=0.1) is False
    assert harness.leases.acquire("alpha", limit=1, ttl_seconds=0.1) is not None


def test_renewed_lease_outlives_its_first_ttl(harness: Harness) -> None:
    lease = harness.leases.acquire("alpha", limit=1, ttl_seconds=0.2)
    assert lease is not None
    harness.advance(0.12)
    assert harness.leases.renew(lease, ttl_seconds=0.2) is True
    harness.advance(0.12)  # 0.24 s after acquire: past the first TTL
    assert harness.leases.held("alpha") == 1
    assert harness.leases.acquire("alpha", limit=1, ttl_seconds=0.2) is None


def test_carriers_are_independent(harness: Harness) -> None:
    assert harness.leases.acquire("alpha", limit=1, ttl_seconds=30) is not None
    assert harness.leases.acquire("beta", limit=1, ttl_seconds=30) is not None
    assert harness.leases.acquire("alpha", limit=1, ttl_seconds=30) is None


def test_releasing_an_unknown_lease_does_nothing(harness: Harness) -> None:
    kept = harness.leases.acquire("alpha", limit=2, ttl_seconds=30)
    harness.leases.release(Lease("alpha", "not-a-lease"))
    assert kept is not None
    assert harness.leases.held("alpha") == 1


def test_concurrent_acquires_never_exceed_the_limit(harness: Harness) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: harness.leases.acquire("alpha", 3, 30), range(40)))
    assert sum(lease is not None for lease in got) == 3


@pytest.mark.parametrize(("limit", "ttl"), [(0, 30.0), (2, 0.0), (2, -1.0), (2, float("nan"))])
def test_impossible_leases_are_refused(harness: Harness, limit: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        harness.leases.acquire("alpha", limit=limit, ttl_seconds=ttl)


def test_redis_lease_set_expires_with_its_longest_lease(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    leases = RedisBindLeases(client)
    leases.acquire("alpha", limit=3, ttl_seconds=20)
    leases.acquire("alpha", limit=3, ttl_seconds=2)  # shorter: must not cut the set's life
    assert 20_000 < client.pttl("sb:bind:alpha") <= 21_000
    client.close()


def test_redis_down_fails_closed_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    conn = limits_client(server.url)
    leases = RedisBindLeases(conn)
    try:
        lease = leases.acquire("alpha", limit=5, ttl_seconds=30)
        assert lease is not None
    finally:
        server.stop()
    with caplog.at_level(logging.WARNING, logger="ratelimit.leases"):
        assert leases.acquire("alpha", limit=5, ttl_seconds=30) is None
        assert leases.renew(lease, ttl_seconds=30) is False
        assert leases.held("alpha") is None
        leases.release(lease)
    conn.close()
    assert leases.failures == 4
    assert caplog.text.count("failing closed") == 4
