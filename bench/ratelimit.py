"""Token-bucket throughput against a real redis-server: takes/s single and batched.

Run: `.venv/bin/python bench/ratelimit.py [--url redis://...] [--seconds 2]`. Without `--url`
it starts its own redis-server. Prints one line per figure, the last line JSON:
`single_takes_per_s` (one token per call, one client, sequential round trips),
`single_p50_us` / `single_p99_us` (latency of those calls), `batched_calls_per_s` and
`batched_tokens_per_s` (`partial=True`, `--batch` tokens per call).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `ratelimit` package; put the repository root there instead.
_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "bench":
    sys.path[0] = str(_ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ratelimit import RedisTokenBuckets, limits_client  # noqa: E402
from switchboard.embedded import start_redis  # noqa: E402


def _single(buckets: RedisTokenBuckets, seconds: float) -> tuple[float, float, float]:
    latencies: list[float] = []
    granted = 0
    deadline = time.perf_counter() + seconds
    while (started := time.perf_counter()) < deadline:
        granted += buckets.take("bench-single", rate=1e9, capacity=1e9).granted
        latencies.append(time.perf_counter() - started)
    assert granted == len(latencies), "a bucket this large must grant every take"
    latencies.sort()
    per_s = len(latencies) / seconds
    return per_s, latencies[len(latencies) // 2] * 1e6, latencies[int(len(latencies) * 0.99)] * 1e6


def _batched(buckets: RedisTokenBuckets, seconds: float, batch: int) -> tuple[float, float]:
    calls = tokens = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        tokens += buckets.take(
            "bench-batched", rate=1e9, capacity=1e9, tokens=batch, partial=True
        ).granted
        calls += 1
    return calls / seconds, tokens / seconds


def main() -> None:
    """Measure and print; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="redis URL (default: start a private redis-server)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--batch", type=int, default=50, help="tokens per batched take")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        server = None if opts.url else start_redis(Path(scratch), persist=False)
        url = opts.url or (server.url if server else "")
        client = limits_client(url, timeout=2.0)
        try:
            buckets = RedisTokenBuckets(client, prefix="sb:bench:")
            buckets.take("warm-up", rate=1, capacity=1)
            single, p50, p99 = _single(buckets, opts.seconds)
            calls, tokens = _batched(buckets, opts.seconds, opts.batch)
        finally:
            client.close()
            if server:
                server.stop()

    figures = {
        "single_takes_per_s": round(single),
        "single_p50_us": round(p50, 1),
        "single_p99_us": round(p99, 1),
        "batched_calls_per_s": round(calls),
        "batched_tokens_per_s": round(tokens),
        "batch": opts.batch,
        "failures": buckets.failures,
    }
    for name, value in figures.items():
        print(f"{name:>22}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
