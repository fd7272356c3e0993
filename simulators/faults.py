"""Carrier faults: what a simulated SMSC does while it is broken (pure tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from simulators.pdu import CommandStatus

if TYPE_CHECKING:
    from simulators.scenario import Outage


class Mode(StrEnum):
    """How the carrier behaves right now."""

    NORMAL = "normal"
    SYSERR = "syserr"  # every submit_sm answered ESME_RSYSERR
    SILENT = "silent"  # submit_sm read but never answered: the ESME sees response timeouts
    DOWN = "down"  # every connection dropped, binds refused with ESME_RBINDFAIL


# The answer to a submit_sm in each broken mode; None → no answer at all.
SUBMIT_FAULT_STATUS: Final[Mapping[Mode, int | None]] = {
    Mode.SYSERR: CommandStatus.ESME_RSYSERR,  # SMPP 3.4 §5.1.3: 0x08 "System Error"
    Mode.SILENT: None,
    Mode.DOWN: CommandStatus.ESME_RSYSERR,  # only reachable in the instant before the drop
}


def scheduled_mode(outages: Sequence[Outage], elapsed: float) -> Mode:
    """The mode the scenario's outage schedule prescribes `elapsed` seconds after start."""
    for outage in outages:
        if outage.after_s <= elapsed < outage.after_s + outage.for_s:
            return outage.mode
    return Mode.NORMAL
