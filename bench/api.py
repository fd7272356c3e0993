"""API benchmark: GET by id, list pages, single POST and batch POST per second, per backend.

Starts an embedded Redis, a SQLite file (or with `--postgres` a throwaway PostgreSQL 15), seeds
`--seed` messages (half with an attempt and a part, as sent messages have), then for each API
process count in `--processes` runs `switchboard api` and drives it with `bench/rawhttp.py`
(a lean keep-alive client on this machine's same two cores) for `--seconds` per phase:

- `get`: `GET /v1/messages/{id}` for random existing ids, `--connections` clients;
- `list`: `GET /v1/messages?limit=100`, each client paging on with `next_cursor`;
- `post`: single `POST /v1/messages`;
- `batch`: `POST /v1/messages/batch` with 1,000 messages per request, 4 clients.

No workers run: accepted messages stay `queued` (their send tasks wait in Redis). CPU seconds of
the API processes, PostgreSQL, Redis and of this load generator are printed per phase, so each
figure says what bounded it. `--profile DIR` records the first API process with py-spy during
`get` and prints where its busy time went. The last line is one JSON object.

    .venv/bin/python bench/api.py [--postgres] [--processes 1,2] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_delta  # noqa: E402
from bench.pyspy import read_profile  # noqa: E402
from bench.rawhttp import LoadFigures, NextRequest, build_request, run_load  # noqa: E402
from store import (  # noqa: E402
    AttemptResult,
    MessageStore,
    NewMessage,
    SendOutcome,
    make_engine,
    new_id,
    upgrade,
)
from switchboard.embedded import free_port, start_postgres, start_redis, wait_for_port  # noqa: E402
from switchboard.load import generated_messages, percentile  # noqa: E402
from switchboard.processes import ProcessGroup  # noqa: E402
from switchboard.stack import random_secrets_env  # noqa: E402

PHASES = ("get", "list", "post", "batch")
_TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu(api_session: int, redis_pid: int, postmaster_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of our processes only (the machine is shared: other PostgreSQL and
    Redis servers run on it): the API session, our redis-server, our postmaster and its
    backends, and this load generator."""
    totals = {"api": 0.0, "redis": 0.0, "postgres": 0.0}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            raw = (pid_dir / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        pid, ppid, session = int(pid_dir.name), int(fields[1]), int(fields[3])
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS
        if session == api_session:
            totals["api"] += seconds
        elif pid == redis_pid:
            totals["redis"] += seconds
        elif postmaster_pid is not None and postmaster_pid in (pid, ppid):
            totals["postgres"] += seconds
    own = resource.getrusage(resource.RUSAGE_SELF)
    totals["load"] = own.ru_utime + own.ru_stime
    # every process on the machine (the other tenants too): /proc/stat's busy time
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    totals["machine"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICKS
    return totals


def seed(store: MessageStore, account_id: str, count: int) -> list[str]:
    """`count` queued messages; every other one sent, with one attempt and one part."""
    now = datetime.now(UTC)
    ids: list[str] = []
    bodies = generated_messages(count, seed=11)
    for start in range(0, count, 1000):
        rows = [
            NewMessage(
                new_id(),
                account_id,
                b["to"],
                b["from"],
                b["body"],
                b["class"],
                "gsm7",
                1,
                None,
                now - timedelta(seconds=count - i),
                now + timedelta(days=1),
            )
            for i, b in enumerate(bodies[start : start + 1000], start)
        ]
        store.insert_messages(rows)
        ids += [r.id for r in rows]
        sent = [
            SendOutcome(
                r.id,
                (AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, (r.id,)),),
                "sent",
            )
            for r in rows[::2]
        ]
        store.claim([o.message_id for o in sent], now)
        store.record_outcomes(sent, now)
    return ids


def phase_requests(phase: str, host: str, key: str, ids: list[str]) -> Callable[[int], NextRequest]:
    """Per connection, the function that makes its next request."""
    rng = random.Random(5)
    get_requests = [build_request("GET", f"/v1/messages/{i}", host, key) for i in ids]
    singles = [
        build_request("POST", "/v1/messages", host, key, json.dumps(b).encode())
        for b in generated_messages(200, seed=3)
    ]
    batch = build_request(
        "POST",
        "/v1/messages/batch",
        host,
        key,
        json.dumps({"messages": generated_messages(1000, seed=4)}).encode(),
    )
    first_page = build_request("GET", "/v1/messages?limit=100", host, key)

    def per_connection(_index: int) -> NextRequest:
        def get(_previous: tuple[int, bytes] | None) -> bytes:
            return rng.choice(get_requests)

        def post(_previous: tuple[int, bytes] | None) -> bytes:
            return rng.choice(singles)

        def post_batch(_previous: tuple[int, bytes] | None) -> bytes:
            return batch

        def page(previous: tuple[int, bytes] | None) -> bytes:
            if previous is None or previous[0] != 200:
                return first_page
            data = json.loads(previous[1])
            if not data.get("has_more"):
                return first_page
            path = f"/v1/messages?limit=100&cursor={data['next_cursor']}"
            return build_request("GET", path, host, key)

        return {"get": get, "post": post, "batch": post_batch, "list": page}[phase]

    return per_connection


def run_phase(
    phase: str, port: int, key: str, ids: list[str], connections: int, seconds: float
) -> LoadFigures:
    """One timed phase against 127.0.0.1:`port`."""
    host = f"127.0.0.1:{port}"
    make = phase_requests(phase, host, key, ids)
    conns = 4 if phase == "batch" else connections
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    figures: LoadFigures = runner(run_load("127.0.0.1", port, conns, make, seconds))
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL 15")
    parser.add_argument("--processes", default="1,2", help="API process counts to measure")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive clients")
    parser.add_argument("--seed", type=int, default=20_000, help="messages stored before")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--profile", type=Path, help="py-spy the first API process during get")
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    results: dict[str, Any] = {"database": "postgresql" if args.postgres else "sqlite"}
    cluster = start_postgres() if args.postgres else None
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-api-") as tmp:
        var = Path(tmp)
        redis = start_redis(var / "redis", persist=False)
        try:
            url = cluster.create_database("bench_api") if cluster else f"sqlite:///{var}/api.db"
            upgrade(url)
            store = MessageStore(make_engine(url))
            key = store.create_api_key("bench", datetime.now(UTC))
            account = store.ensure_account("bench", datetime.now(UTC))
            store.create_api_key("other", datetime.now(UTC))
            ids = seed(store, account, args.seed)
            postmaster = None
            if cluster:
                pid_file = cluster.directory / "data" / "postmaster.pid"
                postmaster = int(pid_file.read_text().split()[0])
            cpu = partial(own_cpu, redis_pid=redis.process.pid, postmaster_pid=postmaster)
            env = {
                "SWITCHBOARD_VAR_DIR": str(var),
                "SWITCHBOARD_DATABASE_URL": url,
                "SWITCHBOARD_REDIS_URL": redis.url,
                **random_secrets_env(),
            }
            for count in [int(n) for n in args.processes.split(",")]:
                results[f"processes_{count}"] = measure(
                    count, env, var, key, ids, phases, args, cpu
                )
            store.engine.dispose()
        finally:
            redis.stop()
            if cluster:
                cluster.stop()
    print(json.dumps(results))


def measure(
    count: int,
    env: dict[str, str],
    var: Path,
    key: str,
    ids: list[str],
    phases: list[str],
    args: argparse.Namespace,
    cpu: Callable[[int], dict[str, float]],
) -> dict[str, Any]:
    """Every phase against `count` API processes."""
    seconds: float = args.seconds
    connections: int = args.connections
    profile: Path | None = args.profile
    port = free_port()
    out: dict[str, Any] = {}
    with ProcessGroup(var / f"logs-{count}", env) as group:
        extra = ["--processes", str(count)] if count > 1 else []
        api = group.python("api", "switchboard", "api", "--port", str(port), *extra)
        wait_for_port(port, timeout=30)
        run_phase("get", port, key, ids, connections, 1.0)  # warm: keys cached, pools open
        for phase in phases:
            spy = None
            raw = (profile or var) / f"get-{count}.txt"
            if profile is not None and phase == "get":
                profile.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(  # noqa: S603
                    [
                        *(str(Path(sys.executable).parent / "py-spy"), "record"),
                        *("--format", "raw", "--pid", str(api.pid), "--subprocesses"),
                        *("--rate", "250", "--duration", str(int(seconds)), "--nonblocking"),
                        *("-o", str(raw)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            before = cpu(api.pid)
            figures = run_phase(phase, port, key, ids, connections, seconds)
            spent = cpu_delta(before, cpu(api.pid))
            out[phase] = summarise(phase, figures, spent)
            if spy is not None:
                spy.wait(timeout=seconds + 30)
                top = read_profile(raw)
                out[phase]["profile_top"] = top.top(12)
            print(f"{count} process(es) {phase}: {out[phase]}", file=sys.stderr)
    return out


def summarise(phase: str, figures: LoadFigures, spent: dict[str, float]) -> dict[str, Any]:
    """Requests (and messages) per second, latency, CPU share per family."""
    per_request = 1000 if phase == "batch" else 1
    ok = sum(n for status, n in figures.statuses.items() if status < 300)
    p50 = percentile(figures.latencies, 50)
    p99 = percentile(figures.latencies, 99)
    ours = sum(v for k, v in spent.items() if k != "machine")
    spent = {**spent, "others": max(0.0, spent.get("machine", 0.0) - ours)}
    return {
        "requests_per_s": round(figures.per_second, 1),
        "messages_per_s": round(ok * per_request / figures.seconds, 1) if per_request > 1 else None,
        "statuses": dict(figures.statuses),
        "p50_ms": round(p50 * 1000, 2) if p50 is not None else None,
        "p99_ms": round(p99 * 1000, 2) if p99 is not None else None,
        # CPU cores busy on average over the phase: 2.0 is the whole machine; `others` is what
        # processes not ours took (the machine is shared), `machine` all of it
        "cores": {k: round(v / figures.seconds, 2) for k, v in sorted(spent.items()) if v},
    }


if __name__ == "__main__":
    main()
