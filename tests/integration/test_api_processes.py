"""`switchboard api --processes 2`: two processes answer on one port; SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from switchboard.embedded import free_port, wait_for_port
from switchboard.stack import random_secrets_env, wait_until
from tests.procs import alive, parent_of

ROOT = Path(__file__).resolve().parents[2]


def _health_pid(port: int) -> set[int]:
    """The pid of the process that answered /health, on a new connection (SO_REUSEPORT spreads
    connections, not requests); none when the connection was lost to a process killed."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - 127.0.0.1
            return {int(json.loads(response.read())["pid"])}
    except OSError:
        return set()


def test_two_processes_share_the_port_a_dead_one_is_replaced_and_sigterm_stops_all(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_VAR_DIR": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "SWITCHBOARD_REDIS_URL": redis_url,
        **random_secrets_env(),
    }
    args = [sys.executable, "-m", "switchboard", "api", "--port", str(port), "--processes", "2"]
    with subprocess.Popen(  # noqa: S603
        args, env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL
    ) as parent:
        try:
            wait_for_port(port, timeout=30)
            pids: set[int] = set()

            def both_answered() -> bool:
                pids.update(_health_pid(port))
                return len(pids) == 2

            assert wait_until(both_answered, timeout=30, interval=0.01), pids
            assert {parent_of(pid) for pid in pids} == {parent.pid}

            os.kill(min(pids), signal.SIGKILL)
            answered: set[int] = set()

            def replaced() -> bool:
                answered.update(_health_pid(port))
                return bool(answered - pids)

            assert wait_until(replaced, timeout=30, interval=0.05), answered
            replacement = (answered - pids).pop()
            assert parent_of(replacement) == parent.pid

            parent.send_signal(signal.SIGTERM)
            assert parent.wait(timeout=30) == 0
        finally:
            if parent.poll() is None:
                os.killpg(parent.pid, signal.SIGKILL)
    assert not any(alive(pid) for pid in (*pids, replacement))


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_refuse_to_start_on_the_development_secrets(
    tmp_path: Path, redis_url: str, command: str
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SWITCHBOARD_SECRET_KEY", "SWITCHBOARD_OTP_SECRET"}
    }
    env |= {
        "SWITCHBOARD_VAR_DIR": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "SWITCHBOARD_REDIS_URL": redis_url,
    }
    started = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "switchboard", command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 1
    assert "refusing to start: SWITCHBOARD_SECRET_KEY is the development default" in started.stderr
    assert not (tmp_path / "api.db").exists()  # nothing was done first
