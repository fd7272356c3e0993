"""Campaign benchmark: an N-recipient CSV (100,000; `--million` for 1,000,000) through the
campaign API to the simulated carriers.

Phase 1, load + expansion: `POST /v1/campaigns`, then the CSV streamed by `PUT …/audience`
from the file (parse, E.164, zones, render, COPY into staging, one INSERT … SELECT into
`messages`): recipients per second, and the API process's peak RSS (VmHWM) after it. The CSV
holds US, Indian and UK numbers, 1% duplicates, 0.5% invalid rows and 0.1% opted-out numbers.
Phase 2, sending: start the campaign and measure the sustained rate (the carriers' accepted
`submit_sm` per second over `--send-seconds`, after a `--warmup`) against what the carriers'
MPS allow (their sum). Peak RSS of every process of the stack is printed at the end.

    .venv/bin/python bench/campaign.py [--recipients N | --million] [--sqlite] [--carrier-mps M]
                                       [--max-rate R]

With `--max-rate` the campaign is paced at R per second and the send rate is read against R.
`--spill on|off` writes `spill = true|false` on the marketing route (unset: the route's default,
which spills marketing). The send phase prints the rate as a share of the carriers' MPS (and of
R), each carrier's rate and share of its own MPS, the marketing backlog sampled each second,
the send batches' sizes (from the rows' lease owners), and what bounded the rate: `carriers`
(every carrier within 5% of its MPS), `max_rate`, `release` (the queue ran dry), `routing`
(one carrier at its MPS while another had room), or `send workers` (messages were queued and
every carrier had room).

Prints one line per figure, then one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.cpu import cpu_delta, cpu_seconds, machine_seconds, postmaster_pid  # noqa: E402
from bench.e2e import write_configs  # noqa: E402
from simulators import load_scenario  # noqa: E402
from store import make_engine  # noqa: E402
from switchboard.embedded import start_postgres  # noqa: E402
from switchboard.settings import Settings  # noqa: E402
from switchboard.stack import Stack, WorkerSpec, wait_until  # noqa: E402


def _number(i: int) -> str:
    """The i-th distinct number: New York, San Francisco, India and the UK in turn."""
    k = i // 4
    exchange = 200 + (k // 10_000) % 800
    return (
        f"+1212{exchange}{k % 10_000:04d}",
        f"+1415{exchange}{k % 10_000:04d}",
        f"+9198{k:08d}",
        f"+447400{k:06d}",
    )[i % 4]


def write_audience(path: Path, n: int, seed: int = 7) -> tuple[int, list[str]]:
    """An N-row CSV (to, first_name, city); the expected recipients and numbers to opt out."""
    rng = random.Random(seed)
    unique: set[str] = set()
    opt_outs: list[str] = []
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["to", "first_name", "city"])
        for i in range(n):
            roll = rng.random()
            if roll < 0.005:
                writer.writerow([f"not-a-number-{i}", "X", "Nowhere"])
                continue
            if roll < 0.015 and unique:
                number = next(iter(unique))  # a duplicate
            else:
                number = _number(i)
                unique.add(number)
                if roll > 0.999:
                    opt_outs.append(number)
            writer.writerow([number, f"Name{i}", "Town"])
    return len(unique) - len(opt_outs), opt_outs


def _request(
    stack: Stack, method: str, path: str, body: Any = None, data: Any = None, **headers: str
) -> Any:
    all_headers = {"Authorization": f"Bearer {stack.api_key}", **headers}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
        stack.api_url + path, method=method, data=data, headers=all_headers
    )
    with urllib.request.urlopen(request, timeout=3600) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def peak_rss_mb(pid: int) -> float:
    """The peak resident set (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_peaks(stack: Stack) -> dict[str, float]:
    """Peak RSS of each stack process and its children (Celery pool), by name, in MB."""
    peaks: dict[str, float] = {}
    for name, process in stack.group.processes:
        pids = [process.pid]
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        peaks[name] = round(max(peak_rss_mb(p) for p in pids), 1)
    return peaks


INDIA_PRICE = '"+91" = 0.004      # India: the audience is a quarter Indian\n'


def campaign_configs(
    settings: Settings, directory: Path, carrier_mps: int, spill: bool | None = None
) -> tuple[Path, Path]:
    """`bench.e2e.write_configs` with a price for +91 on alpha (config/routes.toml prices no
    Indian number, so a quarter of the audience would fail `no_route`), and the marketing
    route's `spill` when given."""
    routes_file, simulator_file = write_configs(settings, directory, carrier_mps, 10, 100)
    routes = routes_file.read_text()
    routes = routes.replace("[prices.alpha]\n", "[prices.alpha]\n" + INDIA_PRICE, 1)
    if spill is not None:
        default = 'name = "default"\nstrategy = "least_cost"\n'
        assert default in routes, "the routes file's default route moved"
        routes = routes.replace(default, f"{default}spill = {str(spill).lower()}\n", 1)
    routes_file.write_text(routes)
    return routes_file, simulator_file


def campaign_stack(
    directory: Path, routes_file: Path, simulator_file: Path, database_url: str, send_workers: int
) -> Stack:
    """The bench's stack: API, `send_workers` send processes, a receipts worker with beat,
    1 s sweeps (the release slice), the simulator."""
    return Stack(
        var_dir=directory / "var",
        routes_file=routes_file,
        simulator_file=simulator_file,
        database_url=database_url,
        redis_url=Settings().redis_url,
        workers=(
            WorkerSpec("worker-send", "marketing,otp,transactional", send_workers),
            WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True),
        ),
        extra_env={"SWITCHBOARD_SWEEP_INTERVAL": "1.0"},
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="1,000,000 recipients")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--carrier-mps", type=int, default=500, help="per carrier (2 carriers)")
    parser.add_argument("--send-seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--send-workers", type=int, default=2)
    parser.add_argument("--max-rate", type=float, help="the campaign's max_rate (per second)")
    parser.add_argument(
        "--spill", choices=("on", "off"), help="the marketing route's spill (unset: default)"
    )
    args = parser.parse_args()
    spill = None if args.spill is None else args.spill == "on"
    n = 1_000_000 if args.million else args.recipients
    settings = Settings()
    cluster = None if args.sqlite else start_postgres()
    figures: dict[str, Any] = {"recipients_in_csv": n}
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-bench-campaign-") as tmp:
            directory = Path(tmp)
            database_url = (
                cluster.create_database("bench") if cluster else f"sqlite:///{directory / 'b.db'}"
            )
            routes_file, simulator_file = campaign_configs(
                settings, directory, args.carrier_mps, spill
            )
            audience = directory / "audience.csv"
            expected, opt_outs = write_audience(audience, n)
            figures["csv_mb"] = round(audience.stat().st_size / 1e6, 1)
            stack = campaign_stack(
                directory, routes_file, simulator_file, database_url, args.send_workers
            )
            with stack:
                roots = {p.pid: name for name, p in stack.group.processes}
                if cluster is not None:
                    roots[postmaster_pid(cluster.directory / "data")] = "postgres"
                figures.update(run(stack, args, audience, expected, opt_outs, roots))
                figures.update(batch_sizes(database_url))
            mps = {c.name: c.mps for c in load_scenario(simulator_file).carriers}
            figures.update(send_figures(figures, mps, args.max_rate, args.spill))
            figures["database"] = "sqlite" if args.sqlite else "postgresql"
    finally:
        if cluster is not None:
            cluster.stop()
    print_figures(figures)


