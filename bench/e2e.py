"""End-to-end benchmark: N messages through the HTTP API to the simulated carriers, receipts on.

Runs the same stack as `switchboard demo` (real API processes, Celery workers, simulator, Redis,
SQLite or `--postgres`), with the configured routes and simulator rewritten to free ports and to
`--carrier-mps` per carrier (default 2 x 10,000: the carriers are never what bounds the run; their
ceiling is printed beside the result). Messages go in as single `POST /v1/messages` (or
`--batch K` per `POST /v1/messages/batch`) from a lean keep-alive client (`bench/rawhttp.py`),
closed-loop with `--concurrency` requests in flight or open-loop at `--rate` msg/s.

A message is final when the API says so: with `--callbacks`, when its final status callback
reaches a receiver on 127.0.0.1 (its own process); otherwise by its `final_at` in
`GET /v1/messages` pages. Printed: accepted/s, end-to-end msg/s (first POST → last final),
accept → final p50/p99, carrier-side msg/s, GET /v1/messages/{id} per second (a short phase at
the end), lost, throttled, and CPU milliseconds per message for every process family (API, each
worker, simulator, PostgreSQL, Redis, the receiver, and this load generator), with the machine's
busy share and what bounded the run. The last line is one JSON object.

    .venv/bin/python bench/e2e.py --messages 10000 [--postgres] [--callbacks] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.configs import on_free_ports  # noqa: E402
from bench.cpu import cpu_delta, cpu_seconds, machine_seconds, postmaster_pid  # noqa: E402
from bench.rawhttp import Answer, build_request, run_load, send_each  # noqa: E402
from messaging import FINAL_STATUSES  # noqa: E402
from simulators import load_scenario  # noqa: E402
from store.models import Message  # noqa: E402
from store.open_status import OPEN_STATUSES  # noqa: E402
from switchboard.embedded import free_port, start_postgres, wait_for_port  # noqa: E402
from switchboard.load import generated_messages, percentile  # noqa: E402
from switchboard.settings import Settings  # noqa: E402
from switchboard.stack import Stack, WorkerSpec, wait_until  # noqa: E402

FINAL = sorted(s.value for s in FINAL_STATUSES)


def write_configs(
    settings: Settings, directory: Path, mps: int, window: int, receipt_delay_ms: int
) -> tuple[Path, Path]:
    """The configured routes and simulator on free ports, every carrier at `mps` both sides."""
    simulator, routes = on_free_ports(settings)
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
    (directory / "simulator.toml").write_text(simulator)
    (directory / "routes.toml").write_text(routes)
    return directory / "routes.toml", directory / "simulator.toml"


def requests_for(
    bodies: list[dict[str, Any]], host: str, key: str, batch: int
) -> tuple[list[bytes], list[int]]:
    """The request bytes, and how many messages each carries."""
    if batch <= 1:
        return [
            build_request("POST", "/v1/messages", host, key, orjson.dumps(b)) for b in bodies
        ], [1] * len(bodies)
    out, sizes = [], []
    for start in range(0, len(bodies), batch):
        chunk = bodies[start : start + batch]
        body = orjson.dumps({"messages": chunk})
        out.append(build_request("POST", "/v1/messages/batch", host, key, body))
        sizes.append(len(chunk))
    return out, sizes


def accepted_of(answer: Answer, batch: int) -> list[str]:
    """Message ids a 202 answer accepted."""
    if answer.status != 202:
        return []
    data = orjson.loads(answer.body)
    if batch <= 1:
        return [data["id"]]
    return [item["id"] for item in data["messages"] if "id" in item]


def get_json(url: str, key: str | None = None) -> Any:
    """GET a JSON document from 127.0.0.1."""
    request = urllib.request.Request(url)  # noqa: S310 - 127.0.0.1 only
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return orjson.loads(response.read())


def final_times_from_list(stack: Stack, since: str) -> dict[str, float]:
    """Every final message's `final_at` (Unix seconds), read through GET /v1/messages pages."""
    out: dict[str, float] = {}
    cursor = ""
    query = urllib.parse.urlencode({"limit": 1000, "status": ",".join(FINAL), "since": since})
    base = f"{stack.api_url}/v1/messages?{query}"
    while True:
        page = get_json(base + (f"&cursor={cursor}" if cursor else ""), stack.api_key)
        for item in page["messages"]:
            out[item["id"]] = _unix(item["final_at"])
        cursor = page.get("next_cursor") or ""
        if not page["messages"] or not cursor:
            return out


