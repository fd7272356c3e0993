"""`switchboard status` on a real redis-server: binds per carrier, queue depths, registered
runs, the sweeper; report writes fail open when Redis is gone."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.cluster import ChildState, RunRecord, RunRegistry, read_cluster, read_runs
from switchboard.embedded import EmbeddedRedis, start_redis
from workers import BindReporter, read_binds
from workers.leader import Holder, RedisSweeperLock


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own, stopped mid-test."""
    server = start_redis(tmp_path / "redis", persist=False)
    yield server
    server.stop()


def test_binds_are_reported_per_carrier_and_age_out(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    clock = [1000.0]
    bound = {"alpha": True, "beta": False}
    one = BindReporter(client, lambda: bound, holder="h1:1", ttl=10, clock=lambda: clock[0])
    two = BindReporter(
        client, lambda: {"alpha": True}, holder="h2:2", ttl=10, clock=lambda: clock[0]
    )
    one.report()
    two.report()
    assert read_binds(client, now=1001) == {"alpha": ["h1:1", "h2:2"]}
    assert read_cluster(client, ["alpha", "beta"]).binds["beta"] == []  # configured, unbound
    bound["alpha"] = False  # h1 lost its bind
    one.report()
    assert read_binds(client, now=1001)["alpha"] == ["h2:2"]
    assert read_binds(client, now=1011)["alpha"] == []  # h2 stopped reporting: aged out
    two.close()
    client.close()


def test_status_counts_queues_and_shows_registered_runs_and_the_sweeper(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    celery = Celery("t", broker=redis_url, set_as_current=False)
    for queue, count in (("otp", 3), ("marketing", 2)):
        for _ in range(count):
            celery.send_task("switchboard.send", args=[[], queue], queue=queue)
    celery.send_task("switchboard.send", args=[[], "otp"], queue="otp", priority=6)
    here = Holder("hostA", 42, "2026-12-01T00:00:00+00:00")
    assert RedisSweeperLock(client).acquire(here, 6.0)[0]
    run = RunRecord(
        "hostA",
        40,
        "2026-12-01T00:00:00+00:00",
        True,
        (
            ChildState("worker-receipts", "receipts", 42, 0, True),
            ChildState("api", "api", 43, 2, True),
        ),
    )
    RunRegistry(client).write(run)
    RunRegistry(client).write(RunRecord("hostB", 7, "2026-12-01T00:00:01+00:00", True))

    state = read_cluster(client)
    assert state.queues == {
        "otp": 4,
        "transactional": 0,
        "marketing": 2,
        "receipts": 0,
        "callbacks": 0,
    }
    assert [r.host for r in state.runs] == ["hostA", "hostB"]
    assert state.beat_run() == run
    text = state.describe()
    assert "hostA run pid 40" in text and "beat: holds the sweeper lock" in text
    assert "hostB run pid 7" in text and "beat: standby" in text
    assert "api                    pid 43       restarts 2" in text
    assert "queues: otp 4, transactional 0, marketing 2" in text

    env = {**os.environ, "SWITCHBOARD_REDIS_URL": redis_url}
    result = CliRunner().invoke(app, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["sweeper"]["holder"] == {"host": "hostA", "pid": 42}
    assert shown["queues"]["otp"] == 4 and len(shown["runs"]) == 2
    client.close()


def test_report_writes_fail_open_when_redis_is_gone(own_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    registry = RunRegistry(client)
    reporter = BindReporter(client, lambda: {"alpha": True}, holder="h:1")
    record = RunRecord("h", 1, "2026-12-01T00:00:00+00:00", True)
    registry.write(record)
    assert read_runs(client) == (record,)
    own_redis.stop()
    registry.write(record)  # neither raises
    reporter.report()
    assert (registry.writes.failures, reporter.writes.failures) == (1, 1)
    client.close()
