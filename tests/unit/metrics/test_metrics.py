"""The metrics module: batched histogram writes equal single ones, multiprocess directories,
and the exposition of a whole process family."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import Histogram

from metrics import multiproc
from metrics.definitions import SUBMIT_BUCKETS, count_submits, observe_many


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in histogram.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50))
def test_observe_many_equals_observing_each_amount(amounts: list[float]) -> None:
    one = Histogram("one_seconds", "one", buckets=SUBMIT_BUCKETS, registry=None)
    many = Histogram("one_seconds", "one", buckets=SUBMIT_BUCKETS, registry=None)
    for amount in amounts:
        one.observe(amount)
    observe_many(many, amounts)
    assert _samples(many).keys() == _samples(one).keys()
    for key, value in _samples(one).items():
        assert abs(_samples(many)[key] - value) < 1e-6, key


def test_prune_dead_removes_only_families_whose_parent_is_gone(tmp_path: Path) -> None:
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    dead_pid = int(exited.stdout)
    dead = multiproc.process_dir(tmp_path, "worker", dead_pid)
    alive = multiproc.process_dir(tmp_path, "api", os.getpid())
    other = tmp_path / "notes"
    for directory in (dead, alive, other):
        directory.mkdir()
    assert multiproc.prune_dead(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_a_family_of_processes_is_summed_in_one_exposition(tmp_path: Path) -> None:
    # Given a process that enables a fresh directory, counts, and forks a child that counts too
    script = f"""
import os
from pathlib import Path
import metrics
metrics.enable(Path({str(tmp_path)!r}) / "worker-1")
metrics.count_submits({{("alpha", "ok"): 3}})
pid = os.fork()
if pid == 0:
    metrics.count_submits({{("alpha", "ok"): 4, ("alpha", "throttled"): 1}})
    os._exit(0)
os.waitpid(pid, 0)
print(metrics.render(metrics.current_dir()).decode())
"""
    out = _python(script)
    # Then the exposition sums both processes' files
    assert 'switchboard_submits_total{carrier="alpha",result="ok"} 7.0' in out.stdout
    assert 'switchboard_submits_total{carrier="alpha",result="throttled"} 1.0' in out.stdout
    assert len(list((tmp_path / "worker-1").glob("counter_*.db"))) == 2


def test_enabling_after_the_first_count_is_refused(tmp_path: Path) -> None:
    script = f"""
from pathlib import Path
import metrics
metrics.count_submits({{("alpha", "ok"): 1}})
try:
    metrics.enable(Path({str(tmp_path)!r}) / "api-1")
except RuntimeError as error:
    print("refused:", error)
"""
    out = _python(script)
    assert out.stdout.startswith("refused: metrics.enable() must come before the first count")
    assert not (tmp_path / "api-1").exists()


def test_counting_in_process_shows_in_the_in_memory_exposition() -> None:
    from metrics import render

    before = _submits(render(None).decode())
    count_submits({("zeta", "carrier_system_error:0x08"): 2})
    assert _submits(render(None).decode()) == before + 2


def _python(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter (multiprocess mode is process-wide state)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )


def _submits(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('switchboard_submits_total{carrier="zeta"'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
