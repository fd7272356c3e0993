"""The faults a chaos run injects into a started Stack, one per run, as an operator sees them."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from simulators import load_scenario
from switchboard.embedded import Postgres
from switchboard.stack import Stack, WorkerSpec

# How long each fault lasts: a supervisor restarts a killed worker after ~1 s; Redis and
# PostgreSQL come back after 3 s (from their AOF / WAL); a carrier outage lasts 5 s.
WORKER_RESTART_S = 1.0
SERVER_RESTART_S = 3.0
CARRIER_OUTAGE_S = 5.0


class Fault(StrEnum):
    """One fault per run."""

    SEND_WORKER = "send_worker"  # kill -9 the send worker (all its children), restart 1 s later
    RECEIPTS_WORKER = "receipts_worker"  # kill -9 the receipts/callbacks worker, restart 1 s later
    API = "api"  # kill -9 the API, restart 1 s later
    BEAT_HOLDER = "beat_holder"  # kill -9 the worker running beat; never restarted
    REDIS = "redis"  # kill -9 Redis, restart from its AOF 3 s later
    POSTGRES = "postgres"  # pg_ctl stop -m immediate, start 3 s later (PostgreSQL runs only)
    CARRIER_DOWN = "carrier_down"  # the carrier drops every bind and refuses binds for 5 s
    LINK_DROP = "link_drop"  # the carrier closes every connection once, submits in flight


# What "traffic flowing again" means for each fault (a Sample.progress signal; "{carrier}" is
# the faulted carrier): the API's answers when the API died, the faulted carrier's submits when
# a carrier failed (the other carrier kept going), every carrier's submits otherwise.
RECOVERY_SIGNAL: dict[Fault, str] = {
    Fault.API: "answered",
    Fault.CARRIER_DOWN: "submits:{carrier}",
    Fault.LINK_DROP: "submits:{carrier}",
}


@dataclass(frozen=True)
class Injected:
    """When a fault began and ended (monotonic clock), and what was done."""

    started: float
    ended: float
    detail: str


@dataclass(frozen=True)
class FaultTarget:
    """What a fault acts on."""

    stack: Stack
    carrier: str = "alpha"
    postgres: Postgres | None = None

    def worker(self, wanted: Callable[[WorkerSpec], bool], what: str) -> WorkerSpec:
        """The stack's first worker spec `wanted` accepts."""
        for spec in self.stack.workers:
            if wanted(spec):
                return spec
        raise ValueError(f"the stack runs no {what}")

    def simulator_fault(self, **body: object) -> None:
        """POST /faults to the simulator's control endpoint."""
        port = load_scenario(self.stack.simulator_file).control_port
        request = urllib.request.Request(  # always http://127.0.0.1
            f"http://127.0.0.1:{port}/faults",
            data=json.dumps({"carrier": self.carrier, **body}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()


def _is_send(spec: WorkerSpec) -> bool:
    return bool({"otp", "transactional", "marketing"} & set(spec.queues.split(",")))


def _kill_and_restart(target: FaultTarget, spec: WorkerSpec) -> str:
    target.stack.kill_worker(spec.name)
    time.sleep(WORKER_RESTART_S)
    target.stack.start_worker(spec)
    return f"kill -9 {spec.name}, started again {WORKER_RESTART_S:g} s later"


def inject(fault: Fault, target: FaultTarget) -> Injected:
    """Inject `fault` and undo it as its supervisor would; returns when it is over.

    Raises:
        ValueError: the stack lacks what the fault needs (no PostgreSQL, no beat worker).
    """
    stack = target.stack
    started = time.monotonic()
    if fault is Fault.SEND_WORKER:
        detail = _kill_and_restart(target, target.worker(_is_send, "send worker"))
    elif fault is Fault.RECEIPTS_WORKER:
        spec = target.worker(lambda s: "receipts" in s.queues.split(","), "receipts worker")
        detail = _kill_and_restart(target, spec)
    elif fault is Fault.BEAT_HOLDER:
        spec = target.worker(lambda s: s.beat, "beat worker")
        stack.kill_worker(spec.name)
        detail = f"kill -9 {spec.name} (the beat holder), not restarted"
    elif fault is Fault.API:
        stack.kill_api()
        time.sleep(WORKER_RESTART_S)
        stack.start_api()
        detail = f"kill -9 api, started again {WORKER_RESTART_S:g} s later"
    elif fault is Fault.REDIS:
        stack.kill_redis()
        time.sleep(SERVER_RESTART_S)
        stack.restart_redis()
        detail = f"kill -9 redis, started again from its AOF {SERVER_RESTART_S:g} s later"
    elif fault is Fault.POSTGRES:
        if target.postgres is None:
            raise ValueError("the postgres fault needs a PostgreSQL stack")
        target.postgres.halt()
        time.sleep(SERVER_RESTART_S)
        target.postgres.restart()
        detail = f"pg_ctl stop -m immediate, started again {SERVER_RESTART_S:g} s later"
    elif fault is Fault.CARRIER_DOWN:
        target.simulator_fault(mode="down")
        time.sleep(CARRIER_OUTAGE_S)
        target.simulator_fault(mode="normal")
        detail = f"{target.carrier} down for {CARRIER_OUTAGE_S:g} s"
    else:
        target.simulator_fault(drop=True)
        detail = f"{target.carrier} dropped every connection"
    return Injected(started, time.monotonic(), detail)
