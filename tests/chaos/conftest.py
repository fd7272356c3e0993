"""Chaos fixtures: a fresh chaos stack per test (switchboard.chaos.chaos_stack), always stopped
(killed: see tests/e2e/conftest.py kill_and_stop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from switchboard.chaos import chaos_stack
from switchboard.stack import Stack
from tests.e2e.conftest import kill_and_stop

ChaosStackFactory = Callable[..., Stack]


@pytest.fixture
def make_chaos_stack(tmp_path: Path) -> Iterator[ChaosStackFactory]:
    """Build and start a chaos stack on a database URL; every one started is stopped."""
    started: list[Stack] = []

    def factory(database_url: str, carrier_mps: int = 250, send_processes: int = 1) -> Stack:
        stack = chaos_stack(
            tmp_path / f"chaos{len(started)}",
            database_url,
            carrier_mps=carrier_mps,
            send_processes=send_processes,
        )
        started.append(stack)
        return stack.start()

    yield factory
    for stack in started:
        kill_and_stop(stack)