def sent_to_final(stack: Stack) -> list[float]:
    """Seconds from `sent_at` to `final_at` of every delivered message (the database is the
    run's alone)."""
    query = select(Message.sent_at, Message.final_at).where(Message.status == "delivered")
    with stack.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(f - s).total_seconds() for s, f in rows if s is not None and f is not None]


def open_rows(stack: Stack) -> int:
    """Messages not final yet (queued, sending, sent), from the status index."""
    with stack.store.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(Message).where(Message.status.in_(OPEN_STATUSES))
        ).scalar_one()
    return int(count)


def _unix(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def get_rate(stack: Stack, ids: list[str], seconds: float) -> float:
    """GET /v1/messages/{id} per second for random accepted ids, 32 keep-alive clients."""
    host = f"127.0.0.1:{stack.api_port}"
    rng = random.Random(3)
    prebuilt = [build_request("GET", f"/v1/messages/{i}", host, stack.api_key) for i in ids]

    def per_connection(_index: int) -> Any:
        return lambda _previous: rng.choice(prebuilt)

    figures = asyncio.run(run_load("127.0.0.1", stack.api_port, 32, per_connection, seconds))
    return round(figures.per_second)


def _psql(url: str, sql: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def top_statements(stack: Stack, messages: int) -> list[dict[str, Any]]:
    """PostgreSQL's busiest statements (pg_stat_statements): µs of plan + execute per message
    (and of planning alone), and shared buffers touched per call."""
    query = text(
        "SELECT calls, total_plan_time + total_exec_time AS ms, total_plan_time AS plan_ms, rows,"
        " shared_blks_hit + shared_blks_read AS blocks, "
        "regexp_replace(query, '\\s+', ' ', 'g') AS q FROM pg_stat_statements "
        "ORDER BY total_plan_time + total_exec_time DESC LIMIT 30"
    )
    with stack.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "us_per_message": round(r.ms * 1000 / max(1, messages), 1),
            "calls": r.calls,
            "rows": r.rows,
            "plan_us_per_message": round(r.plan_ms * 1000 / max(1, messages), 1),
            "blocks_per_call": round(r.blocks / max(1, r.calls), 1),
            "query": r.q[:110],
        }
        for r in rows
    ]


def interpreter() -> str:
    """Which CPython every process of the run was (they all run `sys.executable`): its build
    changes every CPU figure by a quarter (a shared, non-PGO libpython against Debian's)."""
    with open("/proc/self/maps") as maps:  # Debian ships a libpython but links python3 without
        shared = "shared libpython" if "libpython" in maps.read() else "static libpython"
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return f"{platform.python_version()} {base} ({shared})"


