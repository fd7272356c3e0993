"""Carrier health (pure): a score in [0, 1] from counters, and a circuit breaker.

The counters live in Redis (rolling, shared by every worker); this module only decides. The
clock is passed in as `now` (seconds), so transitions are tested by moving time, not waiting.

Circuit: CLOSED → OPEN after `failure_threshold` failures in a row; OPEN → HALF_OPEN once
`open_for` seconds have passed; HALF_OPEN lets `half_open_probes` submits through, closes
after that many successes, and re-opens on any failure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from messaging.errors import (
    CarrierError,
    CarrierSystemError,
    ResponseTimeout,
    Unbound,
)

# Errors that say the carrier is unwell. Throttled means we were too fast (the MPS bucket's
# business) and a permanent error is about the message, so neither trips the circuit.
CIRCUIT_FAILURES: tuple[type[CarrierError], ...] = (CarrierSystemError, ResponseTimeout, Unbound)
THROTTLE_WEIGHT = 0.5  # a throttle hurts the score half as much as an error
# Mean submit latency (submit_sm to its resp) up to which the score does not mind; above it
# the score scales by GOOD / mean (1 s: half). SMSCs answer in milliseconds when well.
SUBMIT_LATENCY_GOOD = 0.5
# A submit answered this late counts against the circuit as a failure (not as a success): a
# carrier that answers everything in 3 s is failing, whatever its status codes say.
SLOW_SUBMIT = 3.0
# Mean receipt delay (submit to final receipt) up to which the score does not mind; above it
# the score scales by GOOD / mean (10 min: 0.1). Delays come from destinations too, so the
# delay orders carriers and never opens a circuit.
RECEIPT_DELAY_GOOD = 60.0


@dataclass(frozen=True)
class HealthCounts:
    """Rolling counters for one carrier."""

    submit_ok: int = 0
    submit_error: int = 0
    throttled: int = 0
    receipts_delivered: int = 0
    receipts_undelivered: int = 0
    bound: bool = True
    submit_latency: float | None = None  # mean seconds, submit_sm to resp (None: no sample)
    receipt_delay: float | None = None  # mean seconds, submit to final receipt (None: none)


def _lateness(mean: float | None, good: float) -> float:
    """1 up to `good`, then `good / mean`."""
    return 1.0 if mean is None or mean <= good else good / mean


def score(counts: HealthCounts) -> float:
    """Submit success rate times delivery rate, each smoothed by one success (0 when unbound),
    times how late submits are answered and receipts come (1 while within their good means).

    The smoothing keeps a carrier with no traffic at 1.0 and stops one early error from
    sinking a new carrier to 0.
    """
    if not counts.bound:
        return 0.0
    submit_bad = counts.submit_error + THROTTLE_WEIGHT * counts.throttled
    submit_rate = (counts.submit_ok + 1) / (counts.submit_ok + submit_bad + 1)
    receipts = counts.receipts_delivered + counts.receipts_undelivered
    delivery_rate = (counts.receipts_delivered + 1) / (receipts + 1)
    latency = _lateness(counts.submit_latency, SUBMIT_LATENCY_GOOD)
    delay = _lateness(counts.receipt_delay, RECEIPT_DELAY_GOOD)
    return submit_rate * delivery_rate * latency * delay


def counts_as_failure(error: CarrierError) -> bool:
    """True for errors that mean the carrier itself is failing."""
    return isinstance(error, CIRCUIT_FAILURES)


class CircuitState(StrEnum):
    """Whether a carrier takes traffic: closed (yes), open (no), half-open (a few probes)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitPolicy:
    """When a circuit opens and how it recovers."""

    failure_threshold: int = 5
    open_for: float = 30.0
    half_open_probes: int = 1


@dataclass(frozen=True)
class Circuit:
    """One carrier's circuit; every transition returns a new value."""

    state: CircuitState = CircuitState.CLOSED
    failures: int = 0  # in a row, while closed
    opened_at: float = 0.0
    probes_sent: int = 0
    probes_ok: int = 0

    def at(self, now: float, policy: CircuitPolicy) -> Circuit:
        """The circuit as of `now`: an open one turns half-open once `open_for` has passed."""
        if self.state is CircuitState.OPEN and now - self.opened_at >= policy.open_for:
            return Circuit(CircuitState.HALF_OPEN, opened_at=self.opened_at)
        return self

    def admit(self, now: float, policy: CircuitPolicy) -> tuple[bool, Circuit]:
        """May a submit go out now? Half-open admits up to `half_open_probes` of them."""
        current = self.at(now, policy)
        if current.state is CircuitState.CLOSED:
            return True, current
        if (
            current.state is CircuitState.HALF_OPEN
            and current.probes_sent < policy.half_open_probes
        ):
            return True, replace(current, probes_sent=current.probes_sent + 1)
        return False, current

    def success(self, now: float, policy: CircuitPolicy) -> Circuit:
        """A submit succeeded."""
        current = self.at(now, policy)
        if current.state is CircuitState.HALF_OPEN:
            probes_ok = current.probes_ok + 1
            if probes_ok >= policy.half_open_probes:
                return Circuit()
            return replace(current, probes_ok=probes_ok)
        if current.state is CircuitState.CLOSED:
            return Circuit()
        return current  # a late success while open changes nothing

    def failure(self, now: float, policy: CircuitPolicy) -> Circuit:
        """A submit failed in a way that counts (see :func:`counts_as_failure`)."""
        current = self.at(now, policy)
        if current.state is CircuitState.HALF_OPEN:
            return Circuit(CircuitState.OPEN, opened_at=now)
        if current.state is CircuitState.OPEN:
            return current
        failures = current.failures + 1
        if failures >= policy.failure_threshold:
            return Circuit(CircuitState.OPEN, opened_at=now)
        return replace(current, failures=failures)
