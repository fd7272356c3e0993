"""SMPP client throughput: submit_sm/s through one SmppSession against the simulator.

For each window size (default 1, 10, 50) it binds one session to a simulated carrier with no
MPS limit and no receipts (the simulator runs in its own process, `python -m simulators`,
so the two do not share a GIL), submits `--messages` parts as fast as the window allows and waits
for every submit_sm_resp. With `--latency-ms` the carrier answers each submit that much later,
which shows what the window buys on a real link. Prints one line per window; the last line is
JSON: {"window_<n>": submits_per_s, ...}.

    .venv/bin/python bench/smpp_client.py [--messages 5000] [--windows 1,10,50] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from carriers import Endpoint, SmppSession, SubmitPart  # noqa: E402
from switchboard.embedded import free_port, wait_for_port  # noqa: E402

PART = SubmitPart("Acme", "+447700900123", b"Your code is 123456", 0)


def run(port: int, window: int, messages: int) -> float:
    """Submits per second through one session with `window` in flight."""
    endpoint = Endpoint("bench", "127.0.0.1", port, "bench", "benchpw")
    with SmppSession(endpoint, window=window, response_timeout=30.0) as session:
        for _ in range(min(messages, 200)):  # warm-up: connection, code paths
            session.submit(PART)
        started = time.perf_counter()
        futures = [session.submit(PART) for _ in range(messages)]
        for future in futures:
            future.result(timeout=60)
        elapsed = time.perf_counter() - started
    return messages / elapsed


SCENARIO = """
seed = 1
[[carriers]]
name = "bench"
port = {port}
system_id = "bench"
password = "benchpw"
mps = 10000000
receipts = false
submit_latency_ms = {latency}
"""


@contextlib.contextmanager
def simulator_process(latency_ms: float) -> Iterator[int]:
    """`python -m simulators` on a free port; yields the port, stops the process after."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-smpp-") as tmp:
        scenario = Path(tmp) / "simulator.toml"
        scenario.write_text(SCENARIO.format(port=port, latency=latency_ms))
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [sys.executable, "-m", "simulators", "--scenario", str(scenario), "--quiet"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--windows", default="1,10,50")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    windows = [int(w) for w in args.windows.split(",")]
    figures: dict[str, float] = {}
    with simulator_process(args.latency_ms) as port:
        for window in windows:
            rate = run(port, window, args.messages)
            figures[f"window_{window}"] = round(rate, 1)
            print(f"window {window:>3}: {rate:>9.0f} submit_sm/s ({args.messages} parts)")
    figures["latency_ms"] = args.latency_ms
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
