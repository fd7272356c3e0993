"""RoutesWatcher: a changed valid file is swapped in; an invalid one is refused, old table stays."""

from __future__ import annotations

import os
from pathlib import Path

from routing import RoutesWatcher

BASE = """
[carriers.alpha]
host = "127.0.0.1"
port = 1
system_id = "alpha"
password = "pw"
mps = {mps}

[prices.alpha]
currency = "EUR"
"+44" = 0.01

[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["alpha"]
"""


def _write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_changed_file_is_swapped_in_only_after_the_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    _write(path, BASE.format(mps=10), 1_000_000_000)
    now = [0.0]
    watcher = RoutesWatcher(path, lambda: now[0], check_every=1.0)
    _write(path, BASE.format(mps=20), 2_000_000_000)
    now[0] = 0.5
    assert watcher.current().carriers["alpha"].mps == 10
    now[0] = 1.0
    assert watcher.current().carriers["alpha"].mps == 20
    assert watcher.holder.reloads == 1


def test_invalid_file_is_refused_and_the_running_table_stays(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    _write(path, BASE.format(mps=10), 1_000_000_000)
    now = [0.0]
    watcher = RoutesWatcher(path, lambda: now[0])
    _write(path, BASE.format(mps=-5), 2_000_000_000)
    result = watcher.poll()
    assert result is not None and not result.swapped
    assert [str(p) for p in result.problems] == [f"{path}:7: carriers.alpha.mps: must be > 0"]
    now[0] = 5.0
    assert watcher.current().carriers["alpha"].mps == 10
    assert watcher.poll() is None  # the same bad file is not re-read until it changes again
