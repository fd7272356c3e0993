"""A whole Switchboard on one machine: Redis, simulator, Celery workers, API — as real processes.

Used by `switchboard demo`, the end-to-end tests and `bench/e2e.py`: all three run the same.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from simulators import load_scenario
from store import MessageStore, make_engine, upgrade
from switchboard.embedded import EmbeddedRedis, free_port, start_redis, wait_for_port
from switchboard.processes import ProcessGroup, exit_on_sigterm
from switchboard.runconfig import BULK_NICE, CALLBACK_THREADS
from switchboard.settings import Settings
from switchboard.wiring import utcnow


@dataclass(frozen=True)
class WorkerSpec:
    """One `switchboard worker` process."""

    name: str
    queues: str
    concurrency: int = 1
    # Passes --beat, a no-op now: every worker takes part in the sweeper election.
    beat: bool = False
    nice: int = 0
    pool: str = "prefork"


DEFAULT_WORKERS = (
    WorkerSpec("worker-otp", "otp,transactional", 1),
    WorkerSpec("worker-marketing", "marketing", 1, nice=BULK_NICE),
    WorkerSpec("worker-receipts", "receipts", 1, beat=True, nice=BULK_NICE),
    WorkerSpec("worker-callbacks", "callbacks", CALLBACK_THREADS, nice=BULK_NICE, pool="threads"),
)


@dataclass
class Stack:
    """Starts every part, in order, and stops them all, whatever happened."""

    var_dir: Path
    routes_file: Path
    simulator_file: Path
    database_url: str = ""
    redis_url: str = ""
    workers: tuple[WorkerSpec, ...] = DEFAULT_WORKERS
    fresh: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = 0
    api_processes: int = 1  # `switchboard api --processes N`: N processes share api_port
    api_key: str = ""
    # `switchboard run` starts and supervises the API and the workers (its machine defaults,
    # `api_processes` API processes) instead of one child per WorkerSpec: the demo does.
    supervised: bool = False
    # Random per stack: the processes refuse the development defaults (wiring.require_secrets).
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    otp_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    _redis: EmbeddedRedis | None = None
    _group: ProcessGroup | None = None
    _store: MessageStore | None = None
    _metrics_ports: dict[str, int] = field(default_factory=dict)
    _sigterm: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def api_url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def store(self) -> MessageStore:
        """A store over the stack's database (for reports and assertions)."""
        assert self._store is not None, "stack not started"
        return self._store

    @property
    def group(self) -> ProcessGroup:
        """The child processes."""
        assert self._group is not None, "stack not started"
        return self._group

    def start(self) -> Stack:
        """Start Redis (embedded unless given), migrate, make a key, start the processes."""
        if self.fresh and self.var_dir.exists():
            shutil.rmtree(self.var_dir)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.redis_url:
            self._redis = start_redis(self.var_dir / "redis")
            self.redis_url = self._redis.url
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'switchboard.db'}"
        upgrade(self.database_url)
        self._store = MessageStore(make_engine(self.database_url))
        self.api_key = self._store.create_api_key("demo", utcnow())
        self.api_port = self.api_port or free_port()
        env = {
            "SWITCHBOARD_VAR_DIR": str(self.var_dir),
            "SWITCHBOARD_DATABASE_URL": self.database_url,
            "SWITCHBOARD_REDIS_URL": self.redis_url,
            "SWITCHBOARD_ROUTES_FILE": str(self.routes_file),
            "SWITCHBOARD_SIMULATOR_FILE": str(self.simulator_file),
            "PYTHONUNBUFFERED": "1",
            # demo, bench and e2e callbacks go to a receiver on this host (SSRF guard allow-list)
            "SWITCHBOARD_CALLBACK_ALLOW_PRIVATE": "127.0.0.1/32",
            "SWITCHBOARD_SECRET_KEY": self.secret_key,
            "SWITCHBOARD_OTP_SECRET": self.otp_secret,
            **self.extra_env,
        }
        self._group = ProcessGroup(self.var_dir / "logs", env)
        try:
            self._start_children()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_children(self) -> None:
        scenario = load_scenario(self.simulator_file)
        self.group.python("simulator", "simulators", "--scenario", str(self.simulator_file))
        for carrier in scenario.carriers:
            wait_for_port(carrier.port, timeout=20)
        if scenario.control_port:
            wait_for_port(scenario.control_port, timeout=20)
        if self.supervised:
            self.start_run()
        else:
            for spec in self.workers:
                self.start_worker(spec)
            self.start_api()
        dead = self.group.check_alive()
        if dead:
            raise RuntimeError(f"processes exited at start: {dead}; see {self.var_dir / 'logs'}")

    def start_api(self) -> None:
        """Start the API process (again after :meth:`kill_api`) and wait until it listens."""
        self.group.python(
            "api",
            "switchboard",
            "api",
            *("--port", str(self.api_port), "--processes", str(self.api_processes)),
        )
        wait_for_port(self.api_port, timeout=30)

    def start_run(self) -> None:
        """Start `switchboard run` (workers and API under its supervisor); wait for the API."""
        config = self.var_dir / "switchboard.toml"
        config.write_text(
            f"[api]\nprocesses = {self.api_processes}\n[supervisor]\nstop_timeout = 10\n"
        )
        args = ["run", "--config", str(config), "--log-dir", str(self.var_dir / "logs")]
        env = {"SWITCHBOARD_API_PORT": str(self.api_port)}
        self.group.start("run", [sys.executable, "-m", "switchboard", *args], extra_env=env)
        wait_for_port(self.api_port, timeout=60)

    def kill_api(self) -> None:
        """SIGKILL the API, as a crash would."""
        self.group.kill("api")

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker (and its pool children), as a crash would."""
        self.group.kill(name)

    def terminate_worker(self, name: str, timeout: float = 30.0) -> int | None:
        """SIGTERM a worker's main process only, as an operator stopping it would (Celery's
        warm shutdown: no new tasks, the running ones finish, then each pool child closes its
        sessions); its exit code, or None if it did not exit within `timeout`."""
        for n, process in self.group.processes:
            if n == name and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    return process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    return None
        return None

    def start_worker(self, spec: WorkerSpec) -> None:
        """Start one more worker process (e.g. after a crash)."""
        args = ["worker", "--queues", spec.queues, "--concurrency", str(spec.concurrency)]
        args += ["--nice", str(spec.nice)] if spec.nice else []
        args += ["--pool", spec.pool] if spec.pool != "prefork" else []
        args += ["--metrics-port", str(self.metrics_port(spec.name))]
        self.group.python(spec.name, "switchboard", *([*args, "--beat"] if spec.beat else args))

    def metrics_port(self, worker: str) -> int:
        """The /metrics port of a worker (a free port, kept across its restarts)."""
        return self._metrics_ports.setdefault(worker, free_port())

    def worker_metrics_url(self, worker: str) -> str:
        """Where a worker serves its /metrics."""
        return f"http://127.0.0.1:{self.metrics_port(worker)}/metrics"

    @property
    def redis_pid(self) -> int | None:
        """The embedded redis-server's pid (None when Redis is not ours)."""
        return self._redis.process.pid if self._redis is not None else None

    def kill_redis(self) -> None:
        """SIGKILL the embedded Redis, as a crash would (its AOF stays on disk)."""
        assert self._redis is not None, "Redis is not embedded in this stack"
        self._redis.process.kill()
        self._redis.process.wait()

    def restart_redis(self) -> None:
        """Start the embedded Redis again on the same port, from its AOF."""
        assert self._redis is not None, "Redis is not embedded in this stack"
        self._redis = start_redis(self._redis.directory, port=self._redis.port)

    def simulator_stats(self) -> dict[str, Any]:
        """GET /stats of the simulator's control endpoint."""
        scenario = load_scenario(self.simulator_file)
        url = f"http://127.0.0.1:{scenario.control_port}/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def stop(self) -> None:
        """Stop children, then Redis; leaves var_dir for post-mortems."""
        if self._group is not None:
            self._group.stop()
        if self._store is not None:
            self._store.engine.dispose()
        if self._redis is not None:
            self._redis.stop()
            self._redis = None

    def __enter__(self) -> Stack:
        self._sigterm.enter_context(exit_on_sigterm())  # a `kill` stops the stack, too
        try:
            return self.start()
        except BaseException:  # a part failed to come up: stop those that did
            try:
                self.stop()
            finally:
                self._sigterm.close()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._sigterm.close()


def random_secrets_env() -> dict[str, str]:
    """Fresh random SWITCHBOARD_SECRET_KEY and SWITCHBOARD_OTP_SECRET, for processes a test or a
    bench starts (they refuse the development defaults)."""
    return {
        "SWITCHBOARD_SECRET_KEY": secrets.token_urlsafe(32),
        "SWITCHBOARD_OTP_SECRET": secrets.token_urlsafe(32),
    }


def stack_from_settings(
    settings: Settings, var_dir: Path | None = None, supervised: bool = False
) -> Stack:
    """A Stack for the configured files and servers (empty URLs = embedded defaults)."""
    stack = Stack(
        supervised=supervised,
        var_dir=var_dir or settings.var_dir / "demo",
        routes_file=settings.routes_file,
        simulator_file=settings.simulator_file,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
    )
    if not settings.secret_problems():  # the operator's own secrets, when they are fit to use
        stack.secret_key, stack.otp_secret = settings.secret_key, settings.otp_secret
    return stack


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> bool:
    """Poll `predicate()` until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


__all__ = [
    "BULK_NICE",
    "CALLBACK_THREADS",
    "DEFAULT_WORKERS",
    "Stack",
    "WorkerSpec",
    "stack_from_settings",
    "wait_until",
]
