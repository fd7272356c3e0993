"""Child processes are stopped even when the parent is told to stop with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from switchboard.embedded import EPHEMERAL_RANGE, free_port
from switchboard.processes import exit_on_sigterm
from switchboard.settings import Settings
from switchboard.stack import Stack

PARENT = """
import sys, time
from pathlib import Path
from switchboard.processes import ProcessGroup
with ProcessGroup(Path(sys.argv[1])) as group:
    child = group.start("sleeper", ["sleep", "60"])
    print(child.pid, flush=True)
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_to_the_parent_stops_its_children(tmp_path: Path) -> None:
    """`kill <demo or bench>` used to leave every child running (each leads its own session,
    so the signal never reached them): a worker, the simulator, Redis."""
    with subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", PARENT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=20) == 128 + signal.SIGTERM
    assert not _alive(child)


def test_a_sigterm_handler_someone_else_installed_is_left_in_place() -> None:
    def mine(_signum: int, _frame: object) -> None:
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with exit_on_sigterm():
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_block_sigterm_is_python_s_default_again() -> None:
    with exit_on_sigterm():
        with pytest.raises(SystemExit) as stopped:
            signal.raise_signal(signal.SIGTERM)
        assert stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_stack_that_fails_to_start_stops_what_it_started(tmp_path: Path) -> None:
    """Redis comes up first; a database that cannot be opened then fails the start, and the
    embedded Redis must not be left running."""
    settings = Settings()
    stack = Stack(
        var_dir=tmp_path / "var",
        routes_file=settings.routes_file,
        simulator_file=settings.simulator_file,
        database_url=f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}",
    )
    with pytest.raises(OperationalError), stack:
        pass
    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_free_ports_lie_below_the_range_outgoing_connections_use(tmp_path: Path) -> None:
    """A port from the ephemeral range can be taken as the source port of any outgoing
    connection before our server binds it (CI: the simulator's "address already in use")."""
    low = int(EPHEMERAL_RANGE.read_text().split()[0]) if EPHEMERAL_RANGE.exists() else 32768
    ports = [free_port() for _ in range(50)]
    assert all(1024 <= port < low for port in ports)
    assert len(set(ports)) == 50  # never the same one twice
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))  # and really free
    narrow = tmp_path / "ip_local_port_range"
    narrow.write_text("40000\t60999\n")
    assert 28_000 <= free_port(narrow) < 40_000
