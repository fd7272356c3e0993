"""Two API processes' limits shared through Redis; Redis down: each limits alone (fail open)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis

from ratelimit import RedisWindowSync, SharedWindows, limits_client
from switchboard.embedded import start_redis
from tests.fakes import FakeClock


def test_hits_of_two_processes_add_up_after_a_sync(redis_url: str) -> None:
    clock = FakeClock(10_000.2)
    first, second = SharedWindows(clock), SharedWindows(clock)
    client = redis.Redis.from_url(redis_url)
    syncs = [RedisWindowSync(first, client), RedisWindowSync(second, client)]
    assert all(first.hit("a:acme", 10).allowed for _ in range(6))
    assert all(second.hit("a:acme", 10).allowed for _ in range(4))
    assert all(s.sync() for s in syncs)
    assert syncs[0].sync()  # the first learns the second's four too
    assert not first.hit("a:acme", 10).allowed
    assert not second.hit("a:acme", 10).allowed
    assert client.keys("*acme*") == [b"sb:rate:a:acme:10000"]  # the key, never an API key
    client.close()


def test_redis_down_each_process_limits_on_its_own_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    client = limits_client(server.url)
    windows = SharedWindows(FakeClock(20_000.0))
    sync = RedisWindowSync(windows, client)
    assert windows.hit("k", 3).allowed and sync.sync()
    server.stop()
    with caplog.at_level(logging.WARNING, logger="ratelimit.shared_windows"):
        assert windows.hit("k", 3).allowed
        assert not sync.sync() and not sync.sync()
    assert sync.failures == 2
    assert caplog.text.count("Redis unreachable") == 1  # once per outage
    assert windows.hit("k", 3).allowed  # three so far: still limited, on local counts
    assert not windows.hit("k", 3).allowed
    client.close()
