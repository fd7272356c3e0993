"""The short chaos variant, in the default `make test`: a few hundred messages on SQLite, three
faults (Redis restart, send-worker kill, carrier link drop), every target asserted.

Carriers at 60 MPS each keep the run a few seconds long, so each fault hits traffic in flight.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchboard.chaos import ChaosPlan, Fault, run_fault
from tests.chaos.conftest import ChaosStackFactory

pytestmark = pytest.mark.e2e

# The settle wait is short here: a fault that needs longer has missed "recovered in seconds".
PLAN = ChaosPlan(messages=400, settle_timeout_s=20.0)

SHORT_FAULTS = [Fault.REDIS, Fault.SEND_WORKER, Fault.LINK_DROP]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", SHORT_FAULTS)
def test_short_run_loses_nothing_through_the_fault(
    fault: Fault, tmp_path: Path, make_chaos_stack: ChaosStackFactory
) -> None:
    stack = make_chaos_stack(f"sqlite:///{tmp_path}/chaos.db", carrier_mps=60)

    report = run_fault(stack, fault, PLAN)

    print(json.dumps(report.as_json()))
    assert report.accepted == PLAN.messages
    assert report.misses() == []
