"""The chaos suite (issue 16): 10,000 messages per fault through the real stack, one fault per
test; each asserts every target (`FaultReport.misses()`) and prints its figures as JSON.

`make chaos` runs these and the short variant; bench/chaos.py prints the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from switchboard.chaos import ChaosPlan, Fault, FaultReport, FaultTarget, run_fault
from switchboard.embedded import Postgres, start_postgres
from tests.chaos.conftest import ChaosStackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLAN = ChaosPlan(messages=10_000)


def _show(report: FaultReport) -> None:
    print(json.dumps(report.as_json()))  # the figures, with `pytest -s` / make chaos


@pytest.mark.timeout(600)
@pytest.mark.parametrize("fault", [f for f in Fault if f is not Fault.POSTGRES])
def test_fault_loses_nothing_and_traffic_recovers_within_ten_seconds(
    fault: Fault, database_url: str, make_chaos_stack: ChaosStackFactory
) -> None:
    stack = make_chaos_stack(database_url, send_processes=2)

    report = run_fault(stack, fault, PLAN)

    _show(report)
    assert report.accepted > 0
    assert report.misses() == []


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A cluster of this test's own (the test stops it), set up before the stack, so it is
    torn down after it."""
    cluster = start_postgres()
    yield cluster
    cluster.stop()


@pytest.mark.timeout(600)
def test_postgres_immediate_stop_and_start_loses_nothing_and_answers_no_500(
    own_postgres: Postgres, make_chaos_stack: ChaosStackFactory
) -> None:
    stack = make_chaos_stack(own_postgres.create_database("chaos"), send_processes=2)

    report = run_fault(stack, Fault.POSTGRES, PLAN, FaultTarget(stack, postgres=own_postgres))

    _show(report)
    assert report.accepted > 0
    assert report.misses() == []
