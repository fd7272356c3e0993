"""Child processes the demo, e2e tests and benchmarks start and always stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

AUTOGROUP = Path("/proc/self/autogroup")


def lower_cpu_priority(nice: int, whole_session: bool = True, autogroup: Path = AUTOGROUP) -> bool:
    """Add `nice` to this process's niceness (its children inherit it) and, when it leads its
    own session, to the session's autogroup too.

    Linux with autogroup (`kernel.sched_autogroup_enabled`, the default on many kernels) first
    shares CPU fairly between sessions, and niceness only ranks tasks inside one: a bulk worker
    started in its own session (as `ProcessGroup` and service managers do) would take as much
    CPU as the OTP worker whatever its niceness. `whole_session=False` nices the process only.
    Returns whether the autogroup was set.
    """
    os.nice(nice)
    if not whole_session or os.getsid(0) != os.getpid() or not autogroup.exists():
        return False  # sharing a session (a shell, say): leave the others' priority alone
    try:
        current = int(autogroup.read_text().split("nice")[1])
        autogroup.write_text(str(min(19, current + nice)))
    except (OSError, ValueError, IndexError):
        return False
    return True


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises SystemExit, so the `with` and `finally` blocks around it
    stop what they started. Python's default is to die at once, leaving every child process
    (each in its own session), embedded server and temporary directory behind. Only in the main
    thread, and only where nobody else handles SIGTERM."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class ProcessGroup:
    """Starts commands with a shared environment, logs each to a file, stops them newest first."""

    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    _sigterm: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def start(
        self, name: str, args: Sequence[str], extra_env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `args` (a list, no shell) with its output in `log_dir/name.log`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, **(extra_env or {})}
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603
            list(args),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes.append((name, process))
        return process

    def python(self, name: str, module: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `python -m module args` with this interpreter."""
        return self.start(name, [sys.executable, "-m", module, *args])

    def check_alive(self) -> list[str]:
        """Names of children that have exited."""
        return [name for name, p in self.processes if p.poll() is not None]

    def kill(self, name: str) -> None:
        """SIGKILL one child and its process group (to test crash recovery)."""
        for n, p in self.processes:
            if n == name and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every child (newest first), then SIGKILL what is left."""
        for _, p in reversed(self.processes):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for _, p in reversed(self.processes):
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.processes.clear()

    def __enter__(self) -> ProcessGroup:
        self._sigterm.enter_context(exit_on_sigterm())
        return self

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