def bound_by(spent: dict[str, float], wall: float, e2e: float, ceiling: int, others: float) -> str:
    """What held the run back, from CPU shares and the carriers' ceiling."""
    busy = (sum(spent.values()) / wall + others) / 2 if wall else 0.0
    if e2e >= 0.9 * ceiling:
        return "carriers' MPS ceiling"
    if busy >= 0.85:
        top = max((k for k in spent if k != "load"), key=lambda k: spent[k])
        shared = f", {others:.2f} cores to other processes" if others >= 0.1 else ""
        return f"CPU: machine {busy:.0%} busy (largest share: {top}{shared})"
    return f"not CPU ({busy:.0%} busy): waiting (locks, round trips, lingers)"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--send-workers", type=int, default=2, help="send worker processes")
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight")
    parser.add_argument("--rate", type=float, default=None, help="offered msg/s (open loop)")
    parser.add_argument("--batch", type=int, default=1, help="messages per POST (batch API)")
    parser.add_argument("--callbacks", action="store_true", help="a callback_url on every one")
    parser.add_argument("--carrier-mps", type=int, default=10_000, help="MPS of each carrier")
    parser.add_argument("--window", type=int, default=64, help="submit_sm in flight per bind")
    parser.add_argument("--receipt-delay-ms", type=int, default=100)
    parser.add_argument("--get-seconds", type=float, default=3.0)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL 15")
    parser.add_argument(
        "--pg-stats", action="store_true", help="with --postgres: the top statements by time"
    )
    args = parser.parse_args()
    settings = Settings()
    stats_settings = {
        "shared_preload_libraries": "pg_stat_statements",
        "pg_stat_statements.track_planning": "on",
    }
    cluster = start_postgres(stats_settings if args.pg_stats else None) if args.postgres else None
    database_url = cluster.create_database("bench") if cluster else settings.database_url
    if cluster is not None and args.pg_stats:
        _psql(database_url, "CREATE EXTENSION pg_stat_statements")
    workers = (
        WorkerSpec("worker-send", "otp,transactional,marketing", args.send_workers),
        WorkerSpec("worker-callbacks", "callbacks,receipts", 4, pool="threads"),
    )
    receiver_port = free_port()
    receiver = None
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
            api_processes=args.api_processes,
        )
        try:
            if args.callbacks:
                receiver = subprocess.Popen(  # noqa: S603
                    [
                        sys.executable,
                        str(ROOT / "bench" / "receiver.py"),
                        "--port",
                        str(receiver_port),
                    ]
                )
                wait_for_port(receiver_port)
            with stack:
                figures = run(stack, args, cluster, receiver, receiver_port)
                if cluster is not None and args.pg_stats:
                    figures["pg_top_statements"] = top_statements(stack, figures["accepted"])
        finally:
            if receiver is not None:
                receiver.kill()
            if cluster:
                cluster.stop()
        carriers = load_scenario(simulator_file).carriers
    ceiling = sum(c.mps for c in carriers)
    figures["carriers_ceiling_msg_per_s"] = ceiling
    figures["database"] = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    figures["python"] = interpreter()
    figures["bound_by"] = bound_by(
        figures.pop("_spent"),
        figures.pop("_wall"),
        figures["end_to_end_msg_per_s"],
        ceiling,
        figures["others_cores"],
    )
    for key, value in figures.items():
        print(f"{key:32s} {value}", file=sys.stderr)
    print(json.dumps(figures))


