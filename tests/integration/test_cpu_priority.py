"""`worker --nice`: the niceness must count against processes in other sessions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.processes import AUTOGROUP

SCRIPT = """
import sys
from pathlib import Path
from switchboard.processes import lower_cpu_priority
done = lower_cpu_priority(int(sys.argv[1]), whole_session=sys.argv[2] == "session")
print(done, Path("/proc/self/autogroup").read_text().strip())
import os; print(os.nice(0))
"""


def _run(nice: int, new_session: bool, scope: str = "session") -> list[str]:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT, str(nice), scope],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=new_session,
        cwd=Path(__file__).resolve().parents[2],
    )
    return done.stdout.splitlines()


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="kernel without autogroup")
def test_a_session_leader_lowers_its_autogroup_and_its_own_niceness() -> None:
    first, niceness = _run(10, new_session=True)
    assert first.startswith("True") and first.endswith("nice 10")
    assert int(niceness) >= 10


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="kernel without autogroup")
def test_a_process_sharing_a_session_leaves_the_session_alone() -> None:
    ours = AUTOGROUP.read_text().strip()
    first, niceness = _run(10, new_session=False)
    assert first.startswith("False") and AUTOGROUP.read_text().strip() == ours
    assert int(niceness) >= 10


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="kernel without autogroup")
def test_process_only_leaves_even_its_own_session_alone() -> None:
    """What `worker --nice` does on SQLite, where a session-wide nice would starve a worker
    holding the database's one write lock."""
    first, niceness = _run(10, new_session=True, scope="process")
    assert first.startswith("False") and first.endswith("nice 0")
    assert int(niceness) >= 10
