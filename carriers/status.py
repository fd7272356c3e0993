"""Carrier command_status → what to do about it: one table, no if-chains (SMPP 3.4 §5.1.3).

`kind` says whether the submit worked, may work later (`transient`) or will never work on
this carrier (`permanent`). `failover` says whether the next candidate carrier is worth a
try: true for a busy or failing carrier and for parameters *this* carrier rejects (its
sender-id or TON/NPI rules), false when no carrier could deliver (invalid destination).
`backoff_hint` is how long, in seconds, this carrier deserves a rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from messaging.errors import (
    CarrierError,
    CarrierSystemError,
    PermanentCarrierError,
    Throttled,
    TransientCarrierError,
    Unbound,
)

OutcomeKind = Literal["ok", "transient", "permanent"]


@dataclass(frozen=True)
class Outcome:
    """What a command_status means for routing and retry."""

    kind: OutcomeKind
    failover: bool
    backoff_hint: float


@dataclass(frozen=True)
class StatusEntry:
    """One row: the ESME_* name, its outcome, and the error class it becomes."""

    name: str
    outcome: Outcome
    error: type[CarrierError]


OK = Outcome("ok", failover=False, backoff_hint=0.0)
# A rejection this carrier makes for its own reasons; another may accept the same message.
REJECTED_HERE = Outcome("permanent", failover=True, backoff_hint=0.0)
# No carrier will take it (the number, the message itself).
REJECTED_EVERYWHERE = Outcome("permanent", failover=False, backoff_hint=0.0)
BUSY = Outcome("transient", failover=True, backoff_hint=1.0)
FAILING = Outcome("transient", failover=True, backoff_hint=2.0)
NOT_BOUND = Outcome("transient", failover=True, backoff_hint=5.0)


def _row(name: str, outcome: Outcome, error: type[CarrierError] | None = None) -> StatusEntry:
    default: type[CarrierError] = (
        PermanentCarrierError if outcome.kind == "permanent" else CarrierSystemError
    )
    return StatusEntry(name, outcome, error or default)


STATUS_TABLE: Mapping[int, StatusEntry] = MappingProxyType(
    {
        0x00: _row("ESME_ROK", OK, CarrierError),
        0x01: _row("ESME_RINVMSGLEN", REJECTED_EVERYWHERE),
        0x02: _row("ESME_RINVCMDLEN", REJECTED_HERE),
        0x03: _row("ESME_RINVCMDID", REJECTED_HERE),
        0x04: _row("ESME_RINVBNDSTS", NOT_BOUND, Unbound),
        0x05: _row("ESME_RALYBND", NOT_BOUND, Unbound),
        0x06: _row("ESME_RINVPRTFLG", REJECTED_HERE),
        0x07: _row("ESME_RINVREGDLVFLG", REJECTED_HERE),
        0x08: _row("ESME_RSYSERR", FAILING),
        0x0A: _row("ESME_RINVSRCADR", REJECTED_HERE),  # sender-id not allowed on this carrier
        0x0B: _row("ESME_RINVDSTADR", REJECTED_EVERYWHERE),
        0x0C: _row("ESME_RINVMSGID", REJECTED_EVERYWHERE),
        0x0D: _row("ESME_RBINDFAIL", NOT_BOUND, Unbound),
        0x0E: _row("ESME_RINVPASWD", REJECTED_HERE),
        0x0F: _row("ESME_RINVSYSID", REJECTED_HERE),
        0x11: _row("ESME_RCANCELFAIL", REJECTED_EVERYWHERE),
        0x13: _row("ESME_RREPLACEFAIL", REJECTED_EVERYWHERE),
        0x14: _row("ESME_RMSGQFUL", BUSY, Throttled),
        0x15: _row("ESME_RINVSERTYP", REJECTED_HERE),
        0x33: _row("ESME_RINVNUMDESTS", REJECTED_HERE),
        0x34: _row("ESME_RINVDLNAME", REJECTED_HERE),
        0x40: _row("ESME_RINVDESTFLAG", REJECTED_HERE),
        0x42: _row("ESME_RINVSUBREP", REJECTED_HERE),
        0x43: _row("ESME_RINVESMCLASS", REJECTED_HERE),
        0x44: _row("ESME_RCNTSUBDL", REJECTED_HERE),
        0x45: _row("ESME_RSUBMITFAIL", FAILING),
        0x48: _row("ESME_RINVSRCTON", REJECTED_HERE),
        0x49: _row("ESME_RINVSRCNPI", REJECTED_HERE),
        0x50: _row("ESME_RINVDSTTON", REJECTED_HERE),
        0x51: _row("ESME_RINVDSTNPI", REJECTED_HERE),
        0x53: _row("ESME_RINVSYSTYP", REJECTED_HERE),
        0x54: _row("ESME_RINVREPFLAG", REJECTED_HERE),
        0x55: _row("ESME_RINVNUMMSGS", REJECTED_HERE),
        0x58: _row("ESME_RTHROTTLED", BUSY, Throttled),
        0x61: _row("ESME_RINVSCHED", REJECTED_HERE),
        0x62: _row("ESME_RINVEXPIRY", REJECTED_HERE),
        0x63: _row("ESME_RINVDFTMSGID", REJECTED_HERE),
        0x64: _row("ESME_RX_T_APPN", FAILING),  # temporary application error
        0x65: _row("ESME_RX_P_APPN", REJECTED_EVERYWHERE),  # permanent application error
        0x66: _row("ESME_RX_R_APPN", REJECTED_EVERYWHERE),  # reject message
        0x67: _row("ESME_RQUERYFAIL", FAILING),
        0xC0: _row("ESME_RINVOPTPARSTREAM", REJECTED_HERE),
        0xC1: _row("ESME_ROPTPARNOTALLWD", REJECTED_HERE),
        0xC2: _row("ESME_RINVPARLEN", REJECTED_HERE),
        0xC3: _row("ESME_RMISSINGOPTPARAM", REJECTED_HERE),
        0xC4: _row("ESME_RINVOPTPARAMVAL", REJECTED_HERE),
        0xFE: _row("ESME_RDELIVERYFAILURE", FAILING),
        0xFF: _row("ESME_RUNKNOWNERR", FAILING),
    }
)

# Reserved and vendor-specific codes (SMPP 3.4 §5.1.3: 0x400-0x4FF are SMSC-specific) are
# not worth a permanent failure on a guess: treat them as a failing carrier and move on.
UNKNOWN_STATUS = StatusEntry("ESME_UNKNOWN", FAILING, CarrierSystemError)


def entry_for(status: int) -> StatusEntry:
    """The table row for `status`, or :data:`UNKNOWN_STATUS` for codes not in SMPP 3.4."""
    return STATUS_TABLE.get(status, UNKNOWN_STATUS)


def outcome_for(status: int) -> Outcome:
    """What `status` means for routing and retry."""
    return entry_for(status).outcome


def status_name(status: int) -> str:
    """`ESME_RTHROTTLED` for 0x58; `0x00000401` for a code not in the table."""
    row = STATUS_TABLE.get(status)
    return row.name if row else f"0x{status:08X}"


def error_for(status: int, detail: str = "") -> CarrierError:
    """The error a non-OK `status` becomes (Throttled, CarrierSystemError, Unbound, Permanent…).

    Raises:
        ValueError: `status` is ESME_ROK, which is not an error.
    """
    row = entry_for(status)
    if row.outcome.kind == "ok":
        raise ValueError("ESME_ROK is not an error")
    text = f"{status_name(status)}: {detail}" if detail else status_name(status)
    return row.error(status, text)


def is_transient(error: CarrierError) -> bool:
    """True when trying again (here or on the next candidate) may work."""
    return isinstance(error, TransientCarrierError)
