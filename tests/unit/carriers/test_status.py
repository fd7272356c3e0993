"""Status table: every code smpplib knows is classified; errors come from our tree."""

from __future__ import annotations

import pytest

from carriers import status
from carriers.smpp import codec
from messaging.errors import (
    CarrierSystemError,
    PermanentCarrierError,
    Throttled,
    TransientCarrierError,
    Unbound,
)


def test_every_status_smpplib_knows_is_in_the_table_under_its_name() -> None:
    known = codec.known_statuses()

    assert known  # smpplib still exports them
    missing = {name: code for name, code in known.items() if code not in status.STATUS_TABLE}
    assert missing == {}
    for name, code in known.items():
        assert status.STATUS_TABLE[code].name == name


@pytest.mark.parametrize("code", [0x58, 0x14])
def test_throttling_and_full_queue_become_throttled(code: int) -> None:
    error = status.error_for(code, "slow down")

    assert isinstance(error, Throttled)
    assert error.status == code
    assert status.outcome_for(code).failover
    assert status.outcome_for(code).backoff_hint > 0


def test_system_error_is_transient_carrier_system_error() -> None:
    error = status.error_for(0x08)

    assert isinstance(error, CarrierSystemError)
    assert status.outcome_for(0x08).kind == "transient"


def test_invalid_destination_is_permanent_and_not_worth_failover() -> None:
    error = status.error_for(0x0B)

    assert isinstance(error, PermanentCarrierError)
    assert not isinstance(error, TransientCarrierError)
    assert status.outcome_for(0x0B) == status.Outcome("permanent", False, 0.0)


def test_invalid_source_address_is_permanent_here_but_fails_over() -> None:
    assert isinstance(status.error_for(0x0A), PermanentCarrierError)
    assert status.outcome_for(0x0A).failover


def test_bind_state_errors_become_unbound() -> None:
    assert isinstance(status.error_for(0x04), Unbound)
    assert isinstance(status.error_for(0x0D), Unbound)


def test_vendor_specific_status_is_a_transient_system_error() -> None:
    error = status.error_for(0x401)

    assert isinstance(error, CarrierSystemError)
    assert status.status_name(0x401) == "0x00000401"
    assert status.outcome_for(0x401).failover


def test_rok_is_not_an_error() -> None:
    assert status.outcome_for(0).kind == "ok"
    with pytest.raises(ValueError, match="ESME_ROK"):
        status.error_for(0)


def test_error_message_names_the_status() -> None:
    assert "ESME_RTHROTTLED" in str(status.error_for(0x58, "over 50/s"))


def test_error_class_agrees_with_kind_for_every_row() -> None:
    for code, row in status.STATUS_TABLE.items():
        if row.outcome.kind == "ok":
            continue
        error = status.error_for(code)
        assert isinstance(error, TransientCarrierError) == (row.outcome.kind == "transient"), (
            row.name
        )
