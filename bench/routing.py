"""Routing decisions per second on one core: 300 destination prefixes x 10 carriers.

Four routes (OTP by quality, a weighted +44 split, an account on priority, a least-cost
default); 20,000 requests over random prefixes, classes and 1-2 segments. Measured three
times: with a snapshot where 3 of the 10 carriers are degraded (the general path: one pass
over the plan's compiled carrier list), the same plus 2 carriers short of MPS tokens (demoted
to the end), and with every carrier healthy (the compiled answer, copied). Target: 100,000
decisions/s on one core for each; `decisions_per_s` is the degraded figure.
Prints a few human lines, then one JSON object as the last line.
Run: .venv/bin/python bench/routing.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

# This file is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from messaging import Encoding, MessageClass  # noqa: E402
from routing import (  # noqa: E402
    CarrierHealth,
    CarrierSpec,
    Circuit,
    Match,
    Price,
    Route,
    RouteRequest,
    RoutingTable,
    Snapshot,
    Strategy,
    route,
)

PREFIXES = 300
CARRIERS = 10


def build_table(rng: random.Random) -> tuple[RoutingTable, list[str]]:
    """300 prefixes (country + operator level) priced on 10 carriers, four routes."""
    carriers = [
        CarrierSpec(f"c{i}", "127.0.0.1", 2775 + i, f"c{i}", "pw", mps=500) for i in range(CARRIERS)
    ]
    prefixes: list[str] = ["+44", "+447"]  # so the weighted +44 split takes traffic too
    while len(prefixes) < PREFIXES:
        cc = str(rng.randint(1, 999))
        prefixes.append(f"+{cc}")
        prefixes.extend(f"+{cc}{d}" for d in rng.sample("123456789", 2))
    prefixes = sorted(set(prefixes))[:PREFIXES]
    prices = [
        Price(c.name, p, Decimal(rng.randint(5, 90)) / 1000, "EUR")
        for c in carriers
        for p in prefixes
        if rng.random() < 0.9
    ]
    names = tuple(c.name for c in carriers)
    routes = [
        Route("otp", Match("", MessageClass.OTP), Strategy.QUALITY, names, (), 0),
        Route("uk-split", Match("+44"), Strategy.WEIGHTED, names[:4], (40, 30, 20, 10), 1),
        Route("acme", Match("", None, "acme"), Strategy.PRIORITY, names, (), 2),
        Route("default", Match(), Strategy.LEAST_COST, names, (), 3),
    ]
    return RoutingTable.build(carriers, prices, routes), prefixes


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    rng = random.Random(7)
    started = time.perf_counter()
    table, prefixes = build_table(rng)
    compile_ms = (time.perf_counter() - started) * 1000
    snapshot = Snapshot.of(
        {
            "c1": CarrierHealth(0.7),
            "c3": CarrierHealth(0.9, Circuit.HALF_OPEN),
            "c5": CarrierHealth(circuit=Circuit.OPEN),
        }
    )
    classes = [MessageClass.OTP, MessageClass.MARKETING, MessageClass.TRANSACTIONAL]
    requests = [
        RouteRequest(
            f"m{i}",
            rng.choice(prefixes) + str(rng.randint(10**7, 10**8)),
            rng.choice(classes),
            rng.choice((1, 1, 1, 2)),
            Encoding.GSM7,
            "acme" if i % 10 == 0 else None,
        )
        for i in range(20_000)
    ]
    short = Snapshot.of(
        {
            **snapshot.carriers,
            "c7": CarrierHealth(capacity_left=0.4),
            "c8": CarrierHealth(capacity_left=1.5),  # short for 2-segment messages only
        }
    )
    degraded = _measure(requests, table, snapshot, args.seconds)
    tokens = _measure(requests, table, short, args.seconds)
    healthy = _measure(requests, table, Snapshot.empty(), args.seconds)
    print(f"table: {PREFIXES} prefixes x {CARRIERS} carriers, compiled in {compile_ms:.1f} ms")
    for label, (decisions, elapsed, candidates) in (
        ("3 of 10 carriers degraded (score, half-open, open)", degraded),
        ("the same + 2 short of MPS tokens (demoted)", tokens),
        ("every carrier healthy", healthy),
    ):
        print(
            f"{label}: {decisions} decisions in {elapsed:.2f} s on one core: "
            f"{decisions / elapsed:,.0f} decisions/s, {candidates / decisions:.2f} candidates each"
        )
    print(
        json.dumps(
            {
                "bench": "routing",
                "prefixes": PREFIXES,
                "carriers": CARRIERS,
                "decisions_per_s": round(degraded[0] / degraded[1]),
                "decisions_per_s_tokens_short": round(tokens[0] / tokens[1]),
                "decisions_per_s_all_healthy": round(healthy[0] / healthy[1]),
                "mean_candidates": round(degraded[2] / degraded[0], 2),
                "compile_ms": round(compile_ms, 1),
            }
        )
    )


def _measure(
    requests: list[RouteRequest], table: RoutingTable, snapshot: Snapshot, seconds: float
) -> tuple[int, float, int]:
    """Route `requests` over and over for `seconds`: (decisions, elapsed, candidates)."""
    decisions = candidates = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for request in requests:
            candidates += len(route(request, table, snapshot))
        decisions += len(requests)
    return decisions, time.perf_counter() - started, candidates


if __name__ == "__main__":
    main()
