"""Several API processes on one port: SO_REUSEPORT children under one supervising parent.

`switchboard api --processes N` starts N `switchboard api --reuse-port` children; the kernel
spreads incoming connections over the sockets bound to the port (Linux SO_REUSEPORT), and each
child has its own event loop, engine and group committer, so N processes use N cores where one
was bound to one. The parent restarts a child that dies (at most `max_restarts` in
`restart_window` seconds, then it gives up and stops them all), and on SIGTERM or SIGINT stops
every child: SIGTERM, then SIGKILL after `stop_timeout`. Children watch their parent and stop if
it disappears (SIGKILL leaves no time to stop them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)


@dataclass
class RestartBudget:
    """At most `max_restarts` restarts in any `window` seconds (times on a clock passed in)."""

    max_restarts: int = 5
    window: float = 60.0
    _times: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> bool:
        """Whether a restart at `now` is within budget (and, if so, count it)."""
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        if len(self._times) >= self.max_restarts:
            return False
        self._times.append(now)
        return True


@dataclass
class ApiSupervisor:
    """Starts `count` copies of `child_args` (a `switchboard api` command line) and keeps them."""

    child_args: Sequence[str]
    count: int
    max_restarts: int = 5
    restart_window: float = 60.0
    stop_timeout: float = 15.0
    poll_interval: float = 0.5
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _start_child(self) -> subprocess.Popen[bytes]:
        args = [*self.child_args, "--parent-pid", str(os.getpid())]
        child = subprocess.Popen(args, stdin=subprocess.DEVNULL)  # noqa: S603
        log.info("API process %d started", child.pid)
        return child

    def run(self) -> int:
        """Run until told to stop (0) or until children keep dying (1)."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        budget = RestartBudget(self.max_restarts, self.restart_window)
        status = 0
        try:
            self.children = [self._start_child() for _ in range(self.count)]
            while not self._stop.wait(self.poll_interval):
                for i, child in enumerate(self.children):
                    code = child.poll()
                    if code is None:
                        continue
                    if not budget.allow(time.monotonic()):
                        log.error("API process %d exited (%s); too many restarts", child.pid, code)
                        status = 1
                        self._stop.set()
                        break
                    log.warning("API process %d exited (%s); starting another", child.pid, code)
                    self.children[i] = self._start_child()
        finally:
            self.stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop.set()

    def stop(self) -> None:
        """Ask `run` to stop the children and return (from another thread)."""
        self._stop.set()

    def stop_children(self) -> None:
        """SIGTERM every child, then SIGKILL those still running after `stop_timeout`."""
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in self.children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("API process %d ignored SIGTERM; killing it", child.pid)
                child.kill()
                child.wait()


def api_child_args(host: str, port: int) -> list[str]:
    """The command line of one API child sharing `host:port`."""
    return [
        *(sys.executable, "-m", "switchboard", "api"),
        *("--host", host, "--port", str(port), "--reuse-port"),
    ]


async def watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    """SIGTERM this process (aiohttp then shuts down cleanly) once its parent is gone."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(interval)
    log.warning("supervisor %d is gone; stopping", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)
