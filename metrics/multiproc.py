"""Multiprocess storage: one directory per process family (an API and its children sharing a
port, or one `switchboard worker` and its prefork pool), under a base the composition root picks.

prometheus-client keeps each process's values in memory-mapped files of a directory named by
`PROMETHEUS_MULTIPROC_DIR`, and aggregates them at scrape time. A directory is
`<base>/<role>-<pid>`, `pid` the family's parent: `prune_dead` removes those whose parent died
(a crashed run's files would be summed forever otherwise); a fresh start empties its own.
Counter files of a pool child that exited stay (totals must not go backwards); `mark_dead`
drops only its live-gauge files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own switch (read by the library)


def process_dir(base: Path, role: str, pid: int) -> Path:
    """The directory of the process family `role` whose parent is `pid`."""
    return base / f"{role}-{pid}"


def _pid_of(directory: Path) -> int | None:
    _, _, tail = directory.name.rpartition("-")
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def prune_dead(base: Path) -> list[Path]:
    """Remove the directories under `base` whose parent process is gone; the ones removed."""
    removed: list[Path] = []
    if not base.is_dir():
        return removed
    for entry in base.iterdir():
        pid = _pid_of(entry)
        if entry.is_dir() and pid is not None and not _alive(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def enable(directory: Path, fresh: bool = True) -> None:
    """Store this process's (and its forks' and children's) values under `directory`.

    Call before the first count (every metric is labelled, so importing `metrics` counts
    nothing). Sets the environment variable prometheus-client and child processes read.
    """
    from metrics.definitions import _children

    if _children and not is_enabled():
        raise RuntimeError("metrics.enable() must come before the first count")
    if fresh and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()


def is_enabled() -> bool:
    """True when values go to a multiprocess directory."""
    return ENV in os.environ


def current_dir() -> Path | None:
    """This process's multiprocess directory, if enabled."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def mark_dead(pid: int) -> None:
    """A process of this family exited: drop its live-gauge files (counters stay)."""
    directory = current_dir()
    if directory is not None:
        multiprocess.mark_process_dead(pid, str(directory))
