"""Chaos runs: one fault under load against a whole stack, measured against the carriers' books.

Used by `bench/chaos.py` and `tests/chaos/`; see docs/architecture.md, "Chaos".
"""

from switchboard.chaos.faults import Fault, FaultTarget, Injected, inject
from switchboard.chaos.harness import ChaosPlan, phantom_delivered, read_audit, run_fault
from switchboard.chaos.measure import (
    RECOVERY_TARGET_S,
    FaultReport,
    Sample,
    all_final_at,
    recovery_seconds,
)
from switchboard.chaos.setup import chaos_stack, chaos_workers

__all__ = [
    "RECOVERY_TARGET_S",
    "ChaosPlan",
    "Fault",
    "FaultReport",
    "FaultTarget",
    "Injected",
    "Sample",
    "all_final_at",
    "chaos_stack",
    "chaos_workers",
    "inject",
    "phantom_delivered",
    "read_audit",
    "recovery_seconds",
    "run_fault",
]
