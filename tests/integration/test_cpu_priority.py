"""`worker --nice`: the niceness must count against processes in other sessions.

On a kernel where a new session gets an autogroup the real `/proc/self/autogroup` is used;
elsewhere (no autogroup, or a container where the file reads empty) a file in its format stands
in for it, so the same assertions run everywhere. Every check compares the child's own autogroup
before and after: a child in a new session has a fresh autogroup, not its parent's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.processes import AUTOGROUP

SCRIPT = """
import os, sys
from pathlib import Path
from switchboard.processes import lower_cpu_priority
print(Path(sys.argv[3]).read_text().strip())
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
    if AUTOGROUP.exists() and _nice_of(_probe_new_session()) is not None:
        return AUTOGROUP
    stand_in = tmp_path / "autogroup"
    stand_in.write_text("/autogroup-1 nice 0\n")
    return stand_in


def _probe_new_session() -> str:
    """What the real autogroup file reads in a child leading a new session."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"print(open({str(AUTOGROUP)!r}).read())"],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    ).stdout


def _nice_of(autogroup_text: str) -> int | None:
    """The nice value in an autogroup file's text; None when it names no autogroup (the file
    reads empty for a process in the root group)."""
    found = re.search(r"nice\s+(-?\d+)", autogroup_text)
    return int(found.group(1)) if found else None


def _run(nice: int, new_session: bool, autogroup: Path, scope: str = "session") -> list[str]:
    """Run `lower_cpu_priority` in a child: its autogroup before, the result, its niceness and
    its autogroup after."""
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
    before, done, niceness, after = _run(10, new_session=True, autogroup=autogroup)
    assert _nice_of(before) == 0
    assert done == "True" and _nice_of(after) == 10
    assert int(niceness) >= 10


def test_a_process_sharing_a_session_leaves_the_session_alone(autogroup: Path) -> None:
    before, done, niceness, after = _run(10, new_session=False, autogroup=autogroup)
    assert done == "False" and after == before
    assert int(niceness) >= 10


def test_process_only_leaves_even_its_own_session_alone(autogroup: Path) -> None:
    """What `worker --nice` does on SQLite, where a session-wide nice would starve a worker
    holding the database's one write lock."""
    before, done, niceness, after = _run(10, new_session=True, autogroup=autogroup, scope="process")
    assert _nice_of(before) == 0
    assert done == "False" and after == before
    assert int(niceness) >= 10


def test_a_root_group_process_sets_nothing_but_its_niceness(tmp_path: Path) -> None:
    """A process in no autogroup of its own (the file reads empty, as in some containers) still
    lowers its own niceness and reports that the autogroup was not set."""
    empty = tmp_path / "autogroup"
    empty.write_text("")
    before, done, niceness, after = _run(10, new_session=True, autogroup=empty)
    assert done == "False" and before == after == ""
    assert int(niceness) >= 10
