"""CPU seconds per process family, read from /proc, for benches that say what bounded them.

Every stack child leads its own session (`ProcessGroup` starts it with `start_new_session`), so
a Celery worker and its prefork children share one session id: summing utime + stime over a
session gives that worker's CPU. PostgreSQL backends and redis-server are named by their
command. Children that exit between two readings take their CPU with them (their parent's
cutime counts them only once reaped), so read before and after a steady run.
"""

from __future__ import annotations

import os
import resource
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid_dir: Path) -> tuple[str, int, float] | None:
    """(comm, session id, cpu seconds) of one /proc/<pid>, or None if it is gone."""
    try:
        raw = (pid_dir / "stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); session is field 6, utime 14, stime 15 (proc(5)).
    session = int(fields[3])
    seconds = (int(fields[11]) + int(fields[12])) / _TICKS
    return comm, session, seconds


def cpu_seconds(session_names: Mapping[int, str]) -> dict[str, float]:
    """CPU seconds so far by family: each named session, `postgres`, `redis`, and `load` (us)."""
    totals: dict[str, float] = defaultdict(float)
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        stat = _stat(pid_dir)
        if stat is None:
            continue
        comm, session, seconds = stat
        if session in session_names:
            totals[session_names[session]] += seconds
        elif comm == "postgres" or comm.startswith("postgres"):
            totals["postgres"] += seconds
        elif comm.startswith("redis-server"):
            totals["redis"] += seconds
    own = resource.getrusage(resource.RUSAGE_SELF)
    totals["load"] = own.ru_utime + own.ru_stime
    return dict(totals)


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds spent between two readings, per family."""
    return {name: round(after[name] - before.get(name, 0.0), 3) for name in after}


__all__ = ["cpu_delta", "cpu_seconds"]
