"""The cost curve: bench/e2e.py at several shapes of the stack, one line each, then a table.

Each point is a fresh `bench/e2e.py` run (its own stack, database and carriers): end-to-end
msg/s, accept msg/s, p99 accept -> final, CPU ms per message and what bounded it, for send-worker
processes 1, 2, 4 (one API process), API processes 1 and 2 (two send workers), and 10,000 vs
100,000 messages (does it stay flat as the table grows?). The last line is JSON.

    .venv/bin/python bench/curve.py [--postgres] [--large 100000] [--only sends,apis,size]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

POINTS: dict[str, list[tuple[str, list[str]]]] = {
    "sends": [(f"send workers {n}", ["--send-workers", str(n)]) for n in (1, 2, 4)],
    "apis": [(f"api processes {n}", ["--api-processes", str(n)]) for n in (1, 2)],
    "size": [],  # filled from --messages / --large
}


def run_point(args: list[str]) -> dict[str, Any]:
    """One bench/e2e.py run; its JSON figures."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "e2e.py"), "--get-seconds", "0", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Run every point and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--only", default="sends,apis,size")
    args = parser.parse_args()
    POINTS["size"] = [
        (f"{args.messages:,} messages", ["--messages", str(args.messages)]),
        (f"{args.large:,} messages", ["--messages", str(args.large)]),
    ]
    common = ["--postgres"] if args.postgres else []
    results = []
    for group in args.only.split(","):
        for label, extra in POINTS[group]:
            sized = extra if group == "size" else ["--messages", str(args.messages), *extra]
            figures = run_point([*common, *sized])
            row = {
                "point": label,
                "e2e_msg_per_s": figures["end_to_end_msg_per_s"],
                "accept_msg_per_s": figures["api_accepted_per_s"],
                "p99_accept_to_final_ms": figures["p99_accept_to_final_ms"],
                "cpu_ms_per_message": figures["cpu_ms_per_message"]["total"],
                "others_cores": figures["others_cores"],
                "lost": figures["lost"],
                "bound_by": figures["bound_by"],
            }
            print(json.dumps(row), file=sys.stderr, flush=True)
            results.append(row)
    for row in results:
        print(
            f"{row['point']:22s} e2e {row['e2e_msg_per_s']:8.1f}/s  accept "
            f"{row['accept_msg_per_s']:8.1f}/s  p99 {row['p99_accept_to_final_ms']} ms  "
            f"cpu {row['cpu_ms_per_message']} ms/msg  ({row['bound_by']})",
            file=sys.stderr,
        )
    print(json.dumps({"database": "postgresql" if args.postgres else "sqlite", "points": results}))


if __name__ == "__main__":
    main()
