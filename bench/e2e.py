"""End-to-end benchmark: N messages through the HTTP API to the simulated carriers, receipts on.

Prints accepted/s at the API, end-to-end msg/s to a final status, lost, the carriers' throttled
count, their own ceiling (so a figure at that ceiling says the carrier bounded it), and CPU
milliseconds per message for every process family (API, each worker, simulator, PostgreSQL,
Redis, and this load generator); the last line is one JSON object. Runs the same stack as
`switchboard demo`, with the configured routes and simulator rewritten to free ports and to
`--carrier-mps` per carrier.

    .venv/bin/python bench/e2e.py --messages 10000 [--postgres] [--carrier-mps 10000]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_delta, cpu_seconds, postmaster_pid  # noqa: E402
from simulators import load_scenario  # noqa: E402
from switchboard.demo import run_load, summary_table  # noqa: E402
from switchboard.embedded import free_port, start_postgres  # noqa: E402
from switchboard.settings import Settings  # noqa: E402
from switchboard.stack import Stack, WorkerSpec  # noqa: E402


def write_configs(
    settings: Settings, directory: Path, mps: int, window: int, receipt_delay_ms: int
) -> tuple[Path, Path]:
    """The configured routes and simulator on free ports, every carrier at `mps` both sides."""
    simulator = settings.simulator_file.read_text()
    routes = settings.routes_file.read_text()
    for port in sorted(set(re.findall(r"^port = (\d+)", simulator, flags=re.M))):
        fresh = str(free_port())
        simulator = re.sub(rf"^port = {port}\b", f"port = {fresh}", simulator, flags=re.M)
        routes = re.sub(rf"^port = {port}\b", f"port = {fresh}", routes, flags=re.M)
    simulator = re.sub(
        r"^control_port = \d+", f"control_port = {free_port()}", simulator, flags=re.M
    )
    simulator = re.sub(r"^mps = \d+", f"mps = {mps}", simulator, flags=re.M)
    simulator = re.sub(r"^max_binds = \d+", "max_binds = 64", simulator, flags=re.M)
    simulator = re.sub(
        r"^receipt_delay_ms = .*$",
        f"receipt_delay_ms = {{ min = {receipt_delay_ms}, max = {receipt_delay_ms} }}",
        simulator,
        flags=re.M,
    )
    routes = re.sub(r"^mps = \d+", f"mps = {mps}", routes, flags=re.M)
    routes = re.sub(r"^window = \d+", f"window = {window}", routes, flags=re.M)
    base = settings.routes_file.resolve().parent  # price files are relative to the routes file
    routes = re.sub(
        r'^file = "([^"/][^"]*)"', lambda m: f'file = "{base / m.group(1)}"', routes, flags=re.M
    )
    (directory / "simulator.toml").write_text(simulator)
    (directory / "routes.toml").write_text(routes)
    return directory / "routes.toml", directory / "simulator.toml"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--send-workers", type=int, default=2, help="processes of the send worker")
    parser.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight")
    parser.add_argument("--carrier-mps", type=int, default=10_000, help="MPS of each carrier")
    parser.add_argument("--window", type=int, default=64, help="submit_sm in flight per bind")
    parser.add_argument("--receipt-delay-ms", type=int, default=100)
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
        routes_file, simulator_file = write_configs(
            settings, Path(tmp), args.carrier_mps, args.window, args.receipt_delay_ms
        )
        stack = Stack(
            var_dir=Path(tmp) / "var",
            routes_file=routes_file,
            simulator_file=simulator_file,
            database_url=database_url,
            redis_url=settings.redis_url,
            workers=workers,
        )
        try:
            with stack:
                roots = {p.pid: name for name, p in stack.group.processes}
                if stack.redis_pid is not None:
                    roots[stack.redis_pid] = "redis"
                if cluster is not None:
                    roots[postmaster_pid(cluster.directory / "data")] = "postgres"
                before = cpu_seconds(roots)
                figures = run_load(stack, args.messages, args.timeout, console, args.concurrency)
                spent = cpu_delta(before, cpu_seconds(roots))
        finally:
            if cluster:
                cluster.stop()
        carriers = load_scenario(simulator_file).carriers
    figures["messages"] = args.messages
    figures["database"] = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    figures["carriers_ceiling_msg_per_s"] = sum(c.mps for c in carriers)
    accepted = max(1, int(figures["accepted"]))
    figures["cpu_ms_per_message"] = cpu_per_message(spent, accepted)
    console.print(summary_table(figures))
    print(json.dumps(figures))


def cpu_per_message(spent: dict[str, float], messages: int) -> dict[str, Any]:
    """CPU milliseconds per message by process family, and their sum."""
    out: dict[str, Any] = {k: round(v * 1000 / messages, 3) for k, v in sorted(spent.items())}
    out["total"] = round(sum(spent.values()) * 1000 / messages, 3)
    return out


if __name__ == "__main__":
    main()
