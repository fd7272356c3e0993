"""`switchboard run`: one supervisor per host for the API and every kind of worker.

It starts the plan of `switchboard.runconfig` (workers first, the API last), restarts a child
that exits (at most `max_restarts` per child in `restart_window` seconds; past that it stops
everything and exits 1, for the service manager to decide), registers the host in Redis for
`switchboard status`, and on SIGTERM or SIGINT drains in stages (`runconfig.STAGES`): the API
first (no new work), then every worker together (Celery's warm shutdown finishes the running
batches, acks_late returns the rest to the queue; the sweeper releases its lock, so another
host's sweeper takes over at once) — each stage SIGTERM, then SIGKILL of its process group
after `stop_timeout`.

Each child leads a process group of its own (Celery's pool children, the API's processes), so
a stop reaches all of them, and gets SIGTERM from the kernel if the supervisor itself dies
(`PR_SET_PDEATHSIG`): a `kill -9` of the supervisor leaves nothing running. The loop is one
thread on purpose — the death signal follows the thread that forked the child, and
`preexec_fn` is only safe without other threads.

The sweeper ("beat") is the receipts worker's election for the Redis lock (`workers.leader`):
a second `run` elsewhere stands by and takes over within a TTL (~7 s) when the first dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

from switchboard.cluster import HEARTBEAT_SECONDS, ChildState, RunRecord, RunRegistry
from switchboard.runconfig import ChildSpec, SupervisorSection
from switchboard.supervisor import RestartBudget

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A `preexec_fn`: SIGTERM this child when `parent` dies (Linux; elsewhere a no-op)."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def _set() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl took effect
            os._exit(1)

    return _set


@dataclass
class _Child:
    spec: ChildSpec
    budget: RestartBudget
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def state(self) -> ChildState:
        alive = self.process is not None and self.process.poll() is None
        pid = self.process.pid if self.process is not None else None
        return ChildState(self.spec.name, self.spec.role, pid, self.restarts, alive)


@dataclass
class RunSupervisor:
    """Keeps the children of one host running until told to stop."""

    plan: Sequence[ChildSpec]
    policy: SupervisorSection = field(default_factory=SupervisorSection)
    registry: RunRegistry | None = None
    beat: bool = True
    log_dir: Path | None = None  # None: children write to this process's stdout/stderr
    env: dict[str, str] = field(default_factory=dict)
    poll_interval: float = 0.25
    children: list[_Child] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _since: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    _draining: bool = False

    def record(self) -> RunRecord:
        """This run as `switchboard status` shows it."""
        return RunRecord(
            socket.gethostname(),
            os.getpid(),
            self._since,
            self.beat,
            tuple(c.state() for c in self.children),
            "draining" if self._draining else "running",
        )

    def _spawn(self, child: _Child) -> None:
        log_file: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = (self.log_dir / f"{child.spec.name}.log").open("ab")
        try:
            child.process = subprocess.Popen(  # noqa: S603 - our own command lines, no shell
                list(child.spec.args),
                env={**os.environ, **self.env, **child.spec.env},
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT if log_file is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),  # one thread: see the docstring
            )
        finally:
            if log_file is not None:
                log_file.close()
        log.info("%s started (pid %d)", child.spec.name, child.process.pid)

    def run(self) -> int:
        """Start, supervise, drain on a signal: 0 after a requested stop, 1 if children kept
        dying."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        status = 0
        next_heartbeat = 0.0
        try:
            self.children = [
                _Child(spec, RestartBudget(self.policy.max_restarts, self.policy.restart_window))
                for spec in self.plan
            ]
            for child in self.children:
                self._spawn(child)
            while not self._stop.is_set():
                if not self._restart_dead():
                    status = 1
                    break
                now = time.monotonic()
                if self.registry is not None and now >= next_heartbeat:
                    self.registry.write(self.record())
                    next_heartbeat = now + HEARTBEAT_SECONDS
                self._stop.wait(self.poll_interval)
        finally:
            self.drain()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _restart_dead(self) -> bool:
        """Restart each child that exited; False once one exceeded its restart budget."""
        for child in self.children:
            process = child.process
            if process is None or process.poll() is None:
                continue
            name, code = child.spec.name, process.returncode
            if not child.budget.allow(time.monotonic()):
                log.error("%s exited (%s) too often; stopping everything", name, code)
                return False
            log.warning("%s (pid %d) exited (%s); starting it again", name, process.pid, code)
            child.restarts += 1
            self._spawn(child)
        return True

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.warning("signal %d: draining", signum)
        self._stop.set()

    def stop(self) -> None:
        """Ask `run` to drain and return (from another thread)."""
        self._stop.set()

    def drain(self) -> None:
        """Stop every child, stage by stage: SIGTERM, then SIGKILL after `stop_timeout`."""
        self._draining = True
        if self.registry is not None:
            self.registry.write(self.record())
        for stage in sorted({c.spec.stage for c in self.children}):
            group = [c for c in self.children if c.spec.stage == stage]
            for child in group:
                _signal_group(child.process, signal.SIGTERM)
            deadline = time.monotonic() + self.policy.stop_timeout
            for child in group:
                process = child.process
                if process is None:
                    continue
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning(
                        "%s ignored SIGTERM for %.0fs; killing it",
                        child.spec.name,
                        self.policy.stop_timeout,
                    )
                    _signal_group(process, signal.SIGKILL)
                    process.wait()
                # Whatever the child left in its group (a pool child that outlived it) goes too.
                _signal_group(process, signal.SIGKILL, even_if_exited=True)
            log.info("stopped: %s", ", ".join(c.spec.name for c in group))
        if self.registry is not None:
            self.registry.remove(self.record())


def _signal_group(
    process: subprocess.Popen[bytes] | None, sig: int, even_if_exited: bool = False
) -> None:
    if process is None or (process.poll() is not None and not even_if_exited):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


__all__ = ["RunSupervisor"]
