"""`switchboard run` on this machine: everything under one supervisor, 500 messages of the three
classes delivered (the count issue 15 asks for), SIGTERM leaves no process behind (checked by
pid), and the sweeper ("beat") moves to a second run only when the first is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from switchboard.cluster import QUEUES, read_cluster, read_runs
from switchboard.load import send_all
from switchboard.processes import ProcessGroup
from switchboard.stack import random_secrets_env, wait_until
from tests.e2e.conftest import StackFactory
from tests.procs import alive, descendants
from workers import RedisSweeperLock

FINAL = {"delivered", "undelivered", "expired", "failed", "rejected", "canceled"}
CLASSES = ("otp", "transactional", "marketing")
MESSAGES = 500  # issue 15's acceptance test: 500 messages delivered under one supervisor
ROLES = {"api", "otp", "marketing", "receipts", "callbacks"}


def test_run_delivers_500_messages_of_every_class_and_sigterm_stops_every_child(
    make_stack: StackFactory,
) -> None:
    logs = {"SWITCHBOARD_LOG_FORMAT": "json", "SWITCHBOARD_LOG_STATE_CHANGES": "true"}
    stack = make_stack(undelivered=0.0, supervised=True, env=logs)
    run = stack.group.processes[-1][1]
    client = redis.Redis.from_url(stack.redis_url)

    def all_up() -> bool:
        runs = read_runs(client)
        return len(runs) == 1 and {c.role for c in runs[0].children if c.alive} == ROLES

    assert wait_until(all_up, timeout=30), read_runs(client)
    assert read_runs(client)[0].pid == run.pid

    bodies = [
        {"to": f"+4474003{n:05d}", "body": f"run {n}", "class": CLASSES[n % 3]}
        for n in range(MESSAGES)
    ]
    sent = asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=32))
    assert len(sent.accepted) == MESSAGES, sent.errors

    def final() -> bool:
        counts = stack.store.status_counts(sent.accepted)
        return sum(n for s, n in counts.items() if s in FINAL) == MESSAGES

    assert wait_until(final, timeout=90), stack.store.status_counts(sent.accepted)
    assert stack.store.status_counts(sent.accepted) == {"delivered": MESSAGES}

    tree = descendants(run.pid)

    # Both send workers bind both carriers (at start), each reported within its interval.
    def two_binds_each() -> bool:
        binds = read_cluster(client).binds
        return binds.keys() == {"alpha", "beta"} and all(len(h) == 2 for h in binds.values())

    assert wait_until(two_binds_each, timeout=30), read_cluster(client).binds
    state = read_cluster(client)
    assert state.beat_run() == state.runs[0]  # its receipts worker holds the sweeper lock
    for holders in state.binds.values():
        assert {int(h.rsplit(":", 1)[1]) for h in holders} <= tree
    assert set(state.queues) == set(QUEUES)
    assert "binds per carrier:" in state.describe()

    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 0
    assert wait_until(lambda: not any(alive(pid) for pid in tree), timeout=10), [
        pid for pid in tree if alive(pid)
    ]
    assert read_runs(client) == ()  # left the registry
    assert RedisSweeperLock(client).status().holder is None  # released, not left to expire
    client.close()
    _check_json_logs(stack.var_dir / "logs", set(sent.accepted))


def _check_json_logs(log_dir: Path, ids: set[str]) -> None:
    """Every worker logged JSON; one state-change line per send and per receipt; no secret."""
    lines = [
        json.loads(line)
        for name in ("worker-otp", "worker-marketing", "worker-receipts")
        for line in (log_dir / f"{name}.log").read_text().splitlines()
        if line.startswith("{")  # Celery's start banner is printed, not logged
    ]
    changes = [x for x in lines if x.get("event") == "status_change"]
    assert {(x["message_id"], x["status"]) for x in changes} == {
        (i, s) for i in ids for s in ("sent", "delivered")
    }
    assert all(x["carrier"] in {"alpha", "beta"} for x in changes if x["status"] == "sent")
    text = "".join((log_dir / f).read_text() for f in os.listdir(log_dir))
    assert "alphapw" not in text and "betapw" not in text


BEAT_ONLY = """
[api]
processes = 0
[workers.otp]
processes = 0
[workers.marketing]
processes = 0
[workers.callbacks]
processes = 0
"""


def _start_run(group: ProcessGroup, name: str, config: Path) -> subprocess.Popen[bytes]:
    args = ["run", "--config", str(config), "--log-dir", str(group.log_dir / name)]
    return group.start(name, [sys.executable, "-m", "switchboard", *args])


def test_a_second_run_sweeps_only_once_the_first_is_killed(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(BEAT_ONLY)
    env = {
        "SWITCHBOARD_VAR_DIR": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "SWITCHBOARD_REDIS_URL": redis_url,
        "SWITCHBOARD_SWEEP_INTERVAL": "0.5",
        **random_secrets_env(),  # the processes refuse the development defaults
    }
    client = redis.Redis.from_url(redis_url)
    lock = RedisSweeperLock(client)

    def holder_pid() -> int | None:
        holder = lock.status().holder
        return holder.pid if holder else None

    with ProcessGroup(tmp_path / "logs", env) as group:
        first = _start_run(group, "first", config)
        assert wait_until(lambda: holder_pid() in descendants(first.pid), timeout=30)
        first_beat = holder_pid()
        second = _start_run(group, "second", config)

        def second_standing_by() -> bool:
            runs = {r.pid: r for r in read_runs(client)}
            return second.pid in runs and all(c.alive for c in runs[second.pid].children)

        assert wait_until(second_standing_by, timeout=30)
        time.sleep(1.0)  # the second's election has asked for the lock (every second) by now
        deadline = time.monotonic() + 4.0  # two renewals of the first
        while time.monotonic() < deadline:
            assert holder_pid() == first_beat
            time.sleep(0.2)
        last = lock.status().last_sweep
        assert last is not None and f"pid {first_beat} " in last["holder"]

        doomed = descendants(first.pid) | {first.pid}
        for pid in doomed:  # the host dies: nobody releases the lock, it must expire
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_until(lambda: holder_pid() in descendants(second.pid), timeout=20)
        print(f"beat taken over {time.monotonic() - killed:.1f} s after the first run died")
        assert wait_until(
            lambda: f"pid {holder_pid()} " in (lock.status().last_sweep or {}).get("holder", ""),
            timeout=30,
        )
    client.close()
