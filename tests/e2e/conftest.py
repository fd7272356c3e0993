"""End-to-end fixtures: a whole stack of real processes on free ports, per test (on each
backend: `database_url` is in tests/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.embedded import free_port
from switchboard.stack import Stack, WorkerSpec
from tests.callback_receiver import CallbackReceiver

SIMULATOR = """
seed = 7
control_port = {control}
audit_path = "{audit}"

[[carriers]]
name = "alpha"
port = {alpha}
system_id = "alpha"
password = "alphapw"
max_binds = {alpha_max_binds}
mps = {alpha_mps}
receipt_delay_ms = {{ min = 20, max = 100 }}
undelivered_share = {undelivered}
message_id_format = "hex"

[[carriers]]
name = "beta"
port = {beta}
system_id = "beta"
password = "betapw"
max_binds = 8
mps = {beta_mps}
receipt_delay_ms = {{ min = 20, max = 100 }}
undelivered_share = {undelivered}
message_id_format = "decimal"
"""

ROUTES = """
[carriers.alpha]
host = "127.0.0.1"
port = {alpha}
system_id = "alpha"
password = "alphapw"
mps = {alpha_mps}
window = 10
{alpha_extra}

[carriers.beta]
host = "127.0.0.1"
port = {beta}
system_id = "beta"
password = "betapw"
mps = {beta_mps}
window = 10

[prices.alpha]
currency = "EUR"
"+44" = 0.030
"+33" = 0.060
"+49" = 0.055
"+1" = 0.012

[prices.beta]
currency = "EUR"
"+44" = 0.035
"+33" = 0.050
"+49" = 0.060
"+1" = 0.010

[[routes]]
name = "default"
strategy = "{strategy}"
carriers = {carriers}
{route_extra}
"""

StackFactory = Callable[..., Stack]
# Callback retries in a second or so, so an outage test is quick.
QUICK_RETRY = {
    "SWITCHBOARD_CALLBACK_RETRY_FIRST": "0.2",
    "SWITCHBOARD_CALLBACK_RETRY_MAX": "1.0",
    "SWITCHBOARD_CALLBACK_TIMEOUT": "5",
}


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    """A callback receiver on 127.0.0.1, stopped at teardown."""
    server = CallbackReceiver().start()
    yield server
    server.stop()


def api_call(
    stack: Stack, method: str, path: str, body: Any = None, key: str | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON body) of one API request with the stack's key (or `key`); errors
    too."""
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        stack.api_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {key or stack.api_key}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def logged_secrets(stack: Stack, secrets: dict[str, str]) -> list[str]:
    """Lines of the stack's own process logs (API, workers; not the simulated carriers', who
    receive the SMS text as a real carrier would) that hold one of `secrets`: "name: line"."""
    found = []
    logs = [p for p in sorted((stack.var_dir / "logs").glob("*.log")) if p.stem != "simulator"]
    assert any(p.stem == "api" for p in logs) and any(p.stem.startswith("worker") for p in logs)
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            found += [f"{name} in {log.name}: {line}" for name, v in secrets.items() if v in line]
    return found


def kill_and_stop(stack: Stack) -> None:
    """Stop a stack at teardown: SIGKILL its processes first, then `stop` (Redis, engine).

    Nothing is checked once the test is over, and the graceful stop of every worker costs 3-6 s
    a test; graceful stops are tested where they are the point (test_binds, test_run,
    tests/integration/test_api_processes.py). A supervised stack keeps its SIGTERM: its
    children may be in sessions of their own, out of reach of the group's SIGKILL.
    """
    if not stack.supervised:
        with contextlib.suppress(AssertionError):  # its start failed before any process
            for name, _ in list(stack.group.processes):
                stack.group.kill(name)
    stack.stop()


@pytest.fixture
def make_stack(tmp_path: Path, database_url: str) -> Iterator[StackFactory]:
    """Build and start a stack; every one started is stopped at teardown."""
    started: list[Stack] = []

    def factory(
        alpha_mps: int = 500,
        beta_mps: int = 500,
        undelivered: float = 0.1,
        strategy: str = "least_cost",
        carriers: str = '["alpha", "beta"]',
        workers: tuple[WorkerSpec, ...] | None = None,
        env: dict[str, str] | None = None,
        api_processes: int = 1,
        extra_routes: str = "",
        route_extra: str = "",
        alpha_max_binds: int = 8,
        alpha_extra: str = "",
        supervised: bool = False,
    ) -> Stack:
        ports = {"alpha": free_port(), "beta": free_port(), "control": free_port()}
        values = {
            **ports,
            "alpha_mps": alpha_mps,
            "beta_mps": beta_mps,
            "undelivered": undelivered,
            "strategy": strategy,
            "carriers": carriers,
            "audit": tmp_path / "audit.jsonl",
            "alpha_max_binds": alpha_max_binds,
            "alpha_extra": alpha_extra,
            "route_extra": route_extra,  # more keys of the default route
        }
        (tmp_path / "simulator.toml").write_text(SIMULATOR.format(**values))
        (tmp_path / "routes.toml").write_text(ROUTES.format(**values) + extra_routes)
        stack = Stack(
            var_dir=tmp_path / "var",
            routes_file=tmp_path / "routes.toml",
            simulator_file=tmp_path / "simulator.toml",
            database_url=database_url,
            workers=workers
            or (
                WorkerSpec("worker-send", "otp,transactional,marketing", 1),
                WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True),
            ),
            extra_env={"SWITCHBOARD_SWEEP_INTERVAL": "0.5", **(env or {})},
            api_processes=api_processes,
            supervised=supervised,
        )
        started.append(stack)
        return stack.start()

    yield factory
    for stack in started:
        kill_and_stop(stack)
