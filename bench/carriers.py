"""Carrier MPS benchmark: how much of one simulated carrier's limit the gateway uses, unthrottled.

For each M in `--mps` (default 50, 200, 1,000) and each way of counting (`strict`: a sliding
1-s window of M with the simulator's default burst; `burst1`: the same window and a bucket of
one token, so two PDUs closer than 1/M are refused), this starts a real stack (API, Celery send
workers, the simulator with its audit trail) with one carrier configured at `mps = M` and
queues `--seconds` x M marketing messages through the HTTP API. From the simulator's audit (one
wall-clock stamp per accepted submit_sm) and `/stats` it prints: the share of M used over the
steady part of the drain (its first second and last half second left out), ESME_RTHROTTLED
answers (and how many came right after the other bind's accepted submit: two workers' streams
meeting), the most submits accepted in any sliding 1-s window, and where the steady part's
time went: gaps under 1/M between accepted submits, seconds lost in stalls (gaps over 3/M) and
the longest gap; `sender_handovers` (accepted submits right after the other bind's: the
turns the send processes took under a lane's tenure), and `pacing_ceiling` /
`margin_cost_of_m` (the share of M `bucket_shape` never asks for). The simulator stamps each
submit with its kernel arrival time. `--keep-audit DIR` writes each run's accepted stamps there.
The routes file declares how the carrier counts (`pacing = "burst1"` for `burst1`, `"window"`
for `strict`); `--pacing auto` leaves it to the default, as an operator who did not say.

The adaptive case (`--adaptive`, M = 200 unless `--adaptive-mps`): the carrier's real limit
drops to M/2 through the simulator's `POST /faults {"carrier", "mps"}` while routes still say M;
printed are the rate accepted 5-10 s after the drop (target within 10% of M/2), the seconds
until a 1-s window carries >= 90% of M again after the limit returns, and the throttles.

Each figure says what bounded it. The last line is one JSON object.

    .venv/bin/python bench/carriers.py [--mps 50 200 1000] [--seconds 8] [--adaptive]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchboard.embedded import free_port  # noqa: E402
from switchboard.load import percentile, send_all  # noqa: E402
from switchboard.settings import Settings  # noqa: E402
from switchboard.stack import Stack, WorkerSpec, wait_until  # noqa: E402
from workers import bucket_shape  # noqa: E402

SIMULATOR = """seed = 42
control_port = {control}
audit_path = "{audit}"

[[carriers]]
name = "alpha"
port = {port}
system_id = "alpha"
password = "alphapw"
max_binds = 64
mps = {mps}
{burst}throttle = "reject"
submit_latency_ms = 0
receipts = false
"""

ROUTES = """[carriers.alpha]
host = "127.0.0.1"
port = {port}
system_id = "alpha"
password = "alphapw"
mps = {mps}
window = {window}

[prices.alpha]
currency = "EUR"
"+44" = 0.030

