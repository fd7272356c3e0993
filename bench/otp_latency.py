"""OTP latency: API `201` to carrier `submit_sm`, with and without a marketing backlog.

Phase 1 sends `--otps` codes spread over time on an idle gateway. Phase 2 first queues
`--marketing` marketing messages to the same carriers, then sends `--otps` codes again while
that backlog drains. For each code the latency is the simulator's audit timestamp of its
`submit_sm` minus the moment the client got the `201` (same host, same wall clock). Also
prints how fast the marketing backlog drained at the carriers. Last line: one JSON object.

    .venv/bin/python bench/otp_latency.py --marketing 100000 --otps 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.configs import on_free_ports  # noqa: E402
from routing import load_routes  # noqa: E402
from switchboard.embedded import start_postgres  # noqa: E402
from switchboard.load import percentile, send_all  # noqa: E402
from switchboard.settings import Settings  # noqa: E402
from switchboard.stack import BULK_NICE, Stack, WorkerSpec, wait_until  # noqa: E402
from workers import bucket_shape  # noqa: E402

# The pumping guard would rightly block 1,000 never-verified codes to one range;
# this benchmark measures speed, so the guard is off.
OTP_CONFIG = """
[defaults]
sends_per_account_per_hour = 1000000

[pumping]
enabled = false
"""


def _marketing(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    ranges = (("+336123", 5), ("+4915112", 6), ("+1212555", 4))
    out = []
    for i in range(count):
        prefix, digits = ranges[i % len(ranges)]
        number = prefix + "".join(rng.choice("0123456789") for _ in range(digits))
        out.append(
            {"to": number, "from": "Shop", "body": f"Sale {i}: 20% off today", "class": "marketing"}
        )
    return out


async def _send_otps(stack: Stack, numbers: list[str], rate: float) -> dict[str, float]:
    """POST /v1/otp to each number at `rate` per second; the wall time each 201 arrived."""
    answered: dict[str, float] = {}
    errors: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(number: str, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            async with session.post(f"{stack.api_url}/v1/otp", json={"to": number}) as response:
                await response.read()
                if response.status == 201:
                    answered[number.lstrip("+")] = time.time()
                else:
                    errors[response.status] = errors.get(response.status, 0) + 1

        start = time.monotonic() + 0.2
        await asyncio.gather(*(one(n, start + i / rate) for i, n in enumerate(numbers)))
    if errors:
        print(f"OTP requests refused: {errors}", file=sys.stderr)
    return answered


def _audit(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _latencies(audit_path: Path, answered: dict[str, float], timeout: float) -> dict[str, Any]:
    def submitted() -> dict[str, float]:
        found: dict[str, float] = {}
        for row in _audit(audit_path):
            destination = row["destination"].lstrip("+")
            if destination in answered and destination not in found:
                found[destination] = row["ts"]
        return found

    wait_until(lambda: len(submitted()) >= len(answered), timeout=timeout, interval=0.5)
    found = submitted()
    ms = [(found[d] - answered[d]) * 1000 for d in answered if d in found]
    return {
        "otps": len(answered),
        "submitted": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else None,
    }


def _per_carrier(rows: list[tuple[str, float]], routes_file: Path) -> dict[str, Any]:
    """Per carrier: marketing submit_sm sent, their rate over the drain, the busiest second,
    and the ceiling marketing may use there (the carrier's whole paced rate: the OTP reserve is
    a floor of its bucket, lent to marketing while no OTP waits)."""
    table = load_routes(routes_file)
    out: dict[str, Any] = {}
    for name, spec in table.carriers.items():
        stamps = sorted(ts for carrier, ts in rows if carrier == name)
        if not stamps:
            continue
        span = stamps[-1] - stamps[0]
        per_second = Counter(int(ts) for ts in stamps)
        ceiling, _ = bucket_shape(spec.mps)
        out[name] = {
            "submitted": len(stamps),
            "per_s": round(len(stamps) / span) if span else None,
            "busiest_second": max(per_second.values()),
            "marketing_ceiling_per_s": round(ceiling),
        }
    return out


def _write_configs(settings: Settings, directory: Path, audit_path: Path) -> None:
    """The configured routes and simulator on free ports (nothing clashes with a running demo),
    with the simulator's audit trail on."""
    simulator, routes = on_free_ports(settings)
    simulator = re.sub(
        r"^# audit_path = .*$", f'audit_path = "{audit_path}"', simulator, flags=re.M
    )
    assert str(audit_path) in simulator, "config/simulator.toml changed: cannot turn its audit on"
    (directory / "simulator.toml").write_text(simulator)
    (directory / "routes.toml").write_text(routes)


