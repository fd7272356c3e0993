"""Audience expansion alone, in one process: a CSV through `load_csv` into a campaign's
`scheduled` messages (parse, E.164, zones, render, segments, staging, `INSERT … SELECT`), with
no HTTP and no other process, so a profiler sees every recipient's microseconds.

    .venv/bin/python bench/campaign_expansion.py [--recipients 200000] [--postgres]

Prints recipients/s (wall), this process's CPU µs per recipient and (PostgreSQL) the server's,
then one JSON object. `bench/campaign.py` measures the same load through the API.
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.campaign_streams import QUEUE_CHUNKS, UPLOAD_CHUNK, load_csv  # noqa: E402
from bench.campaign import print_figures, write_audience  # noqa: E402
from bench.cpu import cpu_delta, cpu_seconds, postmaster_pid  # noqa: E402
from campaigns import Template  # noqa: E402
from store import CampaignStore, MessageStore, NewCampaign, make_engine, new_id, upgrade  # noqa: E402
from switchboard.embedded import start_postgres  # noqa: E402

TEMPLATE = "Hi {{first_name}}, 20% off in {{city}} today"


def _feed(path: Path, chunks: queue.Queue[bytes]) -> None:
    with path.open("rb") as f:
        while chunk := f.read(UPLOAD_CHUNK):
            chunks.put(chunk)
    chunks.put(b"")


def _wal(engine: Engine) -> dict[str, int]:
    """PostgreSQL's WAL position (bytes) and its checkpoints so far."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT pg_current_wal_lsn() - '0/0', checkpoints_timed + checkpoints_req"
                " FROM pg_stat_bgwriter"
            )
        ).one()
    return {"wal_bytes": int(row[0]), "checkpoints": int(row[1])}


def _setting(text: str) -> tuple[str, str]:
    """`--pg-setting NAME=VALUE` as (name, value)."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def main() -> None:
    """Write the CSV, load it, print the figures (the last line JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="a postgresql.conf line for the throwaway cluster (repeatable)",
    )
    args = parser.parse_args()
    settings = dict(args.pg_setting)
    cluster = start_postgres(settings) if args.postgres else None
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-bench-expansion-") as tmp:
            directory = Path(tmp)
            url = cluster.create_database("x") if cluster else f"sqlite:///{directory / 'x.db'}"
            upgrade(url)
            engine = make_engine(url)
            now = datetime.now(UTC)
            account = MessageStore(engine).ensure_account("bench", now)
            store = CampaignStore(engine)
            campaign_id = new_id()
            store.create(
                NewCampaign(
                    campaign_id,
                    account,
                    "bench",
                    "Bench",
                    TEMPLATE,
                    "marketing",
                    now,
                    None,
                    None,
                    86_400,
                    now,
                )
            )
            audience = directory / "audience.csv"
            expected, opt_outs = write_audience(audience, args.recipients)
            expected += len(opt_outs)  # none opted out here
            roots = {}
            if cluster is not None:
                roots[postmaster_pid(cluster.directory / "data")] = "postgres"
            chunks: queue.Queue[bytes] = queue.Queue(maxsize=QUEUE_CHUNKS)
            feeder = threading.Thread(target=_feed, args=(audience, chunks), daemon=True)
            wal_before = _wal(engine) if cluster else {}
            cpu_before, self_before = cpu_seconds(roots), time.process_time()
            started = time.perf_counter()
            feeder.start()
            load = store.audience_load(campaign_id, now)
            load.open(account)
            totals = load_csv(load, Template.parse(TEMPLATE), chunks)
            seconds = time.perf_counter() - started
            own_cpu = time.process_time() - self_before
            pg_cpu = cpu_delta(cpu_before, cpu_seconds(roots)).get("postgres", 0.0)
            wal = {k: v - wal_before[k] for k, v in _wal(engine).items()} if cluster else {}
            assert totals.recipients == expected, (totals.recipients, expected)
            figures = {
                "database": "postgresql" if cluster else "sqlite",
                "recipients": totals.recipients,
                "seconds": round(seconds, 2),
                "recipients_per_s": round(totals.recipients / seconds),
                "python_cpu_us_per_recipient": round(own_cpu / totals.recipients * 1e6, 1),
                "postgres_cpu_us_per_recipient": round(pg_cpu / totals.recipients * 1e6, 1),
                "recipients_per_python_cpu_s": round(totals.recipients / own_cpu),
            }
            if wal:
                n = totals.recipients
                figures["wal_bytes_per_recipient"] = round(wal["wal_bytes"] / n)
                figures["checkpoints"] = wal["checkpoints"]
    finally:
        if cluster is not None:
            cluster.stop()
    print_figures(figures)


if __name__ == "__main__":
    main()
