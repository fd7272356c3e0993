"""End-to-end benchmark: N messages through the HTTP API to the simulated carriers, receipts on.

Prints accepted/s at the API, end-to-end msg/s to a final status, lost, and the carriers'
throttled count; the last line is one JSON object. Runs the same stack as `switchboard demo`.

    .venv/bin/python bench/e2e.py --messages 10000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchboard.demo import run_load, summary_table  # noqa: E402
from switchboard.embedded import start_postgres  # noqa: E402
from switchboard.settings import Settings  # noqa: E402
from switchboard.stack import Stack, WorkerSpec  # noqa: E402


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--send-workers", type=int, default=2, help="processes of the send worker")
    parser.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL 15 and use it"
    )
    args = parser.parse_args()
    cluster = start_postgres() if args.postgres else None
    database_url = cluster.create_database("bench") if cluster else Settings().database_url
    settings = Settings()
    console = Console(stderr=True)
    workers = (
        WorkerSpec("worker-send", "otp,transactional,marketing", args.send_workers),
        WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True),
    )
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        stack = Stack(
            var_dir=Path(tmp) / "var",
            routes_file=settings.routes_file,
            simulator_file=settings.simulator_file,
            database_url=database_url,
            redis_url=settings.redis_url,
            workers=workers,
        )
        try:
            with stack:
                figures = run_load(stack, args.messages, args.timeout, console, args.concurrency)
        finally:
            if cluster:
                cluster.stop()
    figures["messages"] = args.messages
    figures["database"] = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    console.print(summary_table(figures))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
