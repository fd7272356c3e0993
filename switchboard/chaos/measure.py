"""What a chaos run measures, as pure functions of what was sampled: progress over time, recovery,
the report of one fault and its misses against the targets of issue 16."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# Targets (issue 16, "Numbers"): lost 0, stuck 0, phantom 0, duplicates ≤ in flight, no 500,
# recovery ≤ 10 s for every fault.
RECOVERY_TARGET_S = 10.0


@dataclass(frozen=True)
class Sample:
    """One look at the running stack, `t` seconds after the load started.

    `progress` counts what moves when traffic flows, by signal name: "submits" (every carrier's
    accepted submit_sm), "submits:<carrier>", "answered" (POSTs the API answered), "final"
    (rows in a final status). `waiting` is rows in `queued` or `sending`, `sent` rows in `sent`;
    both None when the database did not answer.
    """

    t: float
    progress: Mapping[str, int]
    waiting: int | None
    sent: int | None


def recovery_seconds(samples: Sequence[Sample], fault_end: float, signal: str) -> float | None:
    """Seconds from `fault_end` (the restart, the carrier back) to traffic flowing again.

    Flowing: `signal` advanced past its value at `fault_end`; or, once nothing waits to be sent,
    the final count advanced, or every row is final (nothing left to recover). None: never.
    """
    after = [s for s in samples if s.t >= fault_end]
    if not after:
        return None
    base = after[0]
    for sample in after:
        if sample.progress.get(signal, 0) > base.progress.get(signal, 0):
            return round(sample.t - fault_end, 2)
        if sample.waiting == 0 and (
            sample.sent == 0 or sample.progress.get("final", 0) > base.progress.get("final", 0)
        ):
            return round(sample.t - fault_end, 2)
    return None


def all_final_at(samples: Sequence[Sample], since: float = 0.0) -> float | None:
    """When the first sample from `since` on (the load's end) saw every row final (nothing
    queued, sending or sent)."""
    for sample in samples:
        if sample.t >= since and sample.waiting == 0 and sample.sent == 0:
            return sample.t
    return None


def rate_before(samples: Sequence[Sample], until: float, signal: str = "submits") -> float:
    """`signal` per second from the first sample it moved in to `until`."""
    moving = [s for s in samples if s.t <= until and s.progress.get(signal, 0) > 0]
    if len(moving) < 2 or moving[-1].t <= moving[0].t:
        return 0.0
    done = moving[-1].progress[signal] - moving[0].progress[signal]
    return done / (moving[-1].t - moving[0].t)


@dataclass(frozen=True)
class FaultReport:
    """One fault's figures (one JSON line of bench/chaos.py)."""

    fault: str
    database: str
    messages: int
    accepted: int
    final: int
    lost: int  # accepted, not final after the settle wait
    stuck: int  # queued/sending left, or sent although the carrier still holds its receipt
    duplicates: int  # the carriers' duplicates_seen
    in_flight_at_fault: int  # rows in `sending` when the fault hit
    in_flight_final_s: float | None  # fault end → the last of those rows final (None: never)
    phantom_delivered: int  # delivered in the database, never accepted by a carrier (audit)
    recovery_s: float | None  # fault end → traffic flowing again
    fault_s: float  # how long the fault lasted (kill → restart, down → normal)
    time_to_all_final_s: float | None  # first request → every row final
    all_final_after_fault_s: float | None
    http_500: int
    api_errors: dict[str, int]  # non-202 answers by status, retried 503s included
    connection_errors: int  # refused (the client tried again)
    connection_lost: int  # cut off mid-request (maybe committed; not resent)
    unacknowledged_rows: int  # committed rows the client never got a 202 for
    submit_rate_before_fault: float
    carriers_ceiling: int
    statuses: dict[str, int] = field(default_factory=dict)
    receipts_pending: int = 0
    probe_rows: int = 0  # rows committed without a task (beat_holder: only a sweeper sends them)
    bounded_by: str = ""

    def misses(self) -> list[str]:
        """Every target this run missed, in words (empty: all met)."""
        out = []
        if self.final < self.accepted:
            out.append(f"{self.accepted - self.final} accepted messages never final")
        if self.lost:
            out.append(f"lost {self.lost}")
        if self.stuck:
            out.append(f"stuck {self.stuck}")
        if self.phantom_delivered:
            out.append(f"phantom delivered {self.phantom_delivered}")
        if self.duplicates > self.in_flight_at_fault:
            out.append(f"duplicates {self.duplicates} > in flight {self.in_flight_at_fault}")
        if self.http_500:
            out.append(f"{self.http_500} answers 500")
        if self.recovery_s is None or self.recovery_s > RECOVERY_TARGET_S:
            out.append(f"recovery {self.recovery_s} s > {RECOVERY_TARGET_S:g} s")
        resent = self.in_flight_final_s
        if self.in_flight_at_fault and (resent is None or resent > RECOVERY_TARGET_S):
            out.append(
                f"rows in flight at the fault final {resent} s after it > {RECOVERY_TARGET_S:g} s"
            )
        return out

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON object, with its misses."""
        return {**asdict(self), "misses": self.misses()}


def bounded_by(report: FaultReport, samples: Sequence[Sample], fault_start: float) -> str:
    """What decided how long the run took, in words."""
    if report.time_to_all_final_s is None:
        return f"the settle wait: {report.accepted - report.final} accepted rows never final"
    gap = longest_final_gap(samples, fault_start)
    if gap > RECOVERY_TARGET_S:
        return f"waiting for recovery: no status changed for {gap:.0f} s after the fault"
    rate, ceiling = report.submit_rate_before_fault, report.carriers_ceiling
    if ceiling and rate >= 0.85 * ceiling:
        return f"the carriers' MPS ({rate:.0f}/s of {ceiling}/s)"
    return f"the gateway on this machine ({rate:.0f} submits/s, carriers allow {ceiling}/s)"


def longest_final_gap(samples: Sequence[Sample], since: float) -> float:
    """The longest time after `since`, before all was final, in which no row became final."""
    longest, last_move, previous = 0.0, since, None
    for sample in samples:
        if sample.t < since:
            previous = sample.progress.get("final", 0)
            continue
        final = sample.progress.get("final", 0)
        if previous is not None and final > previous:
            longest = max(longest, sample.t - last_move)
            last_move = sample.t
        previous = final
        if sample.waiting == 0 and sample.sent == 0:
            break
    return round(longest, 2)
