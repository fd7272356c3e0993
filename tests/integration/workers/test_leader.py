"""The sweeper election on a real redis-server: one sweeper, takeover, Redis stopped."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from switchboard.embedded import EmbeddedRedis, start_redis
from switchboard.stack import wait_until
from workers.election import ElectionPolicy
from workers.leader import Holder, RedisSweeperLock, SweeperElection
from workers.sweeper_process import sweeper_client, sweeper_status

# Fast, but in the same proportions as the default (6-s TTL, renewed every 2 s).
POLICY = ElectionPolicy(ttl=0.9, renew_every=0.3, retry_every=0.15, sweep_every=0.1)
_pids = itertools.count(1000)


class Worker:
    """One worker's election and the sweeps it ran."""

    def __init__(self, url: str, name: str, sweeping: list[str], lock: threading.Lock) -> None:
        self.name = name
        self.pid = next(_pids)
        self.sweeps = 0

        def sweep() -> dict[str, int]:
            with lock:
                sweeping.append(name)
                self.sweeps += 1
            return {"stranded": 0}

        self.client = sweeper_client(url)
        self.election = SweeperElection(
            RedisSweeperLock(self.client),
            sweep,
            POLICY,
            holder=lambda: Holder(name, self.pid, "2026-11-23T12:00:00+00:00"),
        )

    def stop(self) -> None:
        """Stop the election (releasing the lock if held) and close its Redis connections: a
        socket left to the garbage collector is a ResourceWarning, an error in whichever later
        test it is collected in."""
        self.election.stop()
        self.client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own: it is stopped and started again mid-test."""
    server = start_redis(tmp_path / "redis", persist=False)
    yield server
    server.stop()


def _workers(url: str, names: str) -> tuple[list[Worker], list[str]]:
    sweeping: list[str] = []
    lock = threading.Lock()
    return [Worker(url, n, sweeping, lock) for n in names.split()], sweeping


def test_one_worker_sweeps_and_another_takes_over_when_it_dies(
    own_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Given three workers in the election, then exactly one sweeps; when it dies (stops
    renewing, no release), another takes the lock within TTL + retry, logs whom it took over
    from, and sweeps; `status` names the new holder."""
    workers, sweeping = _workers(own_redis.url, "a b c")
    caplog.set_level(logging.WARNING, logger="workers.leader")
    for w in workers:
        w.election.start()
    try:
        assert wait_until(lambda: len(sweeping) >= 5, timeout=5, interval=0.05)
        first = sweeping[0]
        assert set(sweeping) == {first}
        status = sweeper_status(own_redis.url)
        assert status.holder is not None and status.holder.host == first
        holder = next(w for w in workers if w.name == first)
        holder.election.stop(release=False)  # as a SIGKILL would: the lock just expires
        swept = len(sweeping)
        assert wait_until(lambda: len(sweeping) > swept, timeout=POLICY.ttl + 2, interval=0.05)
        successor = sweeping[-1]
        assert successor != first and set(sweeping[swept:]) == {successor}
        holder_now = sweeper_status(own_redis.url).holder
        assert holder_now is not None and holder_now.host == successor
        assert any(f"last holder: {first}" in r.getMessage() for r in caplog.records), caplog.text
    finally:
        for w in workers:
            w.stop()
    assert sweeper_status(own_redis.url).holder is None  # released on shutdown


def test_with_redis_down_nobody_sweeps_it_is_counted_and_sweeping_resumes_after(
    own_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails closed: while Redis is stopped no worker can confirm the lock, so sweeps stop
    (at the latest a TTL after the last confirmation), each failed call is counted and the
    outage is logged once; when Redis is back on the same port, one worker sweeps again."""
    workers, sweeping = _workers(own_redis.url, "a b")
    caplog.set_level(logging.WARNING, logger="workers.leader")
    for w in workers:
        w.election.start()
    try:
        assert wait_until(lambda: len(sweeping) >= 3, timeout=5, interval=0.05)
        own_redis.stop()
        assert wait_until(
            lambda: not any(w.election.holding for w in workers), timeout=POLICY.ttl + 1
        )
        during = len(sweeping)
        assert not wait_until(lambda: len(sweeping) > during, timeout=1.0, interval=0.05)
        assert all(w.election.redis_errors > 0 for w in workers)
        down = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(down) == 2  # once per worker, not once per call
        restarted = start_redis(own_redis.directory, port=own_redis.port, persist=False)
        own_redis.process = restarted.process
        assert wait_until(lambda: len(sweeping) > during, timeout=5, interval=0.05)
        assert sum(w.election.holding for w in workers) == 1
        assert any("Redis answers again" in r.getMessage() for r in caplog.records)
    finally:
        for w in workers:
            w.stop()


def test_a_lock_value_someone_else_wrote_is_never_renewed_or_released(
    own_redis: EmbeddedRedis,
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    lock = RedisSweeperLock(client)
    me = Holder("host", 1, "2026-11-23T12:00:00+00:00")
    other = Holder("host", 2, "2026-11-23T12:00:00+00:00")
    try:
        assert lock.acquire(me, 5) == (True, None)
        assert lock.acquire(other, 5) == (False, None)
        assert not lock.renew(other, 5) and not lock.release(other)
        assert lock.release(me)
        assert lock.acquire(other, 5) == (True, me)  # the takeover names the last holder
    finally:
        client.close()
