"""`config/switchboard.toml`: how many of each process `switchboard run` keeps on this host.

Every key is optional; a missing one takes a default sized to the machine
(:func:`machine_defaults`), so an empty file (or none) runs a sensible host. Counts may be 0:
an API-only host sets every worker to 0, a worker host sets `api.processes = 0`. The file is
read with the other operator files' loader, so a mistake reads
`config/switchboard.toml:7: workers.otp.concurrency: must be > 0`.

The plan (:func:`process_plan`) is pure: the same file and CPU count give the same commands.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from messaging.configfile import load_model

# Niceness of the bulk (marketing), receipts and callbacks workers: OTP work first when CPU is
# short. bench/otp_latency.py, 100k backlog on PostgreSQL: nice 10 → OTP p99 18.6 ms, drain
# 426/s; nice 5 → p99 15.7 ms, drain 483/s (one run each; noisy, but 5 gave up nothing).
BULK_NICE = 5

# Callbacks have a worker of their own: a task waits on its clients' receivers (a slow one up
# to the POST timeout), and reconciling receipts must not wait behind it. Threads, not
# processes: the tasks share one keep-alive HTTP client and spend their time waiting on it.
CALLBACK_THREADS = 4


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSection(_Frozen):
    """`[api]`: API processes sharing the port (SO_REUSEPORT); 0 = no API on this host."""

    processes: int | None = Field(default=None, ge=0, le=64)


class WorkerSection(_Frozen):
    """`[workers.<kind>]`: Celery worker processes of one kind and the pool of each."""

    processes: int | None = Field(default=None, ge=0, le=32)
    concurrency: int | None = Field(default=None, gt=0, le=256)


class WorkersSection(_Frozen):
    """`[workers]`: one table per kind of worker."""

    otp: WorkerSection = WorkerSection()
    marketing: WorkerSection = WorkerSection()
    receipts: WorkerSection = WorkerSection()
    callbacks: WorkerSection = WorkerSection()


class BeatSection(_Frozen):
    """`[beat]`: whether this host stands for the sweeper lock (one host of all sweeps)."""

    enabled: bool = True


class SupervisorSection(_Frozen):
    """`[supervisor]`: restarts and the drain on SIGTERM."""

    max_restarts: int = Field(default=5, ge=0)
    restart_window: float = Field(default=60.0, gt=0)
    stop_timeout: float = Field(default=30.0, gt=0)


class MetricsSection(_Frozen):
    """`[metrics]`: a hook for the metrics port (issue 15 item 3); 0 = none.

    `switchboard run` passes `SWITCHBOARD_METRICS_PORT` to every child (each worker child
    `port + n`, the API `port`); nothing here serves metrics.
    """

    port: int = Field(default=0, ge=0, le=65535)


class RunConfig(_Frozen):
    """The whole file."""

    api: ApiSection = ApiSection()
    workers: WorkersSection = WorkersSection()
    beat: BeatSection = BeatSection()
    supervisor: SupervisorSection = SupervisorSection()
    metrics: MetricsSection = MetricsSection()


def load_run_config(path: Path | None) -> RunConfig:
    """The run config from `path`, or all defaults when `path` is None or absent.

    Raises:
        ConfigError: every problem of the file, each as `file:line: key: reason`.
    """
    if path is None or not path.exists():
        return RunConfig()
    return load_model(path, RunConfig)


@dataclass(frozen=True)
class WorkerKind:
    """What one kind of worker consumes and how it runs."""

    queues: str
    nice: int = 0
    pool: str = "prefork"


WORKER_KINDS: dict[str, WorkerKind] = {
    "otp": WorkerKind("otp,transactional"),
    "marketing": WorkerKind("marketing", nice=BULK_NICE),
    "receipts": WorkerKind("receipts", nice=BULK_NICE),
    "callbacks": WorkerKind("callbacks", nice=BULK_NICE, pool="threads"),
}


def machine_defaults(cpus: int) -> dict[str, tuple[int, int]]:
    """(processes, concurrency) of each role on a machine with `cpus` cores.

    One API process per two cores (at least one; each is an event loop that fills a core under
    load); one OTP and one marketing worker with a pool child per two cores (each child holds
    one bind per carrier, so binds per host grow with it — cap them with the carrier's
    `max_binds`); one receipts worker, which also stands for the sweeper lock; one callbacks
    worker of `CALLBACK_THREADS` threads (they wait on HTTP, not on the CPU).
    """
    half = max(1, cpus // 2)
    return {
        "api": (min(half, 8), 1),
        "otp": (1, half),
        "marketing": (1, half),
        "receipts": (1, 1),
        "callbacks": (1, CALLBACK_THREADS),
    }


@dataclass(frozen=True)
class ChildSpec:
    """One supervised child: its name, role, command line and extra environment."""

    name: str
    role: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    stage: int = 0  # SIGTERM stops stage 0 first (the API: no new work), then 1, 2, …


# Stop order on SIGTERM: the API first (no new messages reach this host), then every worker
# at once — their batches finish (Celery's warm shutdown; acks_late returns the rest to the
# queue), the sweeper releases its lock so another host sweeps at once. The workers hand work
# to one another only through the database and Redis, so none needs another to drain.
STAGES = {"api": 0, "otp": 1, "marketing": 1, "receipts": 1, "callbacks": 1}


def process_plan(config: RunConfig, cpus: int, python: str = sys.executable) -> list[ChildSpec]:
    """The children of one `switchboard run`, in start order (workers first, the API last)."""
    defaults = machine_defaults(cpus)
    metrics_port = config.metrics.port
    children: list[ChildSpec] = []
    for kind, spec in WORKER_KINDS.items():
        section: WorkerSection = getattr(config.workers, kind)
        processes = defaults[kind][0] if section.processes is None else section.processes
        concurrency = section.concurrency or defaults[kind][1]
        for n in range(processes):
            args = [python, "-m", "switchboard", "worker", "--queues", spec.queues]
            args += ["--concurrency", str(concurrency), "--pool", spec.pool]
            args += ["--nice", str(spec.nice)] if spec.nice else []
            beat = kind == "receipts" and config.beat.enabled
            args.append("--sweeper" if beat else "--no-sweeper")
            env = {}
            if metrics_port:
                env["SWITCHBOARD_METRICS_PORT"] = str(metrics_port + 1 + len(children))
            name = f"worker-{kind}" + (f"-{n + 1}" if processes > 1 else "")
            children.append(ChildSpec(name, kind, tuple(args), env, STAGES[kind]))
    api_processes = defaults["api"][0] if config.api.processes is None else config.api.processes
    if api_processes:
        args = [python, "-m", "switchboard", "api", "--processes", str(api_processes)]
        env = {"SWITCHBOARD_METRICS_PORT": str(metrics_port)} if metrics_port else {}
        children.append(ChildSpec("api", "api", tuple(args), env, STAGES["api"]))
    return children


__all__ = [
    "BULK_NICE",
    "CALLBACK_THREADS",
    "STAGES",
    "WORKER_KINDS",
    "ChildSpec",
    "RunConfig",
    "load_run_config",
    "machine_defaults",
    "process_plan",
]
