"""`RunSupervisor` with small stand-in children: restarts (bounded), staged drain, SIGKILL after
the stop timeout, and children that die with a SIGKILLed supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import redis

from switchboard.cluster import RunRegistry, read_runs
from switchboard.run import RunSupervisor
from switchboard.runconfig import ChildSpec, SupervisorSection
from switchboard.stack import wait_until
from tests.procs import alive, descendants

ROOT = Path(__file__).resolve().parents[3]

# Writes "<name> term" to the journal on SIGTERM, then takes `linger` seconds to exit.
_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    name, journal, linger, ignore = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    def on_term(*_):
        with open(journal, "a") as f:
            f.write(name + " term\\n")
        if ignore == "ignore":
            return
        time.sleep(linger)
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    with open(journal, "a") as f:
        f.write(name + " up\\n")
    while True:
        time.sleep(0.05)
    """
)


def _child(
    name: str, journal: Path, stage: int, linger: float = 0.2, ignore: bool = False
) -> ChildSpec:
    args = (sys.executable, "-c", _CHILD, name, str(journal), str(linger))
    return ChildSpec(name, name, (*args, "ignore" if ignore else "obey"), stage=stage)


def _journal(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _stop_when(supervisor: RunSupervisor, predicate: object, timeout: float = 20) -> None:
    def watch() -> None:
        wait_until(predicate, timeout=timeout, interval=0.05)
        supervisor.stop()

    threading.Thread(target=watch, daemon=True).start()


def test_a_child_that_keeps_dying_is_restarted_within_its_budget_then_everything_stops(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal"
    dying = ChildSpec("dying", "otp", (sys.executable, "-c", "import sys; sys.exit(3)"), stage=1)
    steady = _child("steady", journal, stage=0)
    supervisor = RunSupervisor(
        [dying, steady], SupervisorSection(max_restarts=3, restart_window=60, stop_timeout=5)
    )
    assert supervisor.run() == 1
    states = {c.spec.name: c for c in supervisor.children}
    assert states["dying"].restarts == 3
    assert states["steady"].restarts == 0
    steady_process = states["steady"].process
    assert steady_process is not None and steady_process.returncode is not None
    assert "steady term" in _journal(journal)


def test_sigterm_drains_stage_by_stage_and_a_child_ignoring_it_is_killed(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    plan = [
        _child("worker", journal, stage=1),
        _child("stubborn", journal, stage=1, ignore=True),
        _child("api", journal, stage=0, linger=0.5),
    ]
    supervisor = RunSupervisor(plan, SupervisorSection(stop_timeout=1.0))
    _stop_when(supervisor, lambda: len(_journal(journal)) == 3)
    assert supervisor.run() == 0
    lines = _journal(journal)
    # The API's stage ends (its 0.5 s linger included) before the workers hear SIGTERM.
    assert lines[3:] == ["api term", "worker term", "stubborn term"] or lines[3:] == [
        "api term",
        "stubborn term",
        "worker term",
    ], lines
    codes = {c.spec.name: c.process.returncode for c in supervisor.children if c.process}
    assert codes["stubborn"] == -signal.SIGKILL
    assert codes["worker"] == 0 and codes["api"] == 0


def test_the_run_registers_in_redis_while_running_and_leaves_on_stop(
    tmp_path: Path, redis_url: str
) -> None:
    journal = tmp_path / "journal"
    client = redis.Redis.from_url(redis_url)
    supervisor = RunSupervisor([_child("api", journal, stage=0)], registry=RunRegistry(client))
    seen: list[int | None] = []

    def registered() -> bool:
        runs = read_runs(client)
        seen.extend(c.pid for r in runs for c in r.children if c.alive)
        return bool(seen)

    _stop_when(supervisor, registered)
    assert supervisor.run() == 0
    child = supervisor.children[0].process
    assert child is not None and seen and seen[0] == child.pid
    assert read_runs(client) == ()
    client.close()


def test_children_stop_by_themselves_when_the_supervisor_is_sigkilled(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    script = textwrap.dedent(
        f"""
        import sys
        from switchboard.run import RunSupervisor
        from switchboard.runconfig import ChildSpec
        child = ChildSpec("sleeper", "otp", (sys.executable, "-c", {_CHILD!r},
                          "sleeper", {str(journal)!r}, "0.1", "obey"))
        RunSupervisor([child]).run()
        """
    )
    with subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", script], cwd=ROOT, start_new_session=True
    ) as supervisor:
        children: set[int] = set()
        try:
            assert wait_until(lambda: _journal(journal) == ["sleeper up"], timeout=20)
            children = descendants(supervisor.pid)
            assert children
            os.kill(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
            assert wait_until(lambda: not any(alive(p) for p in children), timeout=10)
            assert "sleeper term" in _journal(journal)  # a SIGTERM: it could drain
        finally:
            for pid in children | descendants(supervisor.pid):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
