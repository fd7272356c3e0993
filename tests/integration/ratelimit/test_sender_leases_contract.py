"""One contract for both sender-tenure adapters: Redis (a real redis-server) and the memory twin.

Redis's clock cannot be frozen: the Redis run lets real time pass where the memory run moves a
fake clock, and tenures are long enough that a slow test step does not end one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from ratelimit import MemorySenderLeases, RedisSenderLeases, SenderLeases, Tenure, limits_client
from switchboard.embedded import start_redis
from tests.fakes import FakeClock

TTL, GUARD = 0.5, 0.05


@dataclass
class Harness:
    """Tenures under test and a way to let time pass for them."""

    senders: SenderLeases
    advance: Callable[[float], None]


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = FakeClock(1_000.0)
        yield Harness(MemorySenderLeases(clock), clock.advance)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield Harness(RedisSenderLeases(client), time.sleep)
    client.close()


def _hold(harness: Harness, holder: str, key: str = "alpha") -> Tenure:
    tenure = harness.senders.hold(key, holder, TTL, GUARD)
    assert tenure is not None
    return tenure


def test_one_holder_at_a_time_and_it_renews(harness: Harness) -> None:
    first = _hold(harness, "a")
    assert first.held and first.start_us == first.now_us
    assert first.until_us == first.now_us + round(TTL * 1e6)
    other = _hold(harness, "b")
    assert not other.held and other.until_us == first.until_us  # when a's tenure ends
    harness.advance(0.01)
    renewed = _hold(harness, "a")
    assert renewed.held and renewed.until_us > first.until_us
    assert _hold(harness, "a", key="beta").held  # lanes are apart


def test_a_hand_over_waits_the_guard_after_the_release(harness: Harness) -> None:
    _hold(harness, "a")
    harness.senders.release("alpha", "a", GUARD)
    taken = _hold(harness, "b")
    assert taken.held
    # b's first PDU goes no sooner than GUARD after a gave the lane back.
    # (Redis: less the milliseconds between the two calls.)
    assert round(GUARD * 1e6) - 10_000 < taken.start_us - taken.now_us <= round(GUARD * 1e6)
    harness.advance(GUARD + 0.005)
    later = _hold(harness, "b")
    assert later.held and later.start_us == later.now_us


def test_a_lapsed_tenure_passes_on_a_guard_after_its_end(harness: Harness) -> None:
    first = _hold(harness, "a")
    harness.advance(TTL + 0.01)
    taken = _hold(harness, "b")
    assert taken.held
    assert taken.start_us == max(taken.now_us, first.until_us + round(GUARD * 1e6))
    assert not _hold(harness, "a").held  # the lapsed holder is refused now


def test_a_release_by_who_does_not_hold_changes_nothing(harness: Harness) -> None:
    first = _hold(harness, "a")
    harness.senders.release("alpha", "b", GUARD)
    refused = _hold(harness, "b")
    assert not refused.held and refused.until_us == first.until_us


def test_redis_down_fails_closed_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    conn = limits_client(server.url)
    senders = RedisSenderLeases(conn)
    try:
        assert _hold(Harness(senders, time.sleep), "a").held
    finally:
        server.stop()
    with caplog.at_level(logging.WARNING, logger="ratelimit.sender_lease"):
        assert senders.hold("alpha", "a", TTL, GUARD) is None  # no tenure: no send
        senders.release("alpha", "a", GUARD)
    conn.close()
    assert senders.failures == 2
    assert caplog.text.count("failing closed") == 2
