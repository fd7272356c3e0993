"""Each named carrier scenario against the whole gateway: how Switchboard copes.

For every scenario in config/scenarios/{steady,throttled,flaky,outage,quirky_receipts}.toml
this starts a real stack (simulator process playing the scenario, Celery workers, API) with a
routes file whose carriers point at the scenario's ports and promise its MPS, restarts the
scenario's fault timeline, sends `--messages` through the HTTP API, waits for final statuses
(or `--timeout`), and prints the gateway's outcome next to the simulator's `/stats`.
The last line is one JSON object keyed by scenario.

    .venv/bin/python bench/scenarios.py [--messages 3000] [--timeout 90] [--only flaky]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from messaging import FINAL_STATUSES  # noqa: E402
from simulators import Scenario, load_scenario  # noqa: E402
from switchboard.embedded import free_port  # noqa: E402
from switchboard.load import generated_messages, send_all  # noqa: E402
from switchboard.stack import Stack, WorkerSpec  # noqa: E402

SCENARIOS = ("steady", "throttled", "flaky", "outage", "quirky_receipts")
PRICES = """
[prices.alpha]
currency = "EUR"
"+44" = 0.030
"+33" = 0.060
"+49" = 0.055
"+1" = 0.012

[prices.beta]
currency = "EUR"
"+44" = 0.035
"+33" = 0.050
"+49" = 0.060
"+1" = 0.010

[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["alpha", "beta"]
"""
_PORT = re.compile(r"^port = \d+$", re.MULTILINE)
_CONTROL = re.compile(r"^control_port = \d+", re.MULTILINE)


def with_ports(text: str, ports: list[int], control: int) -> str:
    """The scenario text with its carriers' `port =` lines (in order) and control_port fixed."""
    queue = iter(ports)
    text = _PORT.sub(lambda _: f"port = {next(queue)}", text)
    return _CONTROL.sub(f"control_port = {control}", text)


def routes_for(scenario: Scenario) -> str:
    """A routes file promising each carrier's scenario MPS, on its scenario port."""
    blocks = [
        f'[carriers.{c.name}]\nhost = "127.0.0.1"\nport = {c.port}\nsystem_id = "{c.system_id}"\n'
        f'password = "{c.password}"\nmps = {c.mps}\nwindow = 10\n'
        for c in scenario.carriers
    ]
    return "\n".join(blocks) + PRICES


def post(port: int, path: str, body: dict[str, Any]) -> None:
    """POST a JSON body to the simulator's control endpoint."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        response.read()


def run_one(name: str, messages: int, timeout: float, directory: Path) -> dict[str, Any]:
    """Play scenario `name` under the gateway; the gateway's outcome and the simulator's stats."""
    source = (ROOT / "config" / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")
    control = free_port()
    text = with_ports(source, [free_port() for _ in _PORT.findall(source)], control)
    work = directory / name
    work.mkdir()
    (work / "simulator.toml").write_text(text, encoding="utf-8")
    scenario = load_scenario(work / "simulator.toml")
    (work / "routes.toml").write_text(routes_for(scenario), encoding="utf-8")
    stack = Stack(
        var_dir=work / "var",
        routes_file=work / "routes.toml",
        simulator_file=work / "simulator.toml",
        workers=(
            WorkerSpec("worker-send", "otp,transactional,marketing", 2),
            WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True),
        ),
    )
    with stack:
        for carrier in scenario.carriers:  # the fault timeline starts with the traffic
            post(control, "/faults", {"carrier": carrier.name, "restart": True})
        started = time.monotonic()
        result = asyncio.run(send_all(stack.api_url, stack.api_key, generated_messages(messages)))
        finals = {s.value for s in FINAL_STATUSES}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = stack.store.status_counts(result.accepted)
            if sum(n for s, n in counts.items() if s in finals) >= len(result.accepted):
                break
            time.sleep(0.5)
        seconds = time.monotonic() - started
        rows = stack.store.report(result.accepted)
        simulator = stack.simulator_stats()
    statuses = Counter(row[0] for row in rows)
    final = sum(n for s, n in statuses.items() if s in finals)
    gateway = {
        "accepted": len(result.accepted),
        "rejected_by_api": result.rejected,
        "seconds": round(seconds, 1),
        **{s: statuses.get(s, 0) for s in ("delivered", "undelivered", "expired", "failed")},
        "not_final": len(result.accepted) - final,
        "per_carrier": dict(sorted(Counter(row[1] for row in rows if row[1]).items())),
        "other_statuses": {s: n for s, n in statuses.items() if s not in finals},
    }
    return {"gateway": gateway, "simulator": simulator}


def main() -> None:
    """Run every scenario (or `--only` some) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=90.0, help="wait for final statuses")
    parser.add_argument("--only", action="append", choices=SCENARIOS)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="switchboard-scenarios-") as tmp:
        for name in args.only or SCENARIOS:
            results[name] = run_one(name, args.messages, args.timeout, Path(tmp))
            print(f"{name}: gateway {json.dumps(results[name]['gateway'])}", flush=True)
            print(f"{name}: simulator {json.dumps(results[name]['simulator'])}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
