"""One contract for both velocity-limit adapters: Redis (a real redis-server) and the twin.

The memory twin runs on a fake clock (its freezegun tests are in tests/unit/ratelimit); Redis's
clock cannot be frozen, so its run lets real time pass (short windows) and the assertions allow
for the milliseconds a test takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from ratelimit import MemoryWindowCounters, RedisWindowCounters, WindowCounters
from tests.fakes import FakeClock

SLACK_S = 0.05


@dataclass
class Harness:
    """Counters under test and a way to let time pass for them."""

    windows: WindowCounters
    advance: Callable[[float], object]
    slack: float


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = FakeClock(1_767_268_800.0)
        yield Harness(MemoryWindowCounters(clock), clock.advance, 0.0)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield Harness(RedisWindowCounters(client), time.sleep, SLACK_S)
    client.close()


def test_allows_up_to_the_limit_counting_down_then_refuses(harness: Harness) -> None:
    results = [harness.windows.hit("+447700900123", limit=3, window_seconds=3600) for _ in range(4)]
    assert [(r.allowed, r.remaining) for r in results] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert [r.retry_after for r in results[:3]] == [0.0, 0.0, 0.0]
    assert not any(r.degraded for r in results)


def test_retry_after_is_when_the_oldest_hit_leaves_the_window(harness: Harness) -> None:
    w = harness.windows
    began = time.monotonic()
    w.hit("n", limit=2, window_seconds=1.0)
    harness.advance(0.2)
    w.hit("n", limit=2, window_seconds=1.0)
    refused = w.hit("n", limit=2, window_seconds=1.0)
    # At least 0.2 s passed since the oldest hit, at most what this test took (real time on
    # Redis: a loaded host may stretch the 0.2-s sleep; the fake clock's 0.2 for the twin).
    spent = max(time.monotonic() - began, 0.2)
    assert not refused.allowed
    assert 1.0 - spent - harness.slack <= refused.retry_after <= 0.8


def test_a_hit_leaves_the_window_after_window_seconds(harness: Harness) -> None:
    w = harness.windows
    assert w.hit("n", limit=1, window_seconds=0.2).allowed
    refused = w.hit("n", limit=1, window_seconds=0.2)
    assert not refused.allowed
    harness.advance(refused.retry_after)
    assert w.hit("n", limit=1, window_seconds=0.2).allowed


def test_window_slides_rather_than_resetting(harness: Harness) -> None:
    w = harness.windows
    assert w.hit("n", limit=2, window_seconds=0.4).allowed
    harness.advance(0.3)
    assert w.hit("n", limit=2, window_seconds=0.4).allowed
    harness.advance(0.15)  # the first hit has left, the second is still in
    result = w.hit("n", limit=2, window_seconds=0.4)
    assert (result.allowed, result.remaining) == (True, 0)
    assert not w.hit("n", limit=2, window_seconds=0.4).allowed


def test_refused_hits_are_not_counted(harness: Harness) -> None:
    w = harness.windows
    assert w.hit("n", limit=1, window_seconds=0.3).allowed
    for _ in range(3):
        assert not w.hit("n", limit=1, window_seconds=0.3).allowed
    harness.advance(0.3)
    assert w.hit("n", limit=1, window_seconds=0.3).allowed


def test_keys_are_independent(harness: Harness) -> None:
    w = harness.windows
    assert w.hit("number:+447700900001", limit=1, window_seconds=60).allowed
    assert w.hit("account:42", limit=1, window_seconds=60).allowed
    assert not w.hit("number:+447700900001", limit=1, window_seconds=60).allowed


@pytest.mark.parametrize(("limit", "window"), [(0, 60.0), (3, 0.0), (3, -1.0), (3, float("inf"))])
def test_impossible_limits_are_refused(harness: Harness, limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        harness.windows.hit("n", limit=limit, window_seconds=window)