def send_figures(
    figures: dict[str, Any], mps: dict[str, int], max_rate: float | None, spill: str | None
) -> dict[str, Any]:
    """The send rate against the carriers' MPS (and `max_rate`), and what bounded it."""
    ceiling = sum(mps.values())
    rate = figures["send_rate_per_s"]
    by_carrier = figures["send_rate_by_carrier"]
    out: dict[str, Any] = {
        "spill": spill or "default",
        "carriers_mps": ceiling,
        "send_rate_share_of_mps": round(rate / ceiling, 3),
        "carrier_share_of_its_mps": {
            n: round(by_carrier.get(n, 0.0) / m, 3) for n, m in mps.items()
        },
    }
    if max_rate is not None:
        out["max_rate"] = max_rate
        out["send_rate_share_of_max_rate"] = round(rate / max_rate, 3)
    shares = out["carrier_share_of_its_mps"]
    full = sorted(n for n, share in shares.items() if share >= 0.95)
    if len(full) == len(shares):
        out["bounded_by"] = "carriers"
    elif max_rate is not None and rate >= 0.95 * max_rate:
        out["bounded_by"] = "max_rate"
    elif figures["queued_min"] == 0:
        out["bounded_by"] = "release (the marketing queue ran dry)"
    elif full:
        idle = ", ".join(sorted(set(shares) - set(full)))
        out["bounded_by"] = f"routing ({', '.join(full)} at its MPS, {idle} had room)"
    else:
        out["bounded_by"] = "send workers (messages queued, every carrier had room)"
    return out


