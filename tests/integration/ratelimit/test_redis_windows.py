"""What only the Redis window adapter does: Lua agrees with the model, TTL, failing open."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratelimit import RedisWindowCounters, WindowResult, limits_client
from ratelimit.window_model import hit
from switchboard.embedded import start_redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limit=st.integers(min_value=1, max_value=6),
    span_us=st.integers(min_value=50, max_value=3000),
    keys=st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=30),
)
def test_lua_script_agrees_with_the_pure_model(
    client: redis.Redis, limit: int, span_us: int, keys: list[str]
) -> None:
    # Windows of a few ms, so hits really do leave them between calls.
    windows = RedisWindowCounters(client, prefix=f"sb:test:{uuid.uuid4().hex}:")
    logs: dict[str, tuple[int, ...]] = {"a": (), "b": ()}
    for key in keys:
        decided = windows.hit_timed(key, limit, span_us / 1e6)
        assert decided is not None
        result, now_us = decided
        logs[key], expected = hit(logs[key], now_us, limit, span_us)
        assert result == expected


def test_window_keys_expire_after_one_window(client: redis.Redis) -> None:
    RedisWindowCounters(client).hit("n", limit=3, window_seconds=2)
    assert 0 < client.pttl("sb:win:n") <= 3000
    assert 0 < client.pttl("sb:win:n:seq") <= 3000


def test_redis_down_fails_open_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    conn = limits_client(server.url)
    windows = RedisWindowCounters(conn)
    strict = RedisWindowCounters(conn, fail_open=False, failure_retry_after=2.0)
    try:
        assert windows.hit("n", limit=1, window_seconds=60).allowed
        assert not windows.hit("n", limit=1, window_seconds=60).allowed
    finally:
        server.stop()
    with caplog.at_level(logging.WARNING, logger="ratelimit.windows"):
        opened = windows.hit("n", limit=5, window_seconds=60)
        closed = strict.hit("n", limit=5, window_seconds=60)
    conn.close()
    assert opened == WindowResult(True, 4, 0.0, degraded=True)
    assert closed == WindowResult(False, 0, 2.0, degraded=True)
    assert (windows.failures, strict.failures) == (1, 1)
    assert "failing open" in caplog.text
    assert "failing closed" in caplog.text