def main() -> None:
    """Run both phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marketing", type=int, default=100_000)
    parser.add_argument("--otps", type=int, default=1000)
    parser.add_argument("--otp-rate", type=float, default=20.0, help="OTP requests per second")
    parser.add_argument("--otp-workers", type=int, default=2, help="processes of the otp worker")
    parser.add_argument(
        "--bulk-workers", type=int, default=2, help="processes of the marketing worker"
    )
    parser.add_argument(
        "--bulk-nice",
        type=int,
        default=BULK_NICE,
        help="CPU niceness of the marketing and receipts workers",
    )
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL 15 and use it"
    )
    args = parser.parse_args()
    cluster = start_postgres() if args.postgres else None
    database_url = cluster.create_database("bench") if cluster else Settings().database_url
    settings = Settings()
    console = Console(stderr=True)
    try:
        run(args, settings, console, database_url)
    finally:
        if cluster:
            cluster.stop()


def run(args: argparse.Namespace, settings: Settings, console: Console, database_url: str) -> None:
    """Both phases against one stack; prints the figures."""
    with tempfile.TemporaryDirectory(prefix="switchboard-otp-bench-") as tmp:
        audit_path = Path(tmp) / "audit.jsonl"
        _write_configs(settings, Path(tmp), audit_path)
        (Path(tmp) / "otp.toml").write_text(OTP_CONFIG)
        stack = Stack(
            var_dir=Path(tmp) / "var",
            routes_file=Path(tmp) / "routes.toml",
            simulator_file=Path(tmp) / "simulator.toml",
            database_url=database_url,
            redis_url=settings.redis_url,
            workers=(
                WorkerSpec("worker-otp", "otp", args.otp_workers),
                WorkerSpec(
                    "worker-bulk", "transactional,marketing", args.bulk_workers, nice=args.bulk_nice
                ),
                WorkerSpec(
                    "worker-receipts", "receipts,callbacks", 1, beat=True, nice=args.bulk_nice
                ),
            ),
            extra_env={"SWITCHBOARD_OTP_CONFIG_FILE": str(Path(tmp) / "otp.toml")},
        )
        figures: dict[str, Any] = {
            "marketing": args.marketing,
            "otp_rate": args.otp_rate,
            "bulk_nice": args.bulk_nice,
        }
        with stack:
            # Warm-up: every sending process binds both carriers when it starts; begin once the
            # simulator sees those binds, as a running gateway would have them.
            binds = args.otp_workers + args.bulk_workers
            wait_until(
                lambda: all(c["binds"] >= binds for c in stack.simulator_stats().values()), 20
            )
            console.print(f"phase 1: {args.otps} OTPs at {args.otp_rate}/s, idle gateway")
            idle = asyncio.run(
                _send_otps(stack, [f"+4474001{i:05d}" for i in range(args.otps)], args.otp_rate)
            )
            figures["idle"] = _latencies(audit_path, idle, timeout=60)
            console.print(f"  {figures['idle']}")

            console.print(f"phase 2: queue {args.marketing} marketing messages")
            backlog = asyncio.run(
                send_all(stack.api_url, stack.api_key, _marketing(args.marketing), 64)
            )
            figures["backlog_accepted"] = len(backlog.accepted)
            figures["backlog_accept_per_s"] = round(backlog.accepted_per_second)
            marketing_before = len(_audit(audit_path)) - len(idle)
            figures["backlog_left_at_otp_start"] = len(backlog.accepted) - marketing_before
            console.print(
                f"  accepted at {figures['backlog_accept_per_s']}/s; sending OTPs into the backlog"
            )
            loaded_numbers = [f"+4474001{i:05d}" for i in range(50_000, 50_000 + args.otps)]
            loaded = asyncio.run(_send_otps(stack, loaded_numbers, args.otp_rate))
            figures["backlog"] = _latencies(audit_path, loaded, timeout=120)
            console.print(f"  {figures['backlog']}")

            otp_destinations = set(idle) | set(loaded)

            def marketing_rows() -> list[tuple[str, float]]:
                return [
                    (r["carrier"], r["ts"])
                    for r in _audit(audit_path)
                    if r["destination"].lstrip("+") not in otp_destinations
                ]

            wait_until(
                lambda: len(marketing_rows()) >= len(backlog.accepted), args.timeout, interval=2.0
            )
            rows = marketing_rows()
            stamps = sorted(ts for _, ts in rows)
            span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
            figures["marketing_submitted"] = len(stamps)
            figures["marketing_drain_per_s"] = round(len(stamps) / span) if span else None
            figures["marketing_per_carrier"] = _per_carrier(rows, Path(tmp) / "routes.toml")
            stats = stack.simulator_stats().values()
            figures["throttled"] = sum(
                int(c.get("throttled", 0)) for c in stats if isinstance(c, dict)
            )
        figures["database"] = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    console.print(figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