def run(
    stack: Stack,
    args: argparse.Namespace,
    cluster: Any,
    receiver: subprocess.Popen[bytes] | None,
    receiver_port: int,
) -> dict[str, Any]:
    """Send, wait for every final status, measure; the figures."""
    roots = {p.pid: name for name, p in stack.group.processes}
    if stack.redis_pid is not None:
        roots[stack.redis_pid] = "redis"
    if cluster is not None:
        roots[postmaster_pid(cluster.directory / "data")] = "postgres"
    if receiver is not None:
        roots[receiver.pid] = "receiver"
    bodies = generated_messages(args.messages)
    if receiver is not None:
        for body in bodies:
            body["callback_url"] = f"http://127.0.0.1:{receiver_port}/cb"
    requests, _sizes = requests_for(
        bodies, f"127.0.0.1:{stack.api_port}", stack.api_key, args.batch
    )
    since = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 5))
    accepted_at: dict[str, float] = {}
    errors: dict[int, int] = {}

    def on_answer(answer: Answer) -> None:
        ids = accepted_of(answer, args.batch)
        for message_id in ids:
            accepted_at[message_id] = answer.answered_at
        if not ids:
            errors[answer.status] = errors.get(answer.status, 0) + 1

    before, machine_before = cpu_seconds(roots), machine_seconds()
    concurrency = args.concurrency if args.batch <= 1 else min(args.concurrency, 4)
    answers = asyncio.run(
        send_each("127.0.0.1", stack.api_port, concurrency, requests, args.rate, on_answer)
    )
    first_sent = min(a.sent_at for a in answers)
    accept_seconds = max(a.answered_at for a in answers) - first_sent
    ids = list(accepted_at)
    final_at: dict[str, float] = {}
    if receiver is not None:
        url = f"http://127.0.0.1:{receiver_port}"
        wait_until(lambda: get_json(f"{url}/stats")["final_messages"] >= len(ids), args.timeout)
        for message_id, status, arrived in get_json(f"{url}/events"):
            if status in FINAL and message_id in accepted_at:
                final_at[message_id] = min(arrived, final_at.get(message_id, arrived))
    else:
        # The database is this run's alone: every row open or final is one of `ids`. Counting
        # the open ones reads an index range that shrinks as they finish; counting the final
        # ones among `ids` (as this poll did) read every id each 0.1 s, and at 50,000 ids took
        # more of PostgreSQL's CPU than the pipeline's writes.
        wait_until(lambda: open_rows(stack) == 0, args.timeout, interval=0.1)
    # The pipeline's CPU, up to the last final status: reading the final times back through
    # the list endpoint (below) is the bench's own work.
    spent = cpu_delta(before, cpu_seconds(roots))
    machine = machine_seconds() - machine_before
    if receiver is None:
        final_at = {
            k: v for k, v in final_times_from_list(stack, since).items() if k in accepted_at
        }
    last_final = max(final_at.values(), default=first_sent)
    wall = last_final - first_sent
    receipt_path = sent_to_final(stack)
    latencies = [final_at[i] - accepted_at[i] for i in final_at]
    sim = stack.simulator_stats()
    carriers = [c for c in sim.values() if isinstance(c, dict)]
    submits = sum(int(c.get("submits_accepted", 0)) for c in carriers)
    gets = get_rate(stack, ids, args.get_seconds) if ids and args.get_seconds > 0 else 0
    messages = max(1, len(ids))
    cpu = {k: round(v * 1000 / messages, 3) for k, v in sorted(spent.items())}
    cpu["total"] = round(sum(spent.values()) * 1000 / messages, 3)
    return {
        "messages": args.messages,
        "accepted": len(ids),
        "api_errors_by_status": errors,
        "final": len(final_at),
        "lost": len(ids) - len(final_at),
        "mode": ("batch " + str(args.batch) if args.batch > 1 else "single POST")
        + (", callbacks" if receiver is not None else ", list endpoint"),
        "offered_msg_per_s": args.rate,
        "api_accepted_per_s": round(len(ids) / accept_seconds, 1) if accept_seconds else 0.0,
        "end_to_end_msg_per_s": round(len(final_at) / wall, 1) if wall > 0 else 0.0,
        "carrier_side_msg_per_s": round(submits / wall, 1) if wall > 0 else 0.0,
        "p50_accept_to_final_ms": _ms(percentile(latencies, 50)),
        "p99_accept_to_final_ms": _ms(percentile(latencies, 99)),
        # sent_at is when the worker recorded the carrier's answer; the carrier's receipt
        # comes --receipt-delay-ms after its submit: what is above that is the receipt path.
        "p50_sent_to_final_ms": _ms(percentile(receipt_path, 50)),
        "p99_sent_to_final_ms": _ms(percentile(receipt_path, 99)),
        "get_per_s": gets,
        "carrier_throttled": sum(int(c.get("throttled", 0)) for c in carriers),
        "send_workers": args.send_workers,
        "api_processes": args.api_processes,
        "cpu_ms_per_message": cpu,
        "ours_busy": round(sum(spent.values()) / (2 * wall), 2) if wall > 0 else 0.0,
        # CPU taken by processes not ours while we ran (the machine may be shared), in cores.
        "others_cores": round(max(0.0, machine - sum(spent.values())) / wall, 2) if wall else 0.0,
        "_spent": spent,
        "_wall": wall,
    }


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


if __name__ == "__main__":
    main()
