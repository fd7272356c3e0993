"""`worker --nice`: the niceness must count against processes in other sessions.

On a kernel with autogroup the real `/proc/self/autogroup` is used; elsewhere a file in its
format stands in for it, so the same assertions run everywhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.processes import AUTOGROUP

SCRIPT = """
import os, sys
from pathlib import Path
from switchboard.processes import lower_cpu_priority
done = lower_cpu_priority(
    int(sys.argv[1]), whole_session=sys.argv[2] == "session", autogroup=Path(sys.argv[3])
)
print(done)
print(os.nice(0))
"""


@pytest.fixture
def autogroup(tmp_path: Path) -> Path:
    """The kernel's autogroup file of the child (`/proc/self/…` resolves per process), or a
    stand-in with the same format."""
    if AUTOGROUP.exists():
        return AUTOGROUP
    stand_in = tmp_path / "autogroup"
    stand_in.write_text("/autogroup-1 nice 0\n")
    return stand_in


def _nice_of(autogroup_text: str) -> int:
    return int(autogroup_text.split("nice")[-1])


def _run(nice: int, new_session: bool, autogroup: Path, scope: str = "session") -> list[str]:
    """Run `lower_cpu_priority` in a child; its result, its niceness and its autogroup's."""
    script = SCRIPT + "print(Path(sys.argv[3]).read_text().strip())\n"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script, str(nice), scope, str(autogroup)],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=new_session,
        cwd=Path(__file__).resolve().parents[2],
    )
    return done.stdout.splitlines()


def test_a_session_leader_lowers_its_autogroup_and_its_own_niceness(autogroup: Path) -> None:
    done, niceness, group = _run(10, new_session=True, autogroup=autogroup)
    assert done == "True" and _nice_of(group) == 10
    assert int(niceness) >= 10


def test_a_process_sharing_a_session_leaves_the_session_alone(autogroup: Path) -> None:
    before = _nice_of(autogroup.read_text())
    done, niceness, group = _run(10, new_session=False, autogroup=autogroup)
    assert done == "False" and _nice_of(group) == before
    assert int(niceness) >= 10


def test_process_only_leaves_even_its_own_session_alone(autogroup: Path) -> None:
    """What `worker --nice` does on SQLite, where a session-wide nice would starve a worker
    holding the database's one write lock."""
    before = _nice_of(autogroup.read_text())
    done, niceness, group = _run(10, new_session=True, autogroup=autogroup, scope="process")
    assert done == "False" and _nice_of(group) == before
    assert int(niceness) >= 10