def batch_sizes(database_url: str) -> dict[str, Any]:
    """The send batches' sizes: messages by lease owner (one per claimed batch; a row keeps
    the owner of the batch that sent it last)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            sizes = sorted(
                int(n)
                for (n,) in conn.execute(
                    text(
                        "SELECT count(*) FROM messages WHERE lease_owner IS NOT NULL "
                        "GROUP BY lease_owner"
                    )
                )
            )
    finally:
        engine.dispose()
    if not sizes:
        return {"send_batches": 0}
    return {
        "send_batches": len(sizes),
        "send_batch_mean": round(sum(sizes) / len(sizes), 1),
        "send_batch_median": sizes[len(sizes) // 2],
    }


def print_figures(figures: dict[str, Any]) -> None:
    """One line per figure on stderr, then all of them as one JSON line on stdout."""
    for key, value in figures.items():
        print(f"{key:32s} {value}", file=sys.stderr)
    print(json.dumps(figures))


def _load_bound(api: float, postgres: float, machine: float) -> str:
    """What held the audience load back, from the cores each side kept busy (one GIL in the
    API process, one PostgreSQL backend for the load's one transaction)."""
    cores = os.cpu_count() or 1
    if machine >= 0.9 * cores:
        return f"CPU (the machine {machine:.2f} of {cores} cores busy)"
    if postgres >= 0.9:
        return f"PostgreSQL (the load's one backend {postgres:.2f} of a core)"
    if api >= 0.9:
        return f"the API process (parsing under one GIL, {api:.2f} of a core)"
    return "the hand-off between the parsing thread and the writer (no side kept a core busy)"


def run(
    stack: Stack,
    args: argparse.Namespace,
    audience: Path,
    expected: int,
    opt_outs: list[str],
    roots: dict[int, str],
) -> dict[str, Any]:
    """Both phases on a running stack; their figures."""
    api_pid = next(p.pid for name, p in stack.group.processes if name.startswith("api"))
    for number in opt_outs:
        _request(stack, "POST", "/v1/opt-outs", {"number": number})
    rss_before = peak_rss_mb(api_pid)
    body: dict[str, Any] = {"template": "Hi {{first_name}}, 20% off in {{city}} today"}
    if args.max_rate is not None:
        body["max_rate"] = args.max_rate
    campaign = _request(stack, "POST", "/v1/campaigns", body)
    cid = campaign["id"]
    cpu_before, machine_before = cpu_seconds(roots), machine_seconds()
    started = time.perf_counter()
    with audience.open("rb") as csv_file:
        loaded = _request(
            stack,
            "PUT",
            f"/v1/campaigns/{cid}/audience",
            data=csv_file,
            **{
                "Content-Type": "text/csv",
                "Content-Length": str(os.fstat(csv_file.fileno()).st_size),
            },
        )
    load_seconds = time.perf_counter() - started
    spent = cpu_delta(cpu_before, cpu_seconds(roots))
    busy = (machine_seconds() - machine_before) / load_seconds
    api_cpu, pg_cpu = spent.get("api", 0.0), spent.get("postgres", 0.0)
    figures: dict[str, Any] = {
        "loaded_recipients": loaded["recipients"],
        "expected_recipients": expected,
        "duplicates": loaded["duplicates"],
        "opted_out": loaded["opted_out"],
        "skipped": loaded["skipped"],
        "load_expansion_s": round(load_seconds, 2),
        "load_expansion_recipients_per_s": round(loaded["recipients"] / load_seconds),
        # CPU per recipient during the load: what it costs whatever the machine's other load
        "load_api_cpu_us_per_recipient": round(api_cpu / loaded["recipients"] * 1e6, 1),
        "load_postgres_cpu_us_per_recipient": round(pg_cpu / loaded["recipients"] * 1e6, 1),
        "load_recipients_per_api_cpu_s": round(loaded["recipients"] / api_cpu) if api_cpu else None,
        "load_cores_busy": {
            "api": round(api_cpu / load_seconds, 2),
            "postgres": round(pg_cpu / load_seconds, 2),
            "machine": round(busy, 2),
        },
        "load_bounded_by": _load_bound(api_cpu / load_seconds, pg_cpu / load_seconds, busy),
        "api_rss_before_mb": round(rss_before, 1),
        "api_peak_rss_mb": round(peak_rss_mb(api_pid), 1),
    }
    _request(stack, "POST", f"/v1/campaigns/{cid}/start")

    def accepted() -> dict[str, int]:
        return {n: int(c["submits_accepted"]) for n, c in stack.simulator_stats().items()}

    def counts() -> dict[str, int]:
        return dict(_request(stack, "GET", f"/v1/campaigns/{cid}")["counts"])

    assert wait_until(lambda: sum(accepted().values()) > 0, 60), "nothing reached a carrier"
    time.sleep(args.warmup)
    first, t0 = accepted(), time.perf_counter()
    queued: list[int] = []
    while time.perf_counter() < t0 + args.send_seconds:  # the backlog, once a second
        queued.append(counts().get("queued", 0))
        time.sleep(max(0.0, min(1.0, t0 + args.send_seconds - time.perf_counter())))
    last, t1 = accepted(), time.perf_counter()
    figures["queued_min"] = min(queued)
    figures["queued_mean"] = round(sum(queued) / len(queued))
    per_carrier = {n: round((last[n] - first.get(n, 0)) / (t1 - t0), 1) for n in last}
    figures["send_rate_per_s"] = round(sum(per_carrier.values()), 1)
    # least_cost routes send to the cheaper carrier and spill to the other when its bucket has
    # no token at that instant: the split says which carrier bounded the rate
    figures["send_rate_by_carrier"] = per_carrier
    stats = stack.simulator_stats()
    figures["throttled"] = sum(int(c["throttled"]) for c in stats.values())
    figures["throttled_by_carrier"] = {n: int(c["throttled"]) for n, c in stats.items()}
    shown = _request(stack, "GET", f"/v1/campaigns/{cid}")
    figures["counts_at_end"] = shown["counts"]
    if shown["state"] in ("running", "paused"):  # a small audience may be done already
        _request(stack, "POST", f"/v1/campaigns/{cid}/cancel")
    figures["peak_rss_mb"] = tree_peaks(stack)
    return figures


if __name__ == "__main__":
    main()
