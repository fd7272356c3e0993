"""Chaos benchmark: N messages per fault through a fresh stack while one part of it dies.

Faults: kill -9 of the send worker, the receipts worker, the API, the beat holder, Redis (back
from its AOF), a PostgreSQL immediate stop/start (with --postgres), a carrier outage and a
carrier link drop. Prints one JSON line per fault (accepted, final, lost, stuck, duplicates vs
in flight, phantom delivered, recovery seconds, API errors by status, time to all-final, what
bounded it); the last line is one JSON object of all of them and the targets each one missed.

    .venv/bin/python bench/chaos.py [--postgres] [--messages N] [--only FAULT[,FAULT]]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchboard.chaos import (  # noqa: E402
    ChaosPlan,
    Fault,
    FaultReport,
    FaultTarget,
    chaos_stack,
    run_fault,
)
from switchboard.embedded import Postgres, start_postgres  # noqa: E402

POSTGRES_ONLY = frozenset({Fault.POSTGRES})


def faults_to_run(only: str, postgres: bool) -> list[Fault]:
    """The faults named by --only (comma-separated), else every fault this database allows."""
    chosen = [Fault(name.strip()) for name in only.split(",") if name.strip()] or list(Fault)
    if not postgres and any(f in POSTGRES_ONLY for f in chosen):
        if only:
            raise SystemExit("the postgres fault needs --postgres")
        chosen = [f for f in chosen if f not in POSTGRES_ONLY]
    return chosen


def run_one(
    fault: Fault, args: argparse.Namespace, directory: Path, cluster: Postgres | None
) -> FaultReport:
    """A fresh stack (and database) for `fault`, run, stopped."""
    database_url = cluster.create_database(f"chaos_{fault.value}") if cluster else ""
    stack = chaos_stack(
        directory / fault.value,
        database_url,
        carrier_mps=args.carrier_mps,
        send_processes=args.send_processes,
    )
    plan = ChaosPlan(
        messages=args.messages,
        concurrency=args.concurrency,
        settle_timeout_s=args.settle_timeout,
    )
    with stack:
        return run_fault(stack, fault, plan, FaultTarget(stack, plan.carrier, cluster))


def main() -> None:
    """Run every chosen fault and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(Fault)}")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL 15")
    parser.add_argument("--carrier-mps", type=int, default=250, help="MPS of each carrier")
    parser.add_argument("--send-processes", type=int, default=2, help="send worker children")
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight")
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    args = parser.parse_args()
    faults = faults_to_run(args.only, args.postgres)
    cluster = start_postgres() if args.postgres else None
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-chaos-") as tmp:
            for fault in faults:
                report = run_one(fault, args, Path(tmp), cluster)
                results[fault.value] = report.as_json()
                print(json.dumps(results[fault.value]), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
    missed = {name: r["misses"] for name, r in results.items() if r["misses"]}
    print(json.dumps({"faults": results, "missed": missed, "all_targets_met": not missed}))


if __name__ == "__main__":
    main()
