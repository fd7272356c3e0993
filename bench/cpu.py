"""CPU seconds per process family, read from /proc, for benches that say what bounded them.

A family is a root process and all its descendants: each stack child (a Celery worker and its
prefork children, the API, the simulator), the embedded redis-server, the PostgreSQL
postmaster and its backends. Only the roots given are counted, so other servers on the machine
(other benches, other test runs) never leak in. Children that exit between two readings take
their CPU with them, so read before and after a steady run.
"""

from __future__ import annotations

import os
import resource
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid_dir: Path) -> tuple[int, float] | None:
    """(parent pid, cpu seconds) of one /proc/<pid>, or None if it is gone."""
    try:
        raw = (pid_dir / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3 of proc(5)); ppid is field 4, utime 14, stime 15.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def postmaster_pid(data_dir: Path) -> int:
    """The PostgreSQL postmaster's pid, from `data_dir/postmaster.pid`."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def cpu_seconds(roots: Mapping[int, str]) -> dict[str, float]:
    """CPU seconds so far of each root's family, by its name, and `load` (this process)."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            stat = _stat(pid_dir)
            if stat is not None:
                parents[int(pid_dir.name)], spent[int(pid_dir.name)] = stat
    totals: dict[str, float] = defaultdict(float)
    for pid, seconds in spent.items():
        ancestor, hops = pid, 0
        while ancestor not in roots and ancestor in parents and hops < 64:
            ancestor, hops = parents[ancestor], hops + 1
        if ancestor in roots:
            totals[roots[ancestor]] += seconds
    own = resource.getrusage(resource.RUSAGE_SELF)
    totals["load"] = own.ru_utime + own.ru_stime
    return dict(totals)


def machine_seconds() -> float:
    """CPU seconds every process on the machine has spent busy so far (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds spent between two readings, per family."""
    return {name: round(after[name] - before.get(name, 0.0), 3) for name in after}


__all__ = ["cpu_delta", "cpu_seconds", "machine_seconds", "postmaster_pid"]
