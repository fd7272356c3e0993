"""What the dashboard's campaign panel costs the database: `CampaignStore.live` per tick.

Seeds one account with `--campaigns` running campaigns sharing `--recipients` messages (a mix
of statuses, 200 release zones among the scheduled ones) and some other account's, then times
the one grouped query a tick runs per watched account (median and max of `--repeat` calls;
SQLite file, or with `--postgres` a throwaway PostgreSQL 15, ANALYZEd as in production).

    .venv/bin/python bench/campaign_live.py [--postgres] [--recipients 100000] [--campaigns 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from store import CampaignStore, MessageStore, make_engine, new_id, upgrade  # noqa: E402
from store.models import Campaign, Message  # noqa: E402
from switchboard.embedded import start_postgres  # noqa: E402

STATUSES = ("scheduled",) * 5 + ("queued", "sent", "delivered", "delivered", "undelivered")


def seed(store: MessageStore, account: str, campaigns: int, recipients: int) -> None:
    """`campaigns` running campaigns of `account` with `recipients` messages in all."""
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        for c in range(campaigns):
            cid = new_id()
            share = recipients // campaigns
            conn.execute(
                insert(Campaign).values(
                    id=cid,
                    account_id=account,
                    name=f"campaign {c}",
                    sender="Bench",
                    template="Sale",
                    message_class="marketing",
                    state="running",
                    start_at=now,
                    max_rate=100.0,
                    send_window="09:00-20:00",
                    validity_seconds=86400,
                    zones="",
                    recipients=share,
                    created_at=now,
                    updated_at=now,
                )
            )
            rows = [
                {
                    "id": new_id(),
                    "account_id": account,
                    "to": f"+1212{n:07d}",
                    "sender": "Bench",
                    "body": "Sale",
                    "message_class": "marketing",
                    "encoding": "gsm7",
                    "segments": 1,
                    "status": STATUSES[n % len(STATUSES)],
                    "created_at": now,
                    "updated_at": now,
                    "valid_until": now + timedelta(days=1),
                    "campaign_id": cid,
                    "campaign_line": n + 2,
                    "release_zone": f"Zone/{n % 200}",
                }
                for n in range(share)
            ]
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(Message), rows[start : start + 10_000])


def main() -> None:
    """Seed, time, print (the last line JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    cluster = start_postgres() if args.postgres else None
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-bench-live-") as tmp:
            url = cluster.create_database("live") if cluster else f"sqlite:///{tmp}/live.db"
            upgrade(url)
            store = MessageStore(make_engine(url))
            now = datetime.now(UTC)
            account = store.ensure_account("bench", now)
            seed(store, account, args.campaigns, args.recipients)
            seed(store, store.ensure_account("other", now), 1, args.recipients // 4)
            with store.engine.connect() as conn:  # as autovacuum leaves a table in production
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE" if cluster else "ANALYZE")
                )
            campaigns = CampaignStore(store.engine)
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                live = campaigns.live(account)
                timings.append((time.perf_counter() - started) * 1000)
            assert len(live) == args.campaigns
            figures = {
                "database": "postgresql" if cluster else "sqlite",
                "campaigns": args.campaigns,
                "recipients": args.recipients,
                "live_query_ms_median": round(statistics.median(timings), 2),
                "live_query_ms_max": round(max(timings), 2),
                "us_per_recipient": round(statistics.median(timings) * 1000 / args.recipients, 3),
            }
    finally:
        if cluster:
            cluster.stop()
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
