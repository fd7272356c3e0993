"""The send path's metric hooks: results by attempt, latency from the id's time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from store import AttemptResult
from workers.instruments import created_at, submit_result


def _attempt(accepted: bool, code: str | None) -> AttemptResult:
    return AttemptResult("alpha", "default", Decimal(0), "EUR", accepted, code)


@pytest.mark.parametrize(
    ("accepted", "code", "result"),
    [
        (True, None, "ok"),
        (False, "throttled:0x58", "throttled"),
        (False, "carrier_system_error:0x08", "carrier_system_error:0x08"),
        (False, "response_timeout", "response_timeout"),
        (False, None, "error"),
    ],
)
def test_submit_result_labels(accepted: bool, code: str | None, result: str) -> None:
    assert submit_result(_attempt(accepted, code)) == result


def test_created_at_reads_the_milliseconds_an_id_starts_with() -> None:
    assert created_at(f"{1_700_000_000_123:012x}" + "ab" * 10) == 1_700_000_000.123
