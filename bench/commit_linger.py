"""The API's group commit alone at an offered rate: rows per commit, CPU per row, latency.

Single sends reach `api.GroupCommitter` at `--rate` per second (open loop, one asyncio task
each, as the handlers do), on a throwaway PostgreSQL (or `--sqlite`), for each
`--linger-ms` value in turn, `--rounds` times interleaved. Prints, per run, rows per commit,
this process's CPU per row (the committer thread and the event loop that feeds it), the
PostgreSQL backends' CPU per row, and commit latency p50/p99; the last line is JSON. No HTTP,
no enqueue (the outbox is a no-op): what the linger changes is the number of transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api import GroupCommitter
from store import MessageStore, NewMessage, make_engine, new_id, upgrade
from switchboard.embedded import start_postgres
from switchboard.load import percentile


class _NoOutbox:
    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Nothing: the bench measures the commits."""


def _backend_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to `database` (from /proc)."""
    pids = subprocess.run(  # noqa: S603
        ["pgrep", "-f", f"postgres: .* {database} "],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _offer(committer: GroupCommitter, rows: list[NewMessage], rate: float) -> list[float]:
    start = time.perf_counter()
    latencies: list[float] = []

    async def one(index: int, row: NewMessage) -> None:
        wait = start + index / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        began = time.perf_counter()
        await committer.commit(row)
        latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(one(i, row) for i, row in enumerate(rows)))
    return latencies


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered sends per second")
    parser.add_argument("--messages", type=int, default=5000, help="sends per run")
    parser.add_argument("--linger-ms", type=float, nargs="+", default=[0.0, 2.0, 5.0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    args = parser.parse_args()
    cluster = None if args.sqlite else start_postgres()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        url = cluster.create_database("lingerbench") if cluster else f"sqlite:///{tmp}/l.db"
        upgrade(url)
        store = MessageStore(make_engine(url, pool_size=4))
        now = datetime.now(UTC)
        account = store.ensure_account("acme", now)
        template = NewMessage(
            new_id(),
            account,
            "+447400123456",
            "Acme",
            "hi",
            "marketing",
            "gsm7",
            1,
            None,
            now,
            now + timedelta(hours=1),
        )
        runs: list[dict[str, Any]] = []
        try:
            for _ in range(args.rounds):
                for linger in args.linger_ms:
                    committer = GroupCommitter(store, _NoOutbox(), linger=linger / 1000)
                    rows = [replace(template, id=new_id()) for _ in range(args.messages)]
                    backend, cpu = _backend_cpu("lingerbench"), time.process_time()
                    latencies = asyncio.run(_offer(committer, rows, args.rate))
                    cpu, backend = time.process_time() - cpu, _backend_cpu("lingerbench") - backend
                    committer.close()
                    run = {
                        "linger_ms": linger,
                        "commits": committer.commits,
                        "rows_per_commit": round(committer.rows / max(committer.commits, 1), 2),
                        "process_cpu_us_per_row": round(1e6 * cpu / args.messages, 1),
                        "postgres_cpu_us_per_row": round(1e6 * backend / args.messages, 1),
                        "p50_commit_ms": round(1e3 * (percentile(latencies, 50) or 0.0), 2),
                        "p99_commit_ms": round(1e3 * (percentile(latencies, 99) or 0.0), 2),
                    }
                    runs.append(run)
                    print(" ".join(f"{k} {v}" for k, v in run.items()), flush=True)
        finally:
            store.engine.dispose()
            if cluster is not None:
                cluster.stop()
    print(json.dumps({"rate": args.rate, "messages": args.messages, "runs": runs}))


if __name__ == "__main__":
    main()