[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["alpha"]
"""


def max_in_any_window(stamps: list[float], span: float = 1.0) -> int:
    """Most stamps in any half-open window [t, t + span) (sorted input)."""
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def count_between(stamps: list[float], start: float, end: float) -> int:
    """Stamps in [start, end) (sorted input)."""
    return bisect.bisect_left(stamps, end) - bisect.bisect_left(stamps, start)


def steady_share(stamps: list[float], mps: int, after: float = 0.0) -> float:
    """Accepted per second over the steady part of a drain (from 1 s in, or `after` if later,
    to 0.5 s before its end), as a share of `mps`."""
    if len(stamps) < 2:
        return 0.0
    start, end = max(stamps[0] + 1.0, after), stamps[-1] - 0.5
    if end <= start:
        start, end = stamps[0], stamps[-1]
    return count_between(stamps, start, end) / (end - start) / mps


def gap_figures(stamps: list[float], mps: int) -> dict[str, float]:
    """Where the steady part's time went: gaps between accepted submits closer than 1/M
    (a burst-1 carrier refuses those), and the seconds lost in stalls (gaps over 3/M, less
    the one interval each would have had)."""
    start, end = stamps[0] + 1.0 if stamps else 0.0, (stamps[-1] - 0.5) if stamps else 0.0
    steady = [s for s in stamps if start <= s < end]
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    interval = 1.0 / mps
    return {
        "gaps_under_1_over_m": sum(1 for g in gaps if g < interval),
        "stall_seconds": round(sum(g - interval for g in gaps if g > 3 * interval), 3),
        "longest_gap_ms": round(max(gaps, default=0.0) * 1000, 1),
    }


def first_window_at(stamps: list[float], since: float, count: int, step: float = 0.1) -> float:
    """Seconds after `since` until a 1-s window ending then holds >= `count` stamps."""
    at = since + step
    while at <= (stamps[-1] if stamps else since) + step:
        if count_between(stamps, at - 1.0, at) >= count:
            return round(at - since, 1)
        at += step
    return float("inf")


def _marketing(count: int) -> list[dict[str, Any]]:
    return [
        {"to": f"+447700{i:06d}", "from": "Shop", "body": f"Sale {i}", "class": "marketing"}
        for i in range(count)
    ]


def _audit_rows(audit: Path) -> list[dict[str, Any]]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_text().splitlines() if line]


def _otps_into_the_drain(
    stack: Stack, audit: Path, count: int, every: float, sent: dict[str, float]
) -> None:
    """Once the drain has run 1 s, POST `count` OTPs (one every `every` s) to the same
    carrier; `sent[destination]` is the wall time each was accepted."""
    wait_until(lambda: len(_stamps(audit)) > 0, 60, interval=0.05)
    time.sleep(1.0)
    for i in range(count):
        to = f"+44740090{i:04d}"
        body = {"to": to, "from": "Shop", "body": "Your code is 123456", "class": "otp"}
        request = urllib.request.Request(  # noqa: S310 (http to the stack on 127.0.0.1)
            f"{stack.api_url}/v1/messages",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {stack.api_key}",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
        sent[to.lstrip("+")] = time.time()
        time.sleep(every)


def _otp_latencies(audit: Path, sent: dict[str, float]) -> dict[str, Any]:
    """Accepted-to-submit_sm latency of the OTPs sent into the drain (ms)."""
    found: dict[str, float] = {}
    for row in _audit_rows(audit):
        destination = row["destination"].lstrip("+")
        if destination in sent and destination not in found:
            found[destination] = row["ts"]
    ms = sorted((found[d] - sent[d]) * 1000 for d in sent if d in found)
    return {
        "otps": len(sent),
        "otps_submitted": len(ms),
        "otp_p50_ms": round(ms[(len(ms) - 1) // 2], 1) if ms else None,
        "otp_p99_ms": percentile(ms, 99),
        "otp_max_ms": round(ms[-1], 1) if ms else None,
    }


def _post(port: int, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        response.read()


def _stamps(audit: Path) -> list[float]:
    if not audit.exists():
        return []
    return sorted(json.loads(line)["ts"] for line in audit.read_text().splitlines() if line)


def _stack(
    directory: Path, mps: int, burst: int | None, args: argparse.Namespace
) -> tuple[Stack, Path, int]:
    port, control = free_port(), free_port()
    audit = directory / "audit.jsonl"
    burst_line = f"burst = {burst}\n" if burst is not None else ""
    (directory / "simulator.toml").write_text(
        SIMULATOR.format(control=control, audit=audit, port=port, mps=mps, burst=burst_line)
    )
    pacing = "auto" if args.pacing == "auto" else ("burst1" if burst == 1 else "window")
    routes = ROUTES.format(port=port, mps=mps, window=args.window)  # bench/hostile.py's too
    routes = routes.replace("\n[prices.alpha]", f'pacing = "{pacing}"\n\n[prices.alpha]', 1)
    (directory / "routes.toml").write_text(routes)
    stack = Stack(
        var_dir=directory / "var",
        routes_file=directory / "routes.toml",
        simulator_file=directory / "simulator.toml",
        redis_url=Settings().redis_url,
        workers=_workers(args),
    )
    return stack, audit, control


def _workers(args: argparse.Namespace) -> tuple[WorkerSpec, ...]:
    """The send workers: one for every queue, or (`--otp-worker`) OTP and transactional on a
    worker of their own, as the stack deploys them (`switchboard.stack.DEFAULT_WORKERS`), so
    an OTP never waits for a process busy with a marketing batch."""
    receipts = WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True)
    if not args.otp_worker:
        return (
            WorkerSpec("worker-send", "otp,transactional,marketing", args.send_workers),
            receipts,
        )
    return (
        WorkerSpec("worker-send", "marketing", args.send_workers),
        WorkerSpec("worker-otp", "otp,transactional", 1),
        receipts,
    )


def _binds(args: argparse.Namespace) -> int:
    """Binds to wait for before the drain: one per send process (and the OTP worker's)."""
    return int(args.send_workers) + (1 if args.otp_worker else 0)


def _post_batches(stack: Stack, bodies: list[dict[str, Any]], batch: int) -> int:
    """POST `bodies` `batch` at a time to `/v1/messages/batch`; how many were accepted."""
    accepted = 0
    for start in range(0, len(bodies), batch):
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
            f"{stack.api_url}/v1/messages/batch",
            data=json.dumps({"messages": bodies[start : start + batch]}).encode(),
            headers={
                "Authorization": f"Bearer {stack.api_key}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            accepted += sum(1 for item in json.load(answer)["messages"] if "id" in item)
    return accepted


def _drain(
    stack: Stack, audit: Path, messages: int, timeout: float, batch: int = 1
) -> tuple[list[float], float]:
    """Queue `messages` through the API (single POSTs, 64 in flight; or `batch` per batch
    request); the accepted submits' stamps and when the API had accepted the last message
    (wall clock)."""
    bodies = _marketing(messages)
    if batch > 1:
        accepted = _post_batches(stack, bodies, batch)
    else:
        accepted = len(asyncio.run(send_all(stack.api_url, stack.api_key, bodies, 64)).accepted)
    accepted_by = time.time()
    wait_until(lambda: len(_stamps(audit)) >= accepted, timeout, interval=0.5)
    time.sleep(1.0)  # the audit is flushed every 0.5 s
    return _stamps(audit), accepted_by


def run_fixed(mps: int, counting: str, args: argparse.Namespace) -> dict[str, Any]:
    """One carrier at `mps`, counted strictly (`strict`) or with a bucket of one (`burst1`)."""
    with tempfile.TemporaryDirectory(prefix="switchboard-carriers-") as tmp:
        stack, audit, _ = _stack(Path(tmp), mps, 1 if counting == "burst1" else None, args)
        with stack:
            wait_until(lambda: stack.simulator_stats()["alpha"]["binds"] >= _binds(args), 20)
            otp_sent: dict[str, float] = {}
            otp_thread = threading.Thread(
                target=_otps_into_the_drain,
                args=(stack, audit, args.otps, args.otp_every, otp_sent),
                daemon=True,
            )
            if args.otps:
                otp_thread.start()
            stamps, accepted_by = _drain(
                stack, audit, int(mps * args.seconds), args.timeout, args.intake_batch
            )
            if args.otps:
                otp_thread.join()
                wait_until(
                    lambda: _otp_latencies(audit, otp_sent)["otps_submitted"] >= len(otp_sent),
                    30,
                    interval=0.5,
                )
                time.sleep(1.0)
                stamps = _stamps(audit)
            otp = _otp_latencies(audit, otp_sent) if args.otps else {}
            stats = stack.simulator_stats()["alpha"]
        if args.keep_audit is not None:
            args.keep_audit.mkdir(parents=True, exist_ok=True)
            (args.keep_audit / f"{mps}-{counting}.json").write_text(json.dumps(stamps))
    share = steady_share(stamps, mps)
    after_intake = steady_share(stamps, mps, after=accepted_by)
    paced, _ = bucket_shape(mps)
    gaps = gap_figures(stamps, mps)
    handovers = int(stats.get("accepted_after_other_bind", 0))
    if share >= paced / mps - 0.01:
        bound = f"our pacing rate ({paced / mps:.1%} of M: bucket_shape's margin for jitter)"
    elif gaps["stall_seconds"] * mps >= 0.5 * (paced - share * mps) * args.seconds:
        bound = "late wake-ups: stalls over 3/M (CPU; the host's other load)"
    else:
        bound = "the gateway below its pacing rate (CPU, round trips, the submit window)"
    return {
        "mps": mps,
        "counting": counting,
        "pacing": args.pacing,
        "intake_batch": args.intake_batch,
        "submitted": len(stamps),
        "share_of_m": round(share, 4),
        # The API ingests the backlog on the same 2 cores during the first seconds.
        "share_of_m_after_intake": round(after_intake, 4),
        "throttled": int(stats["throttled"]),
        # A throttle right after another bind's accepted submit: the two senders' streams met.
        "throttled_after_other_bind": int(stats.get("throttled_after_other_bind", 0)),
        # Throttles stamped at the very time of the accepted submit before them: TCP coalesced
        # the two while the simulator was not reading (its lateness; spacing unknown).
        "throttled_same_stamp": int(stats.get("throttled_same_stamp", 0)),
        # How long after the last accepted submit the first and last throttled one came (µs).
        "throttle_gaps_us": [
            int(stats.get("first_throttle_gap_us", -1)),
            int(stats.get("last_throttle_gap_us", -1)),
        ],
        "max_any_1s_window": max_in_any_window(stamps),
        **gaps,
        # Turns between the send processes (one holds a lane's tenure at a time): each costs
        # the guard, 1/M + 1 ms, and up to one poll (5 ms) of the waiting process.
        "sender_handovers": handovers,
        # What the safety margin below M costs by design: bucket_shape's rate is
        # 99.5% of (M - C), so at most this share of M is never asked for.
        "pacing_ceiling": round(paced / mps, 4),
        "margin_cost_of_m": round(1 - paced / mps, 4),
        "bound_by": bound,
        # With --otps: OTPs sent into the drain (counted in the share above: they use the
        # carrier's MPS too), accepted-to-submit_sm latency.
        **otp,
    }


def run_adaptive(mps: int, args: argparse.Namespace) -> dict[str, Any]:
    """Configured at `mps`, the carrier's real limit `mps // 2` for 10 s, then `mps` again."""
    low = mps // 2
    with tempfile.TemporaryDirectory(prefix="switchboard-carriers-") as tmp:
        stack, audit, control = _stack(Path(tmp), mps, None, args)
        with stack:
            wait_until(lambda: stack.simulator_stats()["alpha"]["binds"] >= _binds(args), 20)
            marks: dict[str, float] = {}
            throttled_at: dict[str, int] = {}

            def faults() -> None:
                wait_until(lambda: stack.simulator_stats()["alpha"]["submits_accepted"] > 0, 60)
                time.sleep(3.0)
                throttled_at["before"] = int(stack.simulator_stats()["alpha"]["throttled"])
                marks["drop"] = time.time()
                _post(control, "/faults", {"carrier": "alpha", "mps": low})
                time.sleep(10.0)
                throttled_at["low"] = int(stack.simulator_stats()["alpha"]["throttled"])
                marks["restore"] = time.time()
                _post(control, "/faults", {"carrier": "alpha", "mps": mps})

            thread = threading.Thread(target=faults, daemon=True)
            thread.start()
            stamps, _ = _drain(stack, audit, mps * 26, args.timeout)
            thread.join()
            stats = stack.simulator_stats()["alpha"]
    drop, restore = marks["drop"], marks["restore"]
    low_rate = count_between(stamps, drop + 5.0, drop + 10.0) / 5.0
    return {
        "mps": mps,
        "real_limit_low": low,
        "rate_5_to_10s_after_drop": round(low_rate, 1),
        "within_10pct_of_half": abs(low_rate - low) <= 0.1 * low,
        "seconds_to_first_1s_at_90pct_after_restore": first_window_at(
            stamps, restore, int(0.9 * mps)
        ),
        "rate_5_to_10s_after_restore": round(
            count_between(stamps, restore + 5.0, restore + 10.0) / 5.0, 1
        ),
        "throttled_before_drop": throttled_at["before"],
        "throttled_while_low": throttled_at["low"] - throttled_at["before"],
        "throttled_after_restore": int(stats["throttled"]) - throttled_at["low"],
        "bound_by": "AIMD: cut x0.9 per 0.25 s while throttled, +8% of M per second back",
    }


def main() -> None:
    """Run the cases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mps", type=int, nargs="*", default=[50, 200, 1000])
    parser.add_argument("--counting", nargs="*", default=["strict", "burst1"])
    parser.add_argument("--seconds", type=float, default=10.0, help="backlog, in seconds of M")
    parser.add_argument("--send-workers", type=int, default=2)
    parser.add_argument("--window", type=int, default=10, help="submit_sm in flight per bind")
    parser.add_argument(
        "--pacing",
        choices=["declared", "auto"],
        default="declared",
        help='routes.toml pacing: "declared" says how the carrier counts (burst1 / window), '
        '"auto" leaves it to the default',
    )
    parser.add_argument(
        "--otps", type=int, default=0, help="OTPs sent into each drain, 1 s in (class otp)"
    )
    parser.add_argument("--otp-every", type=float, default=0.1, help="seconds between OTPs")
    parser.add_argument(
        "--otp-worker",
        action="store_true",
        help="OTP and transactional on a worker of their own (the stack's layout); else one"
        " worker takes every queue and an OTP waits for a process to end its marketing batch",
    )
    parser.add_argument(
        "--intake-batch",
        type=int,
        default=1,
        help="queue the backlog K messages per POST /v1/messages/batch (1: single POSTs, whose"
        " intake shares the 2 cores with the drain for its first seconds)",
    )
    parser.add_argument("--adaptive", action="store_true")
    parser.add_argument("--adaptive-mps", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--keep-audit", type=Path, default=None, help="write each run's accepted stamps here"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "fixed": [],
        "send_workers": args.send_workers,
        "otp_worker": args.otp_worker,
    }
    for mps in args.mps:
        for counting in args.counting:
            row = run_fixed(mps, counting, args)
            print(row, file=sys.stderr)
            figures["fixed"].append(row)
    if args.adaptive:
        figures["adaptive"] = run_adaptive(args.adaptive_mps, args)
        print(figures["adaptive"], file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
