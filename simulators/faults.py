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
    SLOW = "slow"  # submits answered, but submit_sm_resp latency times the outage's factor


# The answer to a submit_sm in each broken mode; None → no answer at all. Modes missing here
# (NORMAL, SLOW) handle submits normally.
SUBMIT_FAULT_STATUS: Final[Mapping[Mode, int | None]] = {
    Mode.SYSERR: CommandStatus.ESME_RSYSERR,  # SMPP 3.4 §5.1.3: 0x08 "System Error"
    Mode.SILENT: None,
    Mode.DOWN: CommandStatus.ESME_RSYSERR,  # only reachable in the instant before the drop
}


def is_active(outage: Outage, elapsed: float) -> bool:
    """True while `outage` is on: from `after_s` for `for_s`, again every `every_s` if set."""
    since = elapsed - outage.after_s
    if since < 0:
        return False
    if outage.every_s is not None:
        since %= outage.every_s
    return since < outage.for_s


def active_outage(outages: Sequence[Outage], elapsed: float) -> Outage | None:
    """The first outage on `elapsed` seconds after start, if any."""
    for outage in outages:
        if is_active(outage, elapsed):
            return outage
    return None


def scheduled_mode(outages: Sequence[Outage], elapsed: float) -> Mode:
    """The mode the scenario's outage schedule prescribes `elapsed` seconds after start."""
    outage = active_outage(outages, elapsed)
    return Mode.NORMAL if outage is None else outage.mode
