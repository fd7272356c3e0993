"""What the metrics hooks cost on the hot path, each alone, in multiprocess mode (the mode every
process runs in): µs per message (per request for the HTTP middleware's observer), in the group
sizes the send path uses. Noise-free where bench/e2e.py on a shared machine is not.

    .venv/bin/python bench/metrics_hooks.py [--messages 100000] [--group 100]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import metrics  # noqa: E402
from store import AttemptResult, ClaimedMessage  # noqa: E402
from store.ids import new_id  # noqa: E402


@dataclass
class _Candidate:
    carrier: str


@dataclass
class _Job:
    message: ClaimedMessage
    candidate: _Candidate | None
    attempts: list[AttemptResult] = field(default_factory=list)


def _jobs(n: int) -> list[_Job]:
    out = []
    for i in range(n):
        carrier = ("alpha", "beta")[i % 2]
        message = ClaimedMessage(
            new_id(),
            "acct",
            "+447700900123",
            "Sb",
            "hi",
            ("otp", "marketing")[i % 10 != 0],
            1,
            0,
            datetime.now(UTC),
        )
        attempt = AttemptResult(carrier, "default", Decimal("0.01"), "EUR", True, None, ("1",))
        out.append(_Job(message, _Candidate(carrier), [attempt]))
    return out


def _per_message(seconds: float, messages: int) -> float:
    return round(seconds / messages * 1e6, 3)


def main() -> None:
    """Time each hook; print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--group", type=int, default=100)
    args = parser.parse_args()
    metrics.enable(Path(tempfile.mkdtemp(prefix="switchboard-metrics-bench-")))
    from workers.instruments import count_attempts, observe_settled

    jobs = _jobs(args.group)
    done: concurrent.futures.Future[str] = concurrent.futures.Future()
    done.set_result("1")
    settled = [(j, [done], time.monotonic()) for j in jobs]
    rounds = args.messages // args.group
    figures: dict[str, float] = {}

    start = time.perf_counter()
    for _ in range(rounds):
        count_attempts(jobs)
    figures["count_attempts_us_per_message"] = _per_message(
        time.perf_counter() - start, rounds * args.group
    )

    start = time.perf_counter()
    for _ in range(rounds):
        observe_settled(settled, time.monotonic())
    figures["observe_settled_us_per_message"] = _per_message(
        time.perf_counter() - start, rounds * args.group
    )

    receipts = Counter({("alpha", "delivered"): 45, ("alpha", "undelivered"): 5})
    start = time.perf_counter()
    for _ in range(args.messages // 50):
        metrics.count_receipts(receipts)
    figures["count_receipts_us_per_receipt"] = _per_message(
        time.perf_counter() - start, args.messages
    )

    observe = metrics.http_observer()
    start = time.perf_counter()
    for _ in range(args.messages):
        observe("/v1/messages", "POST", 202, 0.001)
    figures["http_observer_us_per_request"] = _per_message(
        time.perf_counter() - start, args.messages
    )

    figures["total_us_per_message"] = round(
        figures["count_attempts_us_per_message"]
        + figures["observe_settled_us_per_message"]
        + figures["count_receipts_us_per_receipt"]
        + figures["http_observer_us_per_request"],
        3,
    )
    for name, value in figures.items():
        print(f"{name:34} {value}")
    print(json.dumps({"messages": args.messages, "group": args.group, **figures}))


if __name__ == "__main__":
    main()
