"""Receipt writes alone: receipts/s through `MessageStore.apply_receipts` by batch size.

Sets up N sent messages (one part each) in a throwaway PostgreSQL (or SQLite with --sqlite),
then applies one delivered receipt per message in batches of each size given, timing wall
clock, client CPU (this process) and server CPU (PostgreSQL backends) per receipt. One
writer, as one send-worker process's receipt forwarder is; the last line is JSON.

    .venv/bin/python bench/receipts.py [--messages 20000] [--batches 10,50,200] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_seconds, postmaster_pid  # noqa: E402
from store import (  # noqa: E402
    AttemptResult,
    MessageStore,
    NewMessage,
    ReceiptRecord,
    SendOutcome,
    make_engine,
    new_id,
    upgrade,
)
from switchboard.embedded import start_postgres  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sent(store: MessageStore, count: int, tag: str) -> list[str]:
    """`count` messages sent on carrier alpha; returns their carrier message ids."""
    account = store.ensure_account("bench", NOW)
    cmids: list[str] = []
    for start in range(0, count, 500):
        rows = [
            NewMessage(
                new_id(),
                account,
                "+447700900123",
                "Bench",
                "hello",
                "marketing",
                "gsm7",
                1,
                None,
                NOW,
                NOW + timedelta(hours=1),
            )
            for _ in range(min(500, count - start))
        ]
        store.insert_messages(rows)
        store.claim([r.id for r in rows], NOW)
        outcomes = []
        for r in rows:
            cmid = f"{tag}{len(cmids):08x}"
            cmids.append(cmid)
            attempt = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, (cmid,))
            outcomes.append(SendOutcome(r.id, (attempt,), "sent"))
        store.record_outcomes(outcomes, NOW)
    return cmids


def run(
    store: MessageStore, messages: int, batch: int, tag: str, server: dict[int, str]
) -> dict[str, float]:
    """Apply one receipt per message in batches of `batch`; figures per receipt."""
    cmids = _sent(store, messages, tag)
    receipts = [ReceiptRecord("alpha", (c,), "delivered", "", NOW) for c in cmids]
    cpu_before, wall, client = cpu_seconds(server), time.perf_counter(), time.process_time()
    for start in range(0, len(receipts), batch):
        store.apply_receipts(receipts[start : start + batch], NOW, park_unmatched=True)
    wall, client = time.perf_counter() - wall, time.process_time() - client
    spent = cpu_seconds(server).get("server", 0.0) - cpu_before.get("server", 0.0)
    return {
        "batch": batch,
        "receipts_per_s": round(messages / wall),
        "batch_ms": round(wall / (messages / batch) * 1000, 2),
        "client_us_per_receipt": round(client / messages * 1e6, 1),
        "server_us_per_receipt": round(spent / messages * 1e6, 1),
    }


def main() -> None:
    """Print one line per batch size, then JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batches", default="10,50,200")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    cluster = None if args.sqlite else start_postgres()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if cluster is None else cluster.create_database("rx")
        try:
            upgrade(url)
            store = MessageStore(make_engine(url))
            server = (
                {} if cluster is None else {postmaster_pid(cluster.directory / "data"): "server"}
            )
            results = []
            for i, batch in enumerate(int(b) for b in args.batches.split(",")):
                figures = run(store, args.messages, batch, f"b{i}", server)
                print(figures, file=sys.stderr)
                results.append(figures)
            store.engine.dispose()
        finally:
            if cluster is not None:
                cluster.stop()
    print(json.dumps({"database": "sqlite" if cluster is None else "postgresql", "runs": results}))


if __name__ == "__main__":
    main()
